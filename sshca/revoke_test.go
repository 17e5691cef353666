package sshca

import (
	"crypto/sha1" //nolint:gosec // KRL fingerprint sections are SHA-1
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// krl builds KRL bytes per PROTOCOL.krl, to test sections ssh-keygen does
// not choose to write on its own and to seed the fuzzer.
type krl struct{ b []byte }

func newKRL() *krl {
	k := &krl{b: []byte(krlMagic)}
	k.b = binary.BigEndian.AppendUint32(k.b, 1)
	k.b = binary.BigEndian.AppendUint64(k.b, 3)          // krl_version
	k.b = binary.BigEndian.AppendUint64(k.b, 1900000000) // generated_date
	k.b = binary.BigEndian.AppendUint64(k.b, 0)          // flags
	k.b = appendStr(k.b, nil)                            // reserved
	k.b = appendStr(k.b, []byte("test"))                 // comment
	return k
}

func appendStr(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func (k *krl) section(typ byte, body []byte) *krl {
	k.b = append(k.b, typ)
	k.b = appendStr(k.b, body)
	return k
}

func u64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func strs(ss ...[]byte) []byte {
	var b []byte
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// certSection is a KRL certificate section for ca (nil: any CA) holding the
// given subsections, each a type byte and body.
func certSection(ca ssh.PublicKey, subs ...any) []byte {
	var b []byte
	if ca != nil {
		b = appendStr(b, ca.Marshal())
	} else {
		b = appendStr(b, nil)
	}
	b = appendStr(b, nil)
	for i := 0; i < len(subs); i += 2 {
		b = append(b, subs[i].(byte))
		b = appendStr(b, subs[i+1].([]byte))
	}
	return b
}

func TestKRLSectionsRevokeWhatTheyName(t *testing.T) {
	ca, otherCA := newSigner(t), newSigner(t)
	users := []ssh.Signer{newSigner(t), newSigner(t), newSigner(t), newSigner(t), newSigner(t)}
	plainKey, sha1Key, sha256Key, cleanKey := users[0].PublicKey(), users[1].PublicKey(), users[2].PublicKey(), users[3].PublicKey()
	h1 := sha1.Sum(sha1Key.Marshal()) //nolint:gosec // see import
	h256 := sha256.Sum256(sha256Key.Marshal())
	// Bitmap 0b1000_0101 at offset 100: serials 100, 102 and 107.
	data := newKRL().
		section(krlSectionCertificates, certSection(ca.PublicKey(),
			byte(krlCertSerialList), u64s(7, 3),
			byte(krlCertSerialRange), u64s(10, 20),
			byte(krlCertSerialBitmap), append(u64s(100), strs([]byte{0x00, 0x85})...),
			byte(krlCertKeyID), strs([]byte("stolen-laptop")),
		)).
		section(krlSectionCertificates, certSection(nil, byte(krlCertSerialList), u64s(5000))).
		section(krlSectionExplicitKey, strs(plainKey.Marshal())).
		section(krlSectionFingerprintSHA, strs(h1[:])).
		section(krlSectionFingerprint256, strs(h256[:])).
		b
	r, err := ParseRevocations("test.krl", data)
	if err != nil {
		t.Fatal(err)
	}
	cert := func(signer ssh.Signer, key ssh.PublicKey, serial uint64, id string) *ssh.Certificate {
		return issue(t, signer, key, func(c *ssh.Certificate) { c.Serial, c.KeyId = serial, id })
	}
	for _, tc := range []struct {
		name string
		key  ssh.PublicKey
		want bool
	}{
		{"listed serial", cert(ca, cleanKey, 7, "x"), true},
		{"unlisted serial", cert(ca, cleanKey, 8, "x"), false},
		{"range start", cert(ca, cleanKey, 10, "x"), true},
		{"range end", cert(ca, cleanKey, 20, "x"), true},
		{"after range", cert(ca, cleanKey, 21, "x"), false},
		{"bitmap bit 0", cert(ca, cleanKey, 100, "x"), true},
		{"bitmap bit 1 clear", cert(ca, cleanKey, 101, "x"), false},
		{"bitmap bit 2", cert(ca, cleanKey, 102, "x"), true},
		{"bitmap bit 7", cert(ca, cleanKey, 107, "x"), true},
		{"past bitmap", cert(ca, cleanKey, 108, "x"), false},
		{"key id", cert(ca, cleanKey, 0, "stolen-laptop"), true},
		{"serial of another CA", cert(otherCA, cleanKey, 7, "x"), false},
		{"any-CA serial", cert(otherCA, cleanKey, 5000, "x"), true},
		{"serial 0 is never revoked by serial", cert(ca, cleanKey, 0, "x"), false},
		{"explicit key", plainKey, true},
		{"certificate for an explicit key", cert(otherCA, plainKey, 1, "x"), true},
		{"SHA1 fingerprint", sha1Key, true},
		{"SHA256 fingerprint", sha256Key, true},
		{"clean key", cleanKey, false},
	} {
		if got := r.IsRevoked(tc.key); got != tc.want {
			t.Errorf("%s: IsRevoked = %v, want %v", tc.name, got, tc.want)
		}
	}

	revokedCA, err := ParseRevocations("ca.krl", newKRL().section(krlSectionExplicitKey, strs(ca.PublicKey().Marshal())).b)
	if err != nil {
		t.Fatal(err)
	}
	if !revokedCA.IsRevoked(cert(ca, cleanKey, 1, "x")) {
		t.Error("a certificate signed by a revoked CA key is not revoked")
	}
}

func TestKRLParserRefusesMalformedInput(t *testing.T) {
	ca := newSigner(t).PublicKey()
	sigKey := newSigner(t)
	sig, err := sigKey.Sign(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	signature := append(appendStr(nil, sigKey.PublicKey().Marshal()), appendStr(nil, ssh.Marshal(sig))...)
	valid := newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialList), u64s(1))).b
	if _, err := ParseRevocations("v.krl", append(append(append([]byte(nil), valid...), krlSectionSignature), signature...)); err != nil {
		t.Fatalf("a signed KRL: %v", err)
	}
	version2 := append([]byte(nil), valid...)
	binary.BigEndian.PutUint32(version2[len(krlMagic):], 2)
	hugeString := append(newKRL().b, krlSectionExplicitKey, 0xff, 0xff, 0xff, 0xff, 0x00)
	for name, data := range map[string][]byte{
		"version 2":           version2,
		"truncated header":    valid[:len(krlMagic)+6],
		"huge length":         hugeString,
		"unknown section":     newKRL().section(9, nil).b,
		"unknown cert sub":    newKRL().section(krlSectionCertificates, certSection(ca, byte(0x30), []byte(nil))).b,
		"serial 0":            newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialList), u64s(0))).b,
		"half a serial":       newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialList), []byte{1, 2, 3})).b,
		"reversed range":      newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialRange), u64s(9, 3))).b,
		"range left over":     newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialRange), u64s(1, 3, 5))).b,
		"negative bitmap":     newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialBitmap), append(u64s(1), strs([]byte{0x80})...))).b,
		"bitmap serial 0":     newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialBitmap), append(u64s(0), strs([]byte{0x01})...))).b,
		"bitmap overflow":     newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialBitmap), append(u64s(^uint64(0)-3), strs([]byte{0x01, 0x00})...))).b,
		"oversized bitmap":    newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertSerialBitmap), append(u64s(1), strs(append([]byte{1}, make([]byte, maxBitmap)...))...))).b,
		"key id with NUL":     newKRL().section(krlSectionCertificates, certSection(ca, byte(krlCertKeyID), strs([]byte("a\x00b")))).b,
		"bad CA key":          newKRL().section(krlSectionCertificates, append(strs([]byte("garbage")), strs(nil)...)).b,
		"bad explicit key":    newKRL().section(krlSectionExplicitKey, strs([]byte("garbage"))).b,
		"short SHA1":          newKRL().section(krlSectionFingerprintSHA, strs(make([]byte, 19))).b,
		"long SHA256":         newKRL().section(krlSectionFingerprint256, strs(make([]byte, 33))).b,
		"after the signature": append(append(append(append([]byte(nil), valid...), krlSectionSignature), signature...), newKRL().section(krlSectionExplicitKey, nil).b[len(newKRL().b):]...),
	} {
		_, err := ParseRevocations("bad.krl", data)
		t.Logf("%s: %v", name, err)
		if err == nil || !strings.Contains(err.Error(), "bad.krl: KRL offset") {
			t.Errorf("%s: err = %v, want a KRL error naming the file and offset", name, err)
		}
	}
}

