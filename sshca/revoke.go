package sshca

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // KRLs name keys by SHA-1 fingerprint; matching them is not signing
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Revocations is a set of revoked certificates and keys, read from an OpenSSH
// KRL or a text list by LoadRevocations or ParseRevocations. A nil
// *Revocations revokes nothing. It does not change after loading and is safe
// for concurrent use.
type Revocations struct {
	keys   map[string]bool   // plain public key blobs
	certs  map[string]bool   // whole certificate blobs (text list)
	sha1   map[[20]byte]bool // of plain key blobs
	sha256 map[[32]byte]bool // of plain key blobs
	// byCA holds certificate revocations by CA key blob; "" is any CA (a KRL
	// section with an empty CA key, and every serial and id of a text list).
	byCA map[string]*certRevocations
}

type certRevocations struct {
	serials []uint64 // sorted
	ranges  []serialRange
	bitmaps []serialBitmap
	keyIDs  map[string]bool
}

type serialRange struct{ lo, hi uint64 }

// serialBitmap is a KRL bitmap: bit i (counting from the least significant
// bit of the big-endian bits) revokes serial offset+i.
type serialBitmap struct {
	offset uint64
	bits   []byte
}

func (b serialBitmap) has(serial uint64) bool {
	if serial < b.offset {
		return false
	}
	i := serial - b.offset
	if i/8 >= uint64(len(b.bits)) {
		return false
	}
	return b.bits[uint64(len(b.bits))-1-i/8]&(1<<(i%8)) != 0
}

func (c *certRevocations) revoked(cert *ssh.Certificate) bool {
	if c.keyIDs[cert.KeyId] {
		return true
	}
	// As in OpenSSH, serial 0 means "no serial" and is never revoked by
	// serial.
	s := cert.Serial
	if s == 0 {
		return false
	}
	if _, found := slices.BinarySearch(c.serials, s); found {
		return true
	}
	// ranges are sorted by lo and do not overlap.
	i, _ := slices.BinarySearchFunc(c.ranges, s, func(r serialRange, s uint64) int {
		switch {
		case r.hi < s:
			return -1
		case r.lo > s:
			return 1
		}
		return 0
	})
	if i < len(c.ranges) && c.ranges[i].lo <= s && s <= c.ranges[i].hi {
		return true
	}
	for _, b := range c.bitmaps {
		if b.has(s) {
			return true
		}
	}
	return false
}

