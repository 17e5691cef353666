package keysign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

var statement = []byte("jitdesk decision v1\nrequest_digest: sha256:0f1e\ndecision: approve\napprover: alice\n")

type testKey struct {
	name string
	priv crypto.Signer
	pub  ssh.PublicKey
}

func genKey(t *testing.T, kind string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{name: kind, priv: priv, pub: signer.PublicKey()}
}

var kinds = []string{"ed25519", "ecdsa", "rsa"}

func keyring(t *testing.T, keys ...testKey) agent.ExtendedAgent {
	t.Helper()
	ag := agent.NewKeyring().(agent.ExtendedAgent)
	for _, k := range keys {
		if err := ag.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.name}); err != nil {
			t.Fatal(err)
		}
	}
	return ag
}

func signWith(t *testing.T, ag agent.ExtendedAgent, key ssh.PublicKey, msg []byte) []byte {
	t.Helper()
	s, err := Choose(ag, []ssh.PublicKey{key})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := s.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return armored
}

func TestSignThenVerifyReturnsSigningKey(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			k := genKey(t, kind)
			armored := signWith(t, keyring(t, k), k.pub, statement)
			if !bytes.HasPrefix(armored, []byte("-----BEGIN SSH SIGNATURE-----\n")) {
				t.Fatalf("not an armored SSH signature:\n%s", armored)
			}
			got, err := Verify(armored, statement)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(got.Marshal(), k.pub.Marshal()) {
				t.Fatalf("Verify returned %s, want %s", KeyFingerprint(got), KeyFingerprint(k.pub))
			}
			if err := VerifyKey(armored, statement, k.pub); err != nil {
				t.Fatalf("VerifyKey: %v", err)
			}
			sig, err := sshsig.Unarmor(armored)
			if err != nil {
				t.Fatal(err)
			}
			if sig.HashAlgorithm != sshsig.HashSHA512 || sig.Namespace != Namespace {
				t.Fatalf("hash %q namespace %q, want sha512 %q", sig.HashAlgorithm, sig.Namespace, Namespace)
			}
			if kind == "rsa" && sig.Signature.Format != ssh.KeyAlgoRSASHA512 {
				t.Fatalf("RSA signature format %q, want %q", sig.Signature.Format, ssh.KeyAlgoRSASHA512)
			}
		})
	}
}

func TestVerifyFailsWhenOneByteOfTheMessageChanges(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			k := genKey(t, kind)
			armored := signWith(t, keyring(t, k), k.pub, statement)
			for _, i := range []int{0, len(statement) / 2, len(statement) - 1} {
				changed := bytes.Clone(statement)
				changed[i] ^= 0x01
				if _, err := Verify(armored, changed); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("byte %d changed: Verify err = %v, want ErrBadSignature", i, err)
				}
			}
			if _, err := Verify(armored, append(bytes.Clone(statement), '\n')); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("byte appended: Verify err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyReturnsTheOtherKeyForAnotherSignersSignature(t *testing.T) {
	registered, other := genKey(t, "ed25519"), genKey(t, "ed25519")
	armored := signWith(t, keyring(t, other), other.pub, statement)
	got, err := Verify(armored, statement)
	if err != nil {
		t.Fatalf("a valid signature by another key must verify as such: %v", err)
	}
	if bytes.Equal(got.Marshal(), registered.pub.Marshal()) {
		t.Fatal("Verify claims the registered key signed")
	}
	if err := VerifyKey(armored, statement, registered.pub); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("VerifyKey err = %v, want ErrWrongKey", err)
	}
}

func TestVerifyRefusesAnotherNamespace(t *testing.T) {
	k := genKey(t, "ed25519")
	signer, err := ssh.NewSignerFromSigner(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(bytes.NewReader(statement), signer, sshsig.HashSHA512, "git")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(sshsig.Armor(sig), statement); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("git-namespace signature: err = %v, want ErrBadSignature", err)
	}
}

