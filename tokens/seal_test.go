package tokens

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func mustMasterKey(t *testing.T) MasterKey {
	t.Helper()
	k, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const rowAD = "application-secret:app_01"

func TestSealedValueOpensWithTheSameKeyAndAD(t *testing.T) {
	s := NewSealer(mustMasterKey(t))
	for _, pt := range [][]byte{[]byte("jds_secret"), {}, bytes.Repeat([]byte{0, 1, 2}, 1000)} {
		sealed, err := s.Seal(pt, []byte(rowAD))
		if err != nil {
			t.Fatal(err)
		}
		if !IsSealed(sealed) || !bytes.HasPrefix(sealed, []byte("jds1:")) {
			t.Fatalf("sealed value %q does not carry the prefix", sealed[:min(10, len(sealed))])
		}
		if len(pt) > 4 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, []byte(rowAD))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("opened %d bytes, %v", len(got), err)
		}
	}
}

func TestSealingTwiceGivesDifferentEnvelopes(t *testing.T) {
	// A random nonce each time: equal secrets in two rows do not look equal.
	s := NewSealer(mustMasterKey(t))
	a, _ := s.Seal([]byte("same"), []byte(rowAD))
	b, _ := s.Seal([]byte("same"), []byte(rowAD))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are identical")
	}
}

func wantSealBroken(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrSealBroken) {
		t.Fatalf("error %v does not wrap ErrSealBroken", err)
	}
	if !strings.Contains(err.Error(), "master key does not match this database") || !strings.Contains(err.Error(), "$JITDESK_MASTER_KEY") {
		t.Fatalf("error %q does not say what to check", err)
	}
}

func TestOpenWithAnotherMasterKeyIsSealBroken(t *testing.T) {
	sealed, _ := NewSealer(mustMasterKey(t)).Seal([]byte("secret"), []byte(rowAD))
	_, err := NewSealer(mustMasterKey(t)).Open(sealed, []byte(rowAD))
	wantSealBroken(t, err)
}

func TestSealedValueMovedToAnotherRowDoesNotOpen(t *testing.T) {
	s := NewSealer(mustMasterKey(t))
	sealed, _ := s.Seal([]byte("secret"), []byte("application-secret:app_01"))
	_, err := s.Open(sealed, []byte("application-secret:app_02"))
	wantSealBroken(t, err)
	_, err = s.Open(sealed, nil)
	wantSealBroken(t, err)
}