// finish sorts what lookups search.
func (c *certRevocations) finish() {
	slices.Sort(c.serials)
	c.serials = slices.Compact(c.serials)
	slices.SortFunc(c.ranges, func(a, b serialRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	merged := c.ranges[:0]
	for _, r := range c.ranges {
		if n := len(merged); n > 0 && r.lo <= merged[n-1].hi {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	c.ranges = merged
}

func newRevocations() *Revocations {
	return &Revocations{
		keys:   map[string]bool{},
		certs:  map[string]bool{},
		sha1:   map[[20]byte]bool{},
		sha256: map[[32]byte]bool{},
		byCA:   map[string]*certRevocations{},
	}
}

func (r *Revocations) ca(blob string) *certRevocations {
	c := r.byCA[blob]
	if c == nil {
		c = &certRevocations{keyIDs: map[string]bool{}}
		r.byCA[blob] = c
	}
	return c
}

func plain(k ssh.PublicKey) ssh.PublicKey {
	if c, ok := k.(*ssh.Certificate); ok {
		return c.Key
	}
	return k
}

func (r *Revocations) keyRevoked(k ssh.PublicKey) bool {
	blob := plain(k).Marshal()
	return r.keys[string(blob)] || r.sha1[sha1.Sum(blob)] || r.sha256[sha256.Sum256(blob)] //nolint:gosec // see import
}

// IsRevoked reports whether key is revoked: a plain key when it (or its
// fingerprint) is listed; a certificate when the certificate itself, its key
// or its CA's key is listed, or its serial or key id is revoked under its CA
// (or under any CA). This follows OpenSSH's ssh_krl_check_key.
func (r *Revocations) IsRevoked(key ssh.PublicKey) bool {
	if r == nil || key == nil {
		return false
	}
	if r.keyRevoked(key) {
		return true
	}
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return false
	}
	if r.certs[string(cert.Marshal())] || r.keyRevoked(cert.SignatureKey) {
		return true
	}
	for _, ca := range []string{string(plain(cert.SignatureKey).Marshal()), ""} {
		if c := r.byCA[ca]; c != nil && c.revoked(cert) {
			return true
		}
	}
	return false
}

// LoadRevocations reads revoked certificates and keys from path: either a
// binary OpenSSH KRL (as `ssh-keygen -k` writes it; see ParseRevocations) or
// a text list. Errors name the file and the line (text) or byte offset (KRL).
func LoadRevocations(path string) (*Revocations, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRevocations(path, data)
}

// krlMagic starts every OpenSSH KRL (PROTOCOL.krl, KRL_MAGIC).
const krlMagic = "SSHKRL\n\x00"

// ParseRevocations parses data read from a file called name (for errors).
//
// A KRL (data starting with "SSHKRL\n\0") is parsed per OpenSSH's
// PROTOCOL.krl, format version 1: certificate sections (serial lists, ranges,
// bitmaps and key ids, under a CA key or under any CA), explicit key sections,
// and SHA-1 and SHA-256 fingerprint sections. Signature sections are parsed
// but not verified: the KRL is the operator's own file. Unknown section
// types are an error, as in OpenSSH, so nothing meant to be revoked is
// silently ignored.
//
// Otherwise data is a text list, one entry a line, '#' comments:
//
//	serial:N         a certificate serial (decimal), under any trusted CA
//	serial:N-M       a range of serials
//	id:KEYID         a certificate key id (the rest of the line)
//	key ssh-ed25519 AAAA…   a public key (also "key:"), or a certificate
//	ssh-ed25519 AAAA…       the same, as a bare authorized_keys line
//	sha256:BASE64    a key's SHA256 fingerprint, "SHA256:…" as ssh-keygen -l prints it
//
// A listed plain key revokes that key and every certificate for it; a listed
// certificate revokes just that certificate.
func ParseRevocations(name string, data []byte) (*Revocations, error) {
	if bytes.HasPrefix(data, []byte(krlMagic)) {
		return parseKRL(name, data)
	}
	return parseTextList(name, data)
}

func parseTextList(name string, data []byte) (*Revocations, error) {
	r := newRevocations()
	anyCA := r.ca("")
	err := eachLine(name, data, func(n int, line string) error {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("sshca: %s:%d: %s", name, n, fmt.Sprintf(format, args...))
		}
		lower := strings.ToLower(line)
		switch {
		case strings.HasPrefix(lower, "serial:"):
			v := strings.TrimSpace(line[len("serial:"):])
			lo, hi, isRange := strings.Cut(v, "-")
			a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
			if err != nil {
				return fail("serial %q is not a number", lo)
			}
			b := a
			if isRange {
				if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64); err != nil {
					return fail("serial %q is not a number", hi)
				}
			}
			if a == 0 || a > b {
				return fail("serial range %d-%d invalid (serial 0 means none)", a, b)
			}
			if a == b {
				anyCA.serials = append(anyCA.serials, a)
			} else {
				anyCA.ranges = append(anyCA.ranges, serialRange{a, b})
			}
		case strings.HasPrefix(lower, "id:"):
			id := strings.TrimSpace(line[len("id:"):])
			if id == "" {
				return fail("empty key id")
			}
			anyCA.keyIDs[id] = true
		case strings.HasPrefix(lower, "sha256:"):
			v := strings.TrimSpace(line[len("sha256:"):])
			if strings.HasPrefix(strings.ToLower(v), "sha256:") {
				v = v[len("sha256:"):]
			}
			sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
			if err != nil || len(sum) != sha256.Size {
				return fail("SHA256 fingerprint %q is not 32 bytes of base64", v)
			}
			r.sha256[[32]byte(sum)] = true
		default:
			text := line
			if strings.HasPrefix(lower, "key:") || strings.HasPrefix(lower, "key ") || strings.HasPrefix(lower, "key\t") {
				text = strings.TrimSpace(line[len("key"):])
				text = strings.TrimSpace(strings.TrimPrefix(text, ":"))
			}
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text))
			if err != nil {
				return fail("not a serial:, id:, sha256: or key entry")
			}
			if _, ok := key.(*ssh.Certificate); ok {
				r.certs[string(key.Marshal())] = true
			} else {
				r.keys[string(key.Marshal())] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	anyCA.finish()
	return r, nil
}

// KRL section types (PROTOCOL.krl).
const (
	krlSectionCertificates   = 1
	krlSectionExplicitKey    = 2
	krlSectionFingerprintSHA = 3
	krlSectionSignature      = 4
	krlSectionFingerprint256 = 5

	krlCertSerialList   = 0x20
	krlCertSerialRange  = 0x21
	krlCertSerialBitmap = 0x22
	krlCertKeyID        = 0x23
)

// maxBitmap is OpenSSH's bound on a bignum (SSHBUF_MAX_BIGNUM, 16384 bits),
// plus the sign byte.
const maxBitmap = 2048 + 1

// krlReader reads SSH wire types from a KRL, remembering the first error.
// It never allocates: strings are sub-slices of the input, and lengths are
// checked against what is left before slicing.
type krlReader struct {
	data []byte
	off  int // of data[0] in the whole file, for errors
	err  error
}

func (r *krlReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *krlReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data) {
		r.fail("%s needs %d bytes, %d left", what, n, len(r.data))
		return nil
	}
	b := r.data[:n]
	r.data, r.off = r.data[n:], r.off+n
	return b
}

func (r *krlReader) u8(what string) byte {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *krlReader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *krlReader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// str reads a length-prefixed string; a length beyond the rest of the input
// is refused before anything is sliced or allocated.
func (r *krlReader) str(what string) []byte {
	n := r.u32(what + " length")
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.data)) {
		r.fail("%s length %d exceeds the %d bytes left", what, n, len(r.data))
		return nil
	}
	return r.take(int(n), what)
}

// sub returns a reader over a section's body, which ends within it.
func (r *krlReader) sub(what string) *krlReader {
	start := r.off + 4
	b := r.str(what)
	return &krlReader{data: b, off: start, err: r.err}
}

func (r *krlReader) more() bool { return r.err == nil && len(r.data) > 0 }

func parseKRL(name string, data []byte) (*Revocations, error) {
	r := newRevocations()
	rd := &krlReader{data: data}
	rd.take(len(krlMagic), "magic")
	if v := rd.u32("format version"); rd.err == nil && v != 1 {
		rd.fail("KRL format version %d, want 1", v)
	}
	rd.u64("krl_version")
	rd.u64("generated_date")
	rd.u64("flags")
	rd.str("reserved")
	rd.str("comment")
	sigSeen := false
	for rd.more() {
		typ := rd.u8("section type")
		if typ == krlSectionSignature {
			// Two strings, not one section body (PROTOCOL.krl section 5).
			sigSeen = true
			parseKeyBlob(rd, rd.str("signature key"), "signature key")
			if sig := rd.str("signature"); rd.err == nil {
				var s ssh.Signature
				if err := ssh.Unmarshal(sig, &s); err != nil {
					rd.fail("malformed signature: %v", err)
				}
			}
			continue
		}
		if sigSeen && rd.err == nil {
			rd.fail("section %d after the signature", typ)
		}
		sec := rd.sub("section")
		switch typ {
		case krlSectionCertificates:
			parseCertSection(r, sec)
		case krlSectionExplicitKey:
			for sec.more() {
				if k := parseKeyBlob(sec, sec.str("public key"), "revoked key"); k != nil {
					r.keys[string(plain(k).Marshal())] = true
				}
			}
		case krlSectionFingerprintSHA:
			for sec.more() {
				if h := sec.str("SHA1 hash"); sec.err == nil {
					if len(h) != sha1.Size {
						sec.fail("SHA1 hash of %d bytes", len(h))
						break
					}
					r.sha1[[20]byte(h)] = true
				}
			}
		case krlSectionFingerprint256:
			for sec.more() {
				if h := sec.str("SHA256 hash"); sec.err == nil {
					if len(h) != sha256.Size {
						sec.fail("SHA256 hash of %d bytes", len(h))
						break
					}
					r.sha256[[32]byte(h)] = true
				}
			}
		default:
			if rd.err == nil {
				sec.fail("unsupported KRL section type %d", typ)
			}
		}
		if rd.err == nil && sec.err != nil {
			rd.err = sec.err
		}
	}
	if rd.err != nil {
		return nil, fmt.Errorf("sshca: %s: KRL %w", name, rd.err)
	}
	for _, c := range r.byCA {
		c.finish()
	}
	return r, nil
}

func parseKeyBlob(rd *krlReader, blob []byte, what string) ssh.PublicKey {
	if rd.err != nil {
		return nil
	}
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		rd.fail("%s: %v", what, err)
		return nil
	}
	return k
}

