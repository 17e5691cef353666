package sshca

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// now is the injected clock of these tests.
var now = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

func clock() time.Time { return now }

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// issue signs a user certificate for key, valid an hour either side of now
// for principal "alice", after edit changes the defaults.
func issue(t testing.TB, ca ssh.Signer, key ssh.PublicKey, edit func(*ssh.Certificate)) *ssh.Certificate {
	t.Helper()
	c := &ssh.Certificate{
		Key:             key,
		Serial:          42,
		CertType:        ssh.UserCert,
		KeyId:           "alice-laptop",
		ValidPrincipals: []string{"alice"},
		ValidAfter:      uint64(now.Add(-time.Hour).Unix()),
		ValidBefore:     uint64(now.Add(time.Hour).Unix()),
		Permissions:     ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if edit != nil {
		edit(c)
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

func authority(t *testing.T, cfg Config, cas ...ssh.Signer) *Authority {
	t.Helper()
	for _, ca := range cas {
		cfg.CAKeys = append(cfg.CAKeys, ca.PublicKey())
	}
	if cfg.Now == nil {
		cfg.Now = clock
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantRefused(t *testing.T, err error, want Reason) *RefusedError {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RefusedError %v", err, want)
	}
	if re.Reason != want {
		t.Fatalf("reason %v (%s), want %v", re.Reason, re.Error(), want)
	}
	return re
}

func TestCheckAcceptsAValidCertificateFromATrustedCA(t *testing.T) {
	ca, other := newSigner(t), newSigner(t)
	a := authority(t, Config{}, other, ca)
	login, err := a.Check(issue(t, ca, newSigner(t).PublicKey(), nil))
	if err != nil || login != "alice" {
		t.Fatalf("Check = %q, %v; want alice", login, err)
	}
}

func TestCheckMapsPrincipalsToLogins(t *testing.T) {
	ca := newSigner(t)
	user := newSigner(t).PublicKey()
	a := authority(t, Config{PrincipalMap: map[string]string{"alice@CORP": "alice", "ops": "bob"}}, ca)
	cert := issue(t, ca, user, func(c *ssh.Certificate) { c.ValidPrincipals = []string{"alice@CORP", "ops"} })
	if login, err := a.Check(cert); err != nil || login != "alice" {
		t.Fatalf("mapped principal: Check = %q, %v; want alice", login, err)
	}

	known := authority(t, Config{
		PrincipalMap: map[string]string{"ops": "bob"},
		KnownLogin:   func(l string) bool { return l == "bob" },
	}, ca)
	cert = issue(t, ca, user, func(c *ssh.Certificate) { c.ValidPrincipals = []string{"carol", "ops"} })
	if login, err := known.Check(cert); err != nil || login != "bob" {
		t.Fatalf("first known login: Check = %q, %v; want bob", login, err)
	}
	cert = issue(t, ca, user, func(c *ssh.Certificate) { c.ValidPrincipals = []string{"carol", "dave"} })
	wantRefused(t, func() error { _, err := known.Check(cert); return err }(), NoPrincipal)
}

func TestCheckRefusesWithTheReason(t *testing.T) {
	ca, stranger := newSigner(t), newSigner(t)
	user := newSigner(t)
	revokedSerial := &Revocations{byCA: map[string]*certRevocations{string(ca.PublicKey().Marshal()): {serials: []uint64{666}}}}
	a := authority(t, Config{Revoked: revokedSerial}, ca)

	tampered := issue(t, ca, user.PublicKey(), nil)
	tampered.ValidPrincipals = []string{"root"}

	for _, tc := range []struct {
		name string
		key  ssh.PublicKey
		want Reason
	}{
		{"plain key", user.PublicKey(), NotCertificate},
		{"host certificate", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) { c.CertType = ssh.HostCert }), WrongType},
		{"another CA", issue(t, stranger, user.PublicKey(), nil), UnknownAuthority},
		{"changed after signing", tampered, BadSignature},
		{"expired", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) {
			c.ValidAfter, c.ValidBefore = uint64(now.Add(-2*time.Hour).Unix()), uint64(now.Unix())
		}), Expired},
		{"not yet valid", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) {
			c.ValidAfter, c.ValidBefore = uint64(now.Add(time.Second).Unix()), uint64(now.Add(time.Hour).Unix())
		}), NotYetValid},
		{"empty validity", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) { c.ValidBefore = c.ValidAfter }), Expired},
		{"force-command", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"force-command": "/bin/true"}
		}), BadOption},
		{"unknown critical option", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"frobnicate@example.com": ""}
		}), BadOption},
		{"revoked serial", issue(t, ca, user.PublicKey(), func(c *ssh.Certificate) { c.Serial = 666 }), Revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			login, err := a.Check(tc.key)
			if login != "" {
				t.Fatalf("login %q returned with a refusal", login)
			}
			wantRefused(t, err, tc.want)
		})
	}
}

func TestCheckAcceptsAtTheEdgesOfValidity(t *testing.T) {
	ca := newSigner(t)
	cert := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) {
		c.ValidAfter, c.ValidBefore = uint64(now.Unix()), uint64(now.Unix()+1)
	})
	if _, err := authority(t, Config{}, ca).Check(cert); err != nil {
		t.Fatalf("valid from now until a second later: %v", err)
	}
	forever := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) { c.ValidAfter, c.ValidBefore = 0, ssh.CertTimeInfinity })
	if _, err := authority(t, Config{}, ca).Check(forever); err != nil {
		t.Fatalf("valid forever: %v", err)
	}
}