func TestVerifyAndFingerprintRefuseMalformedInput(t *testing.T) {
	k := genKey(t, "ed25519")
	good := signWith(t, keyring(t, k), k.pub, statement)
	truncated := good[:len(good)/2]
	for name, in := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("not a signature"),
		"truncated": truncated,
		"pem type":  bytes.Replace(good, []byte("SSH SIGNATURE"), []byte("PGP SIGNATURE"), 2),
	} {
		if _, err := Verify(in, statement); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Verify err = %v, want ErrBadSignature", name, err)
		}
		if _, err := Fingerprint(in); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Fingerprint err = %v, want ErrBadSignature", name, err)
		}
	}
	fp, err := Fingerprint(good)
	if err != nil || fp != ssh.FingerprintSHA256(k.pub) {
		t.Fatalf("Fingerprint = %q, %v; want %q", fp, err, ssh.FingerprintSHA256(k.pub))
	}
}

func TestChoosePicksTheRegisteredKeyAmongSeveral(t *testing.T) {
	a, b, c := genKey(t, "ed25519"), genKey(t, "ecdsa"), genKey(t, "ed25519")
	ag := keyring(t, a, b, c)
	unregistered := genKey(t, "ed25519")
	s, err := Choose(ag, []ssh.PublicKey{unregistered.pub, b.pub})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.PublicKey().Marshal(), b.pub.Marshal()) {
		t.Fatalf("chose %s, want %s", s.Fingerprint(), ssh.FingerprintSHA256(b.pub))
	}
	if want := "ECDSA " + ssh.FingerprintSHA256(b.pub); s.Describe() != want {
		t.Fatalf("Describe = %q, want %q", s.Describe(), want)
	}
	if s.NeedsTouch() {
		t.Fatal("an ECDSA key in software needs no touch")
	}
}

func TestChooseReportsWhichKeysWouldDo(t *testing.T) {
	ag := keyring(t, genKey(t, "ed25519"), genKey(t, "ed25519"))
	w1, w2 := genKey(t, "ed25519"), genKey(t, "rsa")
	_, err := Choose(ag, []ssh.PublicKey{w1.pub, w2.pub, w1.pub})
	var nm *NoMatchingKeyError
	if !errors.As(err, &nm) {
		t.Fatalf("err = %v, want *NoMatchingKeyError", err)
	}
	want := []string{ssh.FingerprintSHA256(w1.pub), ssh.FingerprintSHA256(w2.pub)}
	if strings.Join(nm.Wanted, ",") != strings.Join(want, ",") || nm.Held != 2 {
		t.Fatalf("got Wanted=%v Held=%d, want Wanted=%v Held=2", nm.Wanted, nm.Held, want)
	}
	msg := nm.Error()
	if !strings.Contains(msg, "ssh-add") || !strings.Contains(msg, want[0]) || !strings.Contains(msg, want[1]) {
		t.Fatalf("message does not say which key to load: %q", msg)
	}
}

func userCert(t *testing.T, k testKey) *ssh.Certificate {
	t.Helper()
	ca := genKey(t, "ed25519")
	caSigner, err := ssh.NewSignerFromSigner(ca.priv)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: k.pub, CertType: ssh.UserCert, KeyId: "alice", ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, caSigner); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestChooseMatchesCertificatesByTheirKey(t *testing.T) {
	k := genKey(t, "ed25519")
	cert := userCert(t, k)

	t.Run("agent holds the certificate, plain key registered", func(t *testing.T) {
		ag := agent.NewKeyring().(agent.ExtendedAgent)
		if err := ag.Add(agent.AddedKey{PrivateKey: k.priv, Certificate: cert}); err != nil {
			t.Fatal(err)
		}
		s, err := Choose(ag, []ssh.PublicKey{k.pub})
		if err != nil {
			t.Fatal(err)
		}
		if want := "ED25519-CERT " + ssh.FingerprintSHA256(k.pub); s.Describe() != want {
			t.Fatalf("Describe = %q, want %q", s.Describe(), want)
		}
		if !bytes.Equal(s.AgentKey().Marshal(), cert.Marshal()) {
			t.Fatal("AgentKey is not the agent's certificate")
		}
		armored, err := s.Sign(context.Background(), statement)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Verify(armored, statement)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), k.pub.Marshal()) {
			t.Fatalf("signature embeds %s (%s), want the plain key", got.Type(), KeyFingerprint(got))
		}
	})
	t.Run("agent holds the plain key, certificate presented", func(t *testing.T) {
		s, err := Choose(keyring(t, genKey(t, "ecdsa"), k), []ssh.PublicKey{cert})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.PublicKey().Marshal(), k.pub.Marshal()) {
			t.Fatal("did not choose the certified key")
		}
		armored, err := s.Sign(context.Background(), statement)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyKey(armored, statement, cert); err != nil {
			t.Fatalf("VerifyKey against the certificate: %v", err)
		}
	})
	t.Run("wanted fingerprint of a certificate is its key's", func(t *testing.T) {
		_, err := Choose(keyring(t), []ssh.PublicKey{cert})
		var nm *NoMatchingKeyError
		if !errors.As(err, &nm) || len(nm.Wanted) != 1 || nm.Wanted[0] != ssh.FingerprintSHA256(k.pub) {
			t.Fatalf("err = %v, want NoMatchingKeyError wanting %s", err, ssh.FingerprintSHA256(k.pub))
		}
	})
}

