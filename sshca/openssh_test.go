package sshca

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func needSSHKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not in PATH: OpenSSH interop not tested")
	}
}

func sshKeygen(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readKey(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

// keygenPair makes an ed25519 key pair named name in dir.
func keygenPair(t *testing.T, dir, name string) {
	t.Helper()
	sshKeygen(t, dir, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", name)
}

// keygenCert has CA ca certify a fresh key and returns the certificate;
// extra holds -I, -n, -V, -z, -h and such.
func keygenCert(t *testing.T, dir, ca, name string, extra ...string) *ssh.Certificate {
	t.Helper()
	keygenPair(t, dir, name)
	sshKeygen(t, dir, append(append([]string{"-q", "-s", ca}, extra...), name+".pub")...)
	k := readKey(t, filepath.Join(dir, name+"-cert.pub"))
	cert, ok := k.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%s-cert.pub is a %s, not a certificate", name, k.Type())
	}
	return cert
}

func TestSSHKeygenCertificates(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	keygenPair(t, dir, "ca")
	keygenPair(t, dir, "otherca")
	cas, err := LoadCAKeys(filepath.Join(dir, "ca.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// ssh-keygen dates -V relative to its own clock; the injected clock is
	// read once after issuing, so every case is hours inside or outside.
	certs := map[string]*ssh.Certificate{
		"valid":         keygenCert(t, dir, "ca", "valid", "-I", "alice@laptop", "-n", "alice", "-V", "+1h", "-z", "1"),
		"mapped":        keygenCert(t, dir, "ca", "mapped", "-I", "a2", "-n", "alice@CORP", "-V", "+1h"),
		"expired":       keygenCert(t, dir, "ca", "expired", "-I", "old", "-n", "alice", "-V", "-2h:-1h"),
		"not yet valid": keygenCert(t, dir, "ca", "future", "-I", "new", "-n", "alice", "-V", "+1h:+2h"),
		"host":          keygenCert(t, dir, "ca", "host", "-I", "host", "-h", "-n", "alice", "-V", "+1h"),
		"other CA":      keygenCert(t, dir, "otherca", "other", "-I", "x", "-n", "alice", "-V", "+1h"),
		"not a login":   keygenCert(t, dir, "ca", "nologin", "-I", "x", "-n", "mallory", "-V", "+1h"),
		"force-command": keygenCert(t, dir, "ca", "forced", "-I", "x", "-n", "alice", "-V", "+1h", "-O", "force-command=/bin/sh"),
		"source":        keygenCert(t, dir, "ca", "source", "-I", "x", "-n", "alice", "-V", "+1h", "-O", "source-address=127.0.0.0/8"),
	}
	issued := time.Now()
	a, err := New(Config{
		CAKeys:       cas,
		PrincipalMap: map[string]string{"alice@CORP": "alice"},
		Now:          func() time.Time { return issued },
		KnownLogin:   func(l string) bool { return l == "alice" },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"valid", "mapped"} {
		if login, err := a.Check(certs[name]); err != nil || login != "alice" {
			t.Errorf("%s: Check = %q, %v; want alice", name, login, err)
		}
	}
	for name, want := range map[string]Reason{
		"expired":       Expired,
		"not yet valid": NotYetValid,
		"host":          WrongType,
		"other CA":      UnknownAuthority,
		"not a login":   NoPrincipal,
		"force-command": BadOption,
		"source":        BadOption,
	} {
		_, err := a.Check(certs[name])
		wantRefused(t, err, want)
	}
	if _, err := a.Check(readKey(t, filepath.Join(dir, "valid.pub"))); err == nil {
		t.Error("the plain key of a certificate authenticated")
	}
}

// ssh-keygen -Q says whether a KRL revokes a key file (exit 1 when it does),
// the reference these tests compare IsRevoked with.
func keygenRevoked(t *testing.T, dir, krl, keyFile string) bool {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-Q", "-f", krl, keyFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return false
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && strings.Contains(string(out), "REVOKED") {
		return true
	}
	t.Fatalf("ssh-keygen -Q -f %s %s: %v\n%s", krl, keyFile, err, out)
	return false
}

func TestRealKRLRevokesWhatSSHKeygenSays(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	keygenPair(t, dir, "ca")
	keygenPair(t, dir, "revokedkey")
	keygenPair(t, dir, "hashedkey")
	fp := strings.Fields(sshKeygen(t, dir, "-l", "-f", "hashedkey.pub"))[1]
	spec := strings.Join([]string{
		"serial: 7",
		"serial: 10-20",
		"serial: 1000-100000",
		"serial: 5000000",
		"id: stolen-laptop",
		"hash: " + fp,
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "serials.txt"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	sshKeygen(t, dir, "-k", "-f", "serials.krl", "-s", "ca.pub", "serials.txt")
	sshKeygen(t, dir, "-k", "-f", "key.krl", "revokedkey.pub")

	bySerial, err := LoadRevocations(filepath.Join(dir, "serials.krl"))
	if err != nil {
		t.Fatal(err)
	}
	byKey, err := LoadRevocations(filepath.Join(dir, "key.krl"))
	if err != nil {
		t.Fatal(err)
	}

	type probe struct {
		file string
		key  ssh.PublicKey
	}
	var probes []probe
	for _, serial := range []uint64{1, 7, 8, 9, 10, 15, 20, 21, 999, 1000, 54321, 100000, 100001, 4999999, 5000000} {
		name := fmt.Sprintf("s%d", serial)
		c := keygenCert(t, dir, "ca", name, "-I", "x", "-n", "alice", "-V", "+1h", "-z", fmt.Sprint(serial))
		probes = append(probes, probe{name + "-cert.pub", c})
	}
	stolen := keygenCert(t, dir, "ca", "stolen", "-I", "stolen-laptop", "-n", "alice", "-V", "+1h")
	probes = append(probes, probe{"stolen-cert.pub", stolen})
	sshKeygen(t, dir, "-q", "-s", "ca", "-I", "k", "-n", "alice", "-V", "+1h", "-z", "3", "revokedkey.pub")
	probes = append(probes,
		probe{"revokedkey.pub", readKey(t, filepath.Join(dir, "revokedkey.pub"))},
		probe{"revokedkey-cert.pub", readKey(t, filepath.Join(dir, "revokedkey-cert.pub"))},
		probe{"hashedkey.pub", readKey(t, filepath.Join(dir, "hashedkey.pub"))},
		probe{"ca.pub", readKey(t, filepath.Join(dir, "ca.pub"))},
	)

	for _, krl := range []struct {
		file string
		r    *Revocations
	}{{"serials.krl", bySerial}, {"key.krl", byKey}} {
		for _, p := range probes {
			want := keygenRevoked(t, dir, krl.file, p.file)
			if got := krl.r.IsRevoked(p.key); got != want {
				t.Errorf("%s revokes %s: IsRevoked = %v, ssh-keygen -Q says %v", krl.file, p.file, got, want)
			}
		}
	}
	// The comparison is only worth something if the KRLs revoke some
	// probes and spare others.
	for _, want := range []struct {
		r    *Revocations
		key  ssh.PublicKey
		want bool
	}{
		{bySerial, probes[1].key, true}, {bySerial, probes[2].key, false}, {bySerial, stolen, true},
		{byKey, readKey(t, filepath.Join(dir, "revokedkey-cert.pub")), true}, {byKey, stolen, false},
	} {
		if want.r.IsRevoked(want.key) != want.want {
			t.Errorf("IsRevoked(%s) != %v", ssh.FingerprintSHA256(want.key), want.want)
		}
	}

	// And through Check, as the server sees it.
	cas, err := LoadCAKeys(filepath.Join(dir, "ca.pub"))
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	a, err := New(Config{CAKeys: cas, Revoked: bySerial, Now: func() time.Time { return issued }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(probes[1].key); err == nil {
		t.Error("serial 7 revoked by the KRL, but Check accepted it")
	} else {
		wantRefused(t, err, Revoked)
	}
	if login, err := a.Check(probes[2].key); err != nil || login != "alice" {
		t.Errorf("serial 8 not revoked: Check = %q, %v", login, err)
	}
}