func TestRefusalQuotesHostileText(t *testing.T) {
	ca := newSigner(t)
	cert := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) {
		c.KeyId = "evil\x1b[2J\nroot"
		c.ValidPrincipals = []string{"\x1b]0;pwned\x07"}
	})
	a := authority(t, Config{KnownLogin: func(string) bool { return false }}, ca)
	_, err := a.Check(cert)
	re := wantRefused(t, err, NoPrincipal)
	if msg := re.Error(); strings.ContainsAny(msg, "\x1b\n\x07") {
		t.Fatalf("refusal carries raw control bytes: %q", msg)
	}
}

func TestSourceAddressNeedsTheRemoteAddress(t *testing.T) {
	ca := newSigner(t)
	cert := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) {
		c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8,192.0.2.7"}
	})
	a := authority(t, Config{}, ca)
	wantRefused(t, func() error { _, err := a.Check(cert); return err }(), BadOption)
	for _, ok := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 50000},
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 22},
	} {
		if login, err := a.CheckFrom(cert, ok); err != nil || login != "alice" {
			t.Fatalf("from %s: %q, %v; want alice", ok, login, err)
		}
	}
	for _, bad := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("192.0.2.8"), Port: 22},
		&net.UnixAddr{Name: "/run/sock", Net: "unix"},
	} {
		_, err := a.CheckFrom(cert, bad)
		wantRefused(t, err, BadOption)
	}
	malformed := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) {
		c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/99"}
	})
	_, err := a.CheckFrom(malformed, &net.TCPAddr{IP: net.ParseIP("10.0.0.1")})
	wantRefused(t, err, BadOption)
}

// A signature is not a login: source-address does not refuse the key of a
// signature, but every other check still applies, and a malformed list is
// refused there too.
func TestCheckSignerSkipsOnlySourceAddress(t *testing.T) {
	ca := newSigner(t)
	a := authority(t, Config{}, ca)
	restricted := issue(t, ca, newSigner(t).PublicKey(), func(c *ssh.Certificate) {
		c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8"}
	})
	if login, err := a.CheckSigner(restricted); err != nil || login != "alice" {
		t.Fatalf("CheckSigner = %q, %v; want alice", login, err)
	}
	wantRefused(t, func() error {
		_, err := a.CheckFrom(restricted, &net.TCPAddr{IP: net.ParseIP("192.0.2.1")})
		return err
	}(), BadOption)
	for name, c := range map[string]struct {
		edit func(*ssh.Certificate)
		want Reason
	}{
		"expired": {func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8"}
			c.ValidBefore = uint64(now.Add(-time.Minute).Unix())
		}, Expired},
		"force-command": {func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"force-command": "/bin/true"} }, BadOption},
		"malformed source-address": {func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.0.0.0/8,nonsense"}
		}, BadOption},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.CheckSigner(issue(t, ca, newSigner(t).PublicKey(), c.edit))
			wantRefused(t, err, c.want)
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted no CA keys")
	}
	ca := newSigner(t)
	cert := issue(t, ca, newSigner(t).PublicKey(), nil)
	if _, err := New(Config{CAKeys: []ssh.PublicKey{cert}}); err == nil {
		t.Fatal("New accepted a certificate as a CA key")
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestLoadCAKeys(t *testing.T) {
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	p := writeFile(t, "ca.pub", "# user CAs\n\n"+authorizedLine(a)+" ca-2031\n  cert-authority "+authorizedLine(b)+"\n")
	keys, err := LoadCAKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || authorizedLine(keys[0]) != authorizedLine(a) || authorizedLine(keys[1]) != authorizedLine(b) {
		t.Fatalf("got %d keys, want a and b in order", len(keys))
	}
	for _, tc := range []struct{ content, want string }{
		{"# only comments\n", "no CA keys"},
		{authorizedLine(a) + "\n\nssh-ed25519 AAAAnotbase64\n", ":3:"},
		{`principals="alice" ` + authorizedLine(a) + "\n", ":1: option"},
		{authorizedLine(issue(t, newSigner(t), a, nil)) + "\n", ":1: a certificate"},
	} {
		_, err := LoadCAKeys(writeFile(t, "ca.pub", tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("content %q: err = %v, want it to mention %q", tc.content, err, tc.want)
		}
	}
}

func TestLoadPrincipalMap(t *testing.T) {
	m, err := LoadPrincipalMap(writeFile(t, "map", "# principal login\nalice@CORP alice\n\n  ops\tbob   # on call\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["alice@CORP"] != "alice" || m["ops"] != "bob" {
		t.Fatalf("map = %v", m)
	}
	for _, tc := range []struct{ content, want string }{
		{"alice\n", ":1:"},
		{"a b c\n", ":1:"},
		{"ops bob\nx y\nops carol\n", ":3: principal \"ops\" already mapped at line 1"},
	} {
		_, err := LoadPrincipalMap(writeFile(t, "map", tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("content %q: err = %v, want it to mention %q", tc.content, err, tc.want)
		}
	}
}