func parseCertSection(r *Revocations, sec *krlReader) {
	caBlob := sec.str("CA key")
	sec.str("reserved")
	if sec.err != nil {
		return
	}
	caName := ""
	if len(caBlob) > 0 {
		ca := parseKeyBlob(sec, caBlob, "CA key")
		if ca == nil {
			return
		}
		caName = string(plain(ca).Marshal())
	}
	c := r.ca(caName)
	for sec.more() {
		typ := sec.u8("certificate section type")
		sub := sec.sub("certificate section")
		switch typ {
		case krlCertSerialList:
			for sub.more() {
				s := sub.u64("serial")
				if sub.err == nil && s == 0 {
					sub.fail("serial 0 cannot be revoked")
				}
				c.serials = append(c.serials, s)
			}
		case krlCertSerialRange:
			lo, hi := sub.u64("serial range start"), sub.u64("serial range end")
			if sub.err == nil && (lo == 0 || lo > hi) {
				sub.fail("serial range %d-%d invalid", lo, hi)
			}
			c.ranges = append(c.ranges, serialRange{lo, hi})
		case krlCertSerialBitmap:
			off := sub.u64("bitmap offset")
			bits := sub.str("bitmap")
			if sub.err != nil {
				break
			}
			if len(bits) > 0 && bits[0]&0x80 != 0 {
				sub.fail("negative bitmap")
				break
			}
			if len(bits) > maxBitmap || (len(bits) == maxBitmap && bits[0] != 0) {
				sub.fail("bitmap of %d bytes exceeds %d", len(bits), maxBitmap-1)
				break
			}
			for len(bits) > 0 && bits[0] == 0 {
				bits = bits[1:]
			}
			if len(bits) == 0 {
				break
			}
			if off == 0 && bits[len(bits)-1]&1 != 0 {
				sub.fail("bitmap revokes serial 0")
				break
			}
			if span := uint64(len(bits))*8 - 1; off > ^uint64(0)-span {
				sub.fail("bitmap at offset %d overflows the serial space", off)
				break
			}
			c.bitmaps = append(c.bitmaps, serialBitmap{offset: off, bits: bytes.Clone(bits)})
		case krlCertKeyID:
			for sub.more() {
				id := sub.str("key id")
				if sub.err == nil && bytes.IndexByte(id, 0) >= 0 {
					sub.fail("key id with a NUL byte")
				}
				c.keyIDs[string(id)] = true
			}
		default:
			if sec.err == nil {
				sub.fail("unsupported KRL certificate section type %#x", typ)
			}
		}
		if sub.err == nil && len(sub.data) > 0 {
			sub.fail("%d bytes left over in certificate section %#x", len(sub.data), typ)
		}
		if sec.err == nil && sub.err != nil {
			sec.err = sub.err
		}
	}
}