func TestTamperedSealedValueDoesNotOpen(t *testing.T) {
	s := NewSealer(mustMasterKey(t))
	sealed, _ := s.Seal([]byte("secret value"), []byte(rowAD))
	box, err := base64.RawURLEncoding.DecodeString(string(sealed[len(SealPrefix):]))
	if err != nil {
		t.Fatal(err)
	}
	for i := range box {
		bad := bytes.Clone(box)
		bad[i] ^= 0x01
		tampered := append([]byte(SealPrefix), base64.RawURLEncoding.EncodeToString(bad)...)
		if _, err := s.Open(tampered, []byte(rowAD)); !errors.Is(err, ErrSealBroken) {
			t.Fatalf("flipping a bit of byte %d: %v", i, err)
		}
	}
	for name, v := range map[string][]byte{
		"truncated":      sealed[:len(sealed)-10],
		"prefix only":    []byte(SealPrefix),
		"not base64":     []byte(SealPrefix + "!!!!"),
		"extra appended": append(bytes.Clone(sealed), 'A', 'A'),
	} {
		if _, err := s.Open(v, []byte(rowAD)); !errors.Is(err, ErrSealBroken) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := s.Open([]byte("plaintext secret"), []byte(rowAD)); err == nil || errors.Is(err, ErrSealBroken) || !strings.Contains(err.Error(), "not a sealed value") {
		t.Fatalf("an unsealed value: %v", err)
	}
	if IsSealed([]byte("plaintext secret")) || IsSealed(nil) {
		t.Fatal("IsSealed on plaintext")
	}
}

func TestKeyIDIdentifiesTheKeyWithoutRevealingIt(t *testing.T) {
	k := mustMasterKey(t)
	a, b := NewSealer(k).KeyID(), NewSealer(k).KeyID()
	other := NewSealer(mustMasterKey(t)).KeyID()
	if a != b || a == other || len(a) != 16 {
		t.Fatalf("key ids %q %q %q", a, b, other)
	}
	if strings.Contains(fmt.Sprintf("%x", k[:]), a) {
		t.Fatal("key id is part of the key")
	}
}

func TestMasterKeyTextFormRoundTripsInEveryAcceptedEncoding(t *testing.T) {
	k := mustMasterKey(t)
	if len(k.String()) != 43 {
		t.Fatalf("text form is %d characters", len(k.String()))
	}
	for name, text := range map[string]string{
		"base64url":          k.String(),
		"padded base64url":   base64.URLEncoding.EncodeToString(k[:]),
		"std base64":         base64.StdEncoding.EncodeToString(k[:]),
		"raw std base64":     base64.RawStdEncoding.EncodeToString(k[:]),
		"with a newline":     k.String() + "\n",
		"in whitespace":      " \t" + k.String() + " \r\n",
		"openssl rand style": base64.StdEncoding.EncodeToString(k[:]) + "\n",
	} {
		got, err := ParseMasterKey(text)
		if err != nil || got != k {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestParseMasterKeyRefusesWhatIsNotA32ByteKey(t *testing.T) {
	k := mustMasterKey(t)
	for name, text := range map[string]string{
		"empty":         "",
		"blank":         "  \n",
		"16 bytes":      base64.RawURLEncoding.EncodeToString(k[:16]),
		"33 bytes":      base64.RawURLEncoding.EncodeToString(append(k[:], 1)),
		"not base64":    "this is not a key, it is a sentence!!!!!!!!",
		"hex":           fmt.Sprintf("%x", k[:]),
		"inner newline": k.String()[:20] + "\n" + k.String()[20:],
	} {
		_, err := ParseMasterKey(text)
		if err == nil {
			t.Fatalf("%s accepted", name)
		}
		if len(text) > 8 && strings.Contains(err.Error(), strings.TrimSpace(text)) {
			t.Fatalf("%s: error echoes the input: %v", name, err)
		}
	}
}

func TestMasterKeyIsRedactedInFmtOutput(t *testing.T) {
	k := mustMasterKey(t)
	text := k.String()
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %+v %#v %x", k, k, k, k, k), fmt.Sprintf("%v", struct{ K MasterKey }{k})} {
		if strings.Contains(out, text) || strings.Contains(out, fmt.Sprintf("%x", k[:4])) {
			t.Fatalf("fmt output shows the key: %q", out)
		}
	}
}

func TestLoadOrCreateMasterKeyFileCreatesOnceAndThenReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, created, err := LoadOrCreateMasterKeyFile(path, true)
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %04o", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateMasterKeyFile(path, true)
	if err != nil || created || k2 != k1 {
		t.Fatalf("second: created %v, same key %v, %v", created, k2 == k1, err)
	}
	k3, created, err := LoadOrCreateMasterKeyFile(path, false)
	if err != nil || created || k3 != k1 {
		t.Fatalf("read only: created %v, same key %v, %v", created, k3 == k1, err)
	}
	b, _ := os.ReadFile(path)
	if got, err := ParseMasterKey(string(b)); err != nil || got != k1 {
		t.Fatalf("file holds %v, %v", got == k1, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestCreatingAMasterKeyFileNeverOverwritesOne(t *testing.T) {
	// Even a file that fails to parse is left alone: it may be the only
	// copy of a key someone mistyped, and replacing it would orphan every
	// value it sealed.
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, created, err := LoadOrCreateMasterKeyFile(path, true)
	if err == nil || created {
		t.Fatalf("created %v, err %v", created, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage\n" {
		t.Fatal("file was overwritten")
	}
	if err := writeNewKeyFile(path, []byte("x")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writing over an existing file: %v", err)
	}
	if err := writeExclusive(path, []byte("x")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over an existing file: %v", err)
	}
}

func TestMissingMasterKeyFileIsAnErrorWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	_, created, err := LoadOrCreateMasterKeyFile(path, false)
	if err == nil || created || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("created %v, err %v", created, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("file created without create")
	}
}

func TestMasterKeyFileReadableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	path := filepath.Join(t.TempDir(), "master.key")
	k := mustMasterKey(t)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o601} {
		if err := os.WriteFile(path, []byte(k.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateMasterKeyFile(path, true)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		if strings.Contains(err.Error(), k.String()) {
			t.Fatal("error shows the key")
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if got, _, err := LoadOrCreateMasterKeyFile(path, false); err != nil || got != k {
		t.Fatalf("mode 0400: %v", err)
	}
}

func TestMasterKeyFileThatIsADirectoryOrHugeIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateMasterKeyFile(dir, true); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	path := filepath.Join(dir, "big.key")
	if err := os.WriteFile(path, bytes.Repeat([]byte("A"), 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateMasterKeyFile(path, false); err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Fatalf("huge file: %v", err)
	}
}
