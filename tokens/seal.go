package tokens

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Secrets at rest. Application intake secrets, webhook secrets and private
// signing keys are kept in the database sealed with a master key that lives
// outside it (a key file or $JITDESK_MASTER_KEY), so a copy of the database
// alone (a backup, a replica, a stolen disk) gives none of them away.

// MasterKey is the 32-byte key that seals secrets at rest. Its text form
// (String, ParseMasterKey) is what goes in the key file and in
// $JITDESK_MASTER_KEY.
type MasterKey [32]byte

// ErrSealBroken is wrapped by Open's error when a sealed value does not
// open: almost always a master key that is not the one this database was
// sealed with, otherwise a value moved to another row or altered.
var ErrSealBroken = errors.New("the master key does not match this database (wrong key file or $JITDESK_MASTER_KEY)")

// SealPrefix begins every sealed value, naming the envelope's version so
// sealed values are recognisable and a later format can coexist.
const SealPrefix = "jds1:"

// sealADPrefix domain-separates the AEAD's associated data, so a jds1
// ciphertext can never be mistaken for one made by some other use of the
// same key.
const sealADPrefix = "jitdesk seal v1\x00"

// maxMasterKeyFile bounds what LoadOrCreateMasterKeyFile reads: the text
// form is 43 characters, and a huge file is certainly not a key.
const maxMasterKeyFile = 1024

// GenerateMasterKey returns a fresh master key from crypto/rand.
func GenerateMasterKey() (MasterKey, error) {
	var k MasterKey
	if _, err := rand.Read(k[:]); err != nil {
		return MasterKey{}, fmt.Errorf("generate master key: %w", err)
	}
	return k, nil
}

// String returns the text form: unpadded base64url, 43 characters. It is
// the secret itself, for writing to the key file; fmt and log output of a
// MasterKey is redacted (see Format) so it is not printed by accident.
func (k MasterKey) String() string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// Format prints a redaction for every verb, so a MasterKey passed to fmt
// or a logger, alone or inside a struct, never shows the key. Call String
// to get the text form deliberately.
func (k MasterKey) Format(f fmt.State, verb rune) { io.WriteString(f, "MasterKey(redacted)") }

// ParseMasterKey reads the text form: base64url or standard base64, padded
// or not, of exactly 32 bytes, with surrounding whitespace ignored. Errors
// never repeat the input, which may be a key.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return MasterKey{}, errors.New("master key is empty: want the base64 text of 32 bytes, as `jitdesk` writes it")
	}
	// Go's decoder skips CR and LF anywhere; a key split across lines is
	// not the text form, so only the two alphabets and padding are allowed.
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_+/=", c) >= 0) {
			return MasterKey{}, fmt.Errorf("master key has a character at offset %d that is not base64: want the base64 text of 32 bytes (43 characters), as `jitdesk` writes it", i)
		}
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		b, err := enc.Strict().DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != len(MasterKey{}) {
			return MasterKey{}, fmt.Errorf("master key decodes to %d bytes, want 32", len(b))
		}
		var k MasterKey
		copy(k[:], b)
		return k, nil
	}
	return MasterKey{}, fmt.Errorf("master key is not base64 (%d characters): want the base64 text of 32 bytes (43 characters), as `jitdesk` writes it", len(s))
}

// LoadOrCreateMasterKeyFile reads the master key from path. The file must
// give no permission to group or others (the fix is in the error). When it
// does not exist and create is true, a new key is generated and written
// there with mode 0600 (created = true). Creation never overwrites: the
// key is written to a temporary file, synced, and then linked into place,
// which fails if path appeared meanwhile (then that file is read instead),
// so the key file is never seen half-written. (On a filesystem without hard
// links it is created with O_EXCL and written in place.)
func LoadOrCreateMasterKeyFile(path string, create bool) (MasterKey, bool, error) {
	k, err := readMasterKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return k, false, err
	}
	k, err = GenerateMasterKey()
	if err != nil {
		return MasterKey{}, false, err
	}
	if err := writeNewKeyFile(path, []byte(k.String()+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs, never replace it.
			k, err := readMasterKeyFile(path)
			return k, false, err
		}
		return MasterKey{}, false, err
	}
	return k, true, nil
}