func TestTextListRevokes(t *testing.T) {
	ca := newSigner(t)
	listed, bare, byHash, clean := newSigner(t).PublicKey(), newSigner(t).PublicKey(), newSigner(t).PublicKey(), newSigner(t).PublicKey()
	listedCert := issue(t, ca, clean, func(c *ssh.Certificate) { c.Serial = 99 })
	otherCertSameKey := issue(t, ca, clean, func(c *ssh.Certificate) { c.Serial = 98 })
	content := strings.Join([]string{
		"# revoked by the security team",
		"serial:7",
		"serial: 10-20",
		"id:stolen laptop",
		"key " + authorizedLine(listed) + " alice-old",
		authorizedLine(bare),
		"sha256:" + strings.TrimPrefix(ssh.FingerprintSHA256(byHash), "SHA256:"),
		"key: " + authorizedLine(listedCert),
		"",
	}, "\n")
	r, err := LoadRevocations(writeFile(t, "revoked.txt", content))
	if err != nil {
		t.Fatal(err)
	}
	cert := func(serial uint64, id string) *ssh.Certificate {
		return issue(t, ca, clean, func(c *ssh.Certificate) { c.Serial, c.KeyId = serial, id })
	}
	for _, tc := range []struct {
		name string
		key  ssh.PublicKey
		want bool
	}{
		{"serial", cert(7, "x"), true},
		{"in range", cert(15, "x"), true},
		{"outside range", cert(21, "x"), false},
		{"key id with a space", cert(0, "stolen laptop"), true},
		{"key line", listed, true},
		{"bare key line", bare, true},
		{"certificate of a listed key", issue(t, ca, bare, nil), true},
		{"sha256 fingerprint", byHash, true},
		{"listed certificate", listedCert, true},
		{"other certificate of its key", otherCertSameKey, false},
		{"clean key", clean, false},
	} {
		if got := r.IsRevoked(tc.key); got != tc.want {
			t.Errorf("%s: IsRevoked = %v, want %v", tc.name, got, tc.want)
		}
	}
	r2, err := ParseRevocations("fp.txt", []byte("SHA256:"+strings.TrimPrefix(ssh.FingerprintSHA256(clean), "SHA256:")+"\n"))
	if err != nil || !r2.IsRevoked(clean) {
		t.Fatalf("fingerprint as ssh-keygen -l prints it: %v", err)
	}
}

func TestTextListErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"serial:7\nserial:x\n", "list:2:"},
		{"# c\n\nserial:0\n", "list:3:"},
		{"serial:9-3\n", "list:1:"},
		{"id:\n", "list:1:"},
		{"sha256:" + base64.RawStdEncoding.EncodeToString(make([]byte, 31)) + "\n", "list:1:"},
		{"key ssh-ed25519 AAAA\n", "list:1:"},
		{"whatever\n", "list:1:"},
	} {
		if _, err := ParseRevocations("list", []byte(tc.content)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.content, err, tc.want)
		}
	}
}

func TestNilRevocationsRevokeNothing(t *testing.T) {
	var r *Revocations
	if r.IsRevoked(newSigner(t).PublicKey()) {
		t.Fatal("nil Revocations revoked a key")
	}
}

func FuzzLoadRevocations(f *testing.F) {
	ca, user := newSigner(f), newSigner(f)
	h256 := sha256.Sum256(user.PublicKey().Marshal())
	f.Add(newKRL().b)
	f.Add(newKRL().
		section(krlSectionCertificates, certSection(ca.PublicKey(),
			byte(krlCertSerialList), u64s(7, 9),
			byte(krlCertSerialRange), u64s(10, 20),
			byte(krlCertSerialBitmap), append(u64s(100), strs([]byte{0x00, 0x85})...),
			byte(krlCertKeyID), strs([]byte("id")),
		)).
		section(krlSectionExplicitKey, strs(user.PublicKey().Marshal())).
		section(krlSectionFingerprint256, strs(h256[:])).b)
	f.Add([]byte("serial:7\nid:x\nsha256:" + strings.TrimPrefix(ssh.FingerprintSHA256(user.PublicKey()), "SHA256:") + "\n" + authorizedLine(user.PublicKey()) + "\n"))
	probe := issue(f, ca, user.PublicKey(), func(c *ssh.Certificate) { c.Serial, c.KeyId = 107, "id" })
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocations("fuzz", data)
		if err != nil {
			if r != nil {
				t.Fatal("Revocations returned with an error")
			}
			return
		}
		r.IsRevoked(probe)
		r.IsRevoked(user.PublicKey())
	})
}