// fakeAgent lists fixed keys and, when sign is set, answers signatures with
// it; everything else is unsupported.
type fakeAgent struct {
	agent.ExtendedAgent // nil: calling anything else panics, which the tests must not do
	keys                []ssh.PublicKey
	sign                func(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error)
}

func (f *fakeAgent) List() ([]*agent.Key, error) {
	var out []*agent.Key
	for _, k := range f.keys {
		out = append(out, &agent.Key{Format: k.Type(), Blob: k.Marshal()})
	}
	return out, nil
}

func (f *fakeAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	return f.sign(key, data, flags)
}

func TestSignReturnsWhenContextEndsWhileTheAgentWaits(t *testing.T) {
	k := genKey(t, "ed25519")
	started := make(chan struct{})
	release := make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(1)
	ag := &fakeAgent{keys: []ssh.PublicKey{k.pub}, sign: func(ssh.PublicKey, []byte, agent.SignatureFlags) (*ssh.Signature, error) {
		defer finished.Done()
		close(started)
		<-release // a FIDO key waiting for a touch that never comes
		return nil, io.ErrClosedPipe
	}}
	s, err := Choose(ag, []ssh.PublicKey{k.pub})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Sign(ctx, statement)
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sign err = %v, want context.Canceled", err)
	}
	// Closing the agent connection is what ends the abandoned call.
	close(release)
	finished.Wait()
}

func TestSignRefusesAnAgentSignatureThatDoesNotVerify(t *testing.T) {
	k, other := genKey(t, "ed25519"), genKey(t, "ed25519")
	otherSigner, err := ssh.NewSignerFromSigner(other.priv)
	if err != nil {
		t.Fatal(err)
	}
	ag := &fakeAgent{keys: []ssh.PublicKey{k.pub}, sign: func(_ ssh.PublicKey, data []byte, _ agent.SignatureFlags) (*ssh.Signature, error) {
		return otherSigner.Sign(rand.Reader, data)
	}}
	s, err := Choose(ag, []ssh.PublicKey{k.pub})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(context.Background(), statement); err == nil {
		t.Fatal("Sign accepted a signature by another key")
	}
}

func TestSignRefusesSHA1RSAFromAnOldAgent(t *testing.T) {
	k := genKey(t, "rsa")
	signer, err := ssh.NewSignerFromSigner(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	ag := &fakeAgent{keys: []ssh.PublicKey{k.pub}, sign: func(_ ssh.PublicKey, data []byte, _ agent.SignatureFlags) (*ssh.Signature, error) {
		return signer.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSA) //nolint:staticcheck // the point is an agent answering with SHA-1
	}}
	s, err := Choose(ag, []ssh.PublicKey{k.pub})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(context.Background(), statement); err == nil {
		t.Fatal("Sign accepted an ssh-rsa (SHA-1) signature")
	}
}