func readMasterKeyFile(path string) (MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return MasterKey{}, fmt.Errorf("master key file %s does not exist: %w", path, err)
		}
		return MasterKey{}, fmt.Errorf("master key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return MasterKey{}, fmt.Errorf("master key file %s is not a regular file (%s)", path, st.Mode().Type())
	}
	// Windows has no Unix permission bits; its files report 0666.
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return MasterKey{}, fmt.Errorf("master key file %s is accessible to group or others (mode %04o): chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMasterKeyFile+1))
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", path, err)
	}
	if len(b) > maxMasterKeyFile {
		return MasterKey{}, fmt.Errorf("master key file %s is over %d bytes: it is not a key file", path, maxMasterKeyFile)
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

// writeNewKeyFile creates path with data and mode 0600, failing with an
// error wrapping fs.ErrExist if path exists.
func writeNewKeyFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".jitdesk-master-key-*") // O_EXCL, mode 0600
	if err != nil {
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create master key file %s: %w", path, err)
		}
		// A filesystem without hard links: create the name exclusively and
		// write in place, removing it again if the write fails.
		return writeExclusive(path, data)
	}
	// Make the new name durable; a failure here leaves a complete key file.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create master key file %s: %w", path, err)
	}
	return nil
}

// Sealer seals and opens secrets at rest with one master key. It is safe
// for concurrent use.
type Sealer struct {
	aead  cipher.AEAD
	keyID string
}

// NewSealer returns a Sealer for k (XChaCha20-Poly1305).
func NewSealer(k MasterKey) *Sealer {
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		// NewX fails only for a key that is not 32 bytes; MasterKey always is.
		panic(fmt.Sprintf("tokens: chacha20poly1305.NewX: %v", err))
	}
	sum := sha256.Sum256(append([]byte("jitdesk master key id v1\x00"), k[:]...))
	return &Sealer{aead: aead, keyID: hex.EncodeToString(sum[:8])}
}

// KeyID is a short identifier of the master key (16 hex digits), not
// secret, so the store can record which key sealed its values and say so
// when the key given does not match.
func (s *Sealer) KeyID() string { return s.keyID }

// Seal encrypts plaintext, bound to associatedData (the caller passes what
// names the value's place, e.g. "application-secret:app_01…", so a sealed
// value copied to another row does not open there). The result is text:
// SealPrefix then base64url of a random 24-byte nonce and the ciphertext.
func (s *Sealer) Seal(plaintext, associatedData []byte) ([]byte, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	box := s.aead.Seal(nonce, nonce, plaintext, sealAD(associatedData))
	out := make([]byte, 0, len(SealPrefix)+base64.RawURLEncoding.EncodedLen(len(box)))
	out = append(out, SealPrefix...)
	return base64.RawURLEncoding.AppendEncode(out, box), nil
}

// Open decrypts a value Seal made with the same master key and associated
// data. Any mismatch (another key, another row's associated data, an
// altered value) gives an error wrapping ErrSealBroken; a value that is not
// a sealed envelope at all gives a different error.
func (s *Sealer) Open(sealed, associatedData []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(sealed), SealPrefix)
	if !ok {
		return nil, fmt.Errorf("open sealed value: it does not begin with %q: not a sealed value", SealPrefix)
	}
	box, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: the envelope is not base64url: %w", ErrSealBroken)
	}
	if len(box) < chacha20poly1305.NonceSizeX+s.aead.Overhead() {
		return nil, fmt.Errorf("open sealed value: the envelope is truncated (%d bytes): %w", len(box), ErrSealBroken)
	}
	nonce, ct := box[:chacha20poly1305.NonceSizeX], box[chacha20poly1305.NonceSizeX:]
	pt, err := s.aead.Open(nil, nonce, ct, sealAD(associatedData))
	if err != nil {
		return nil, fmt.Errorf("open sealed value (master key %s): %w; or the value was altered or moved from another row", s.keyID, ErrSealBroken)
	}
	return pt, nil
}

func sealAD(ad []byte) []byte {
	return append([]byte(sealADPrefix), ad...)
}

// IsSealed reports whether b is a sealed envelope (by its prefix), so a
// store can tell sealed values from ones written before sealing existed.
func IsSealed(b []byte) bool { return strings.HasPrefix(string(b), SealPrefix) }