// skEd25519Key builds a FIDO sk-ssh-ed25519 public key; its private half
// lives on hardware, so only listing and describing it can be tested.
func skEd25519Key(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob := ssh.Marshal(struct {
		Name, Key, Application string
	}{ssh.KeyAlgoSKED25519, string(pub), "ssh:"})
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSecurityKeysNeedATouch(t *testing.T) {
	sk := skEd25519Key(t)
	s, err := Choose(&fakeAgent{keys: []ssh.PublicKey{sk}}, []ssh.PublicKey{sk})
	if err != nil {
		t.Fatal(err)
	}
	if !s.NeedsTouch() {
		t.Fatal("sk-ssh-ed25519 key: NeedsTouch = false")
	}
	if want := "ED25519-SK " + ssh.FingerprintSHA256(sk); s.Describe() != want {
		t.Fatalf("Describe = %q, want %q", s.Describe(), want)
	}
}

func TestAllowedSignersLineRefusesPrincipalsThatChangeTheLine(t *testing.T) {
	k := genKey(t, "ed25519")
	for _, p := range []string{"", "bob,*", "*", "a?", "!bob", `a"b`, "a b", "a\tb", "a\nb", "#x", "-x", "alicé", "a\x00", strings.Repeat("a", 257)} {
		if line, err := AllowedSignersLine(p, k.pub); !errors.Is(err, ErrUnsafePrincipal) {
			t.Errorf("principal %q: line %q err %v, want ErrUnsafePrincipal", p, line, err)
		}
	}
	for _, p := range []string{"alice", "alice@example.com", "j.doe-2_x+ops"} {
		line, err := AllowedSignersLine(p, k.pub)
		if err != nil {
			t.Fatalf("principal %q: %v", p, err)
		}
		want := p + ` namespaces="jitdesk-decision" ` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub)))
		if line != want {
			t.Fatalf("line = %q, want %q", line, want)
		}
	}
	line, err := AllowedSignersLine("alice", userCert(t, k))
	if err != nil || !strings.HasSuffix(line, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub)))) {
		t.Fatalf("certificate: line %q err %v, want the plain key", line, err)
	}
}

func TestLocalSourceWithoutSocketIsErrNoAgent(t *testing.T) {
	_, _, err := LocalSource(func(string) string { return "" })(context.Background())
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent", err)
	}
	missing := t.TempDir() + "/absent.sock"
	_, _, err = LocalSource(func(string) string { return missing })(context.Background())
	if err == nil || errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), "absent.sock") {
		t.Fatalf("dial failure err = %v, want an error naming the socket", err)
	}
}

// sshPair connects an in-process SSH client and server over loopback. When
// forward is set the client serves keys to agent channels the server opens,
// as `ssh -A` does.
func sshPair(t *testing.T, forward agent.Agent) *ssh.ServerConn {
	t.Helper()
	hostKey := genKey(t, "ed25519")
	hostSigner, err := ssh.NewSignerFromSigner(hostKey.priv)
	if err != nil {
		t.Fatal(err)
	}
	scfg := &ssh.ServerConfig{NoClientAuth: true}
	scfg.AddHostKey(hostSigner)
	// A loopback TCP pair, not net.Pipe: both SSH peers write their version
	// line first, which an unbuffered pipe deadlocks on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cside, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sside, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	type srv struct {
		conn *ssh.ServerConn
		err  error
	}
	srvc := make(chan srv, 1)
	go func() {
		conn, chans, reqs, err := ssh.NewServerConn(sside, scfg)
		if err == nil {
			go ssh.DiscardRequests(reqs)
			go func() {
				for nc := range chans {
					nc.Reject(ssh.Prohibited, "no sessions in this test")
				}
			}()
		}
		srvc <- srv{conn, err}
	}()
	cconn, cchans, creqs, err := ssh.NewClientConn(cside, "pipe", &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey()}) //nolint:gosec // in-process test peer
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(cconn, cchans, creqs)
	t.Cleanup(func() { client.Close() })
	if forward != nil {
		if err := agent.ForwardToAgent(client, forward); err != nil {
			t.Fatal(err)
		}
	}
	s := <-srvc
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s.conn
}

func TestChannelSourceSignsThroughTheForwardedAgent(t *testing.T) {
	k := genKey(t, "ed25519")
	conn := sshPair(t, keyring(t, genKey(t, "rsa"), k))
	ag, closer, err := ChannelSource(conn)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	s, err := Choose(ag, []ssh.PublicKey{k.pub})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := s.Sign(context.Background(), statement)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyKey(armored, statement, k.pub); err != nil {
		t.Fatal(err)
	}
}

func TestChannelSourceWithoutForwardingIsErrNoAgent(t *testing.T) {
	conn := sshPair(t, nil)
	_, _, err := ChannelSource(conn)(context.Background())
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent", err)
	}
}
