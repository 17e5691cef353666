// Package keysign signs and verifies jitdesk decision statements with an
// approver's SSH key in OpenSSH's SSHSIG format.
//
// A signature made here is the same object `ssh-keygen -Y sign` makes: an
// armored "SSH SIGNATURE" PEM block over the statement, hashed with SHA-512,
// under the namespace [Namespace]. Anyone can check it offline with stock
// OpenSSH:
//
//	ssh-keygen -Y verify -f allowed_signers -I LOGIN -n jitdesk-decision -s statement.sig < statement
//
// where allowed_signers holds the line [AllowedSignersLine] writes.
//
// The private key never leaves the approver's SSH agent: a [Source] opens the
// agent (the local $SSH_AUTH_SOCK, or the channel an `ssh -A` client forwards)
// for one signature, [Choose] picks the agent key that matches a key the
// approver registered, and [Signer.Sign] asks the agent to sign. Signatures
// always embed the plain public key, never a certificate, even when the agent
// identity used is a certificate: an allowed_signers line naming the plain key
// then verifies them, and the signature proves possession of the same private
// key either way.
package keysign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Namespace is the SSHSIG namespace of every jitdesk decision signature. The
// namespace is part of the signed data, so a signature made for jitdesk cannot
// be replayed as, say, a git commit signature ("git") or a file signature
// ("file"), and the other way round. It is the -n argument of
// `ssh-keygen -Y sign|verify` and the namespaces= option of the
// allowed_signers line.
const Namespace = "jitdesk-decision"

// hash is the SSHSIG message hash; SHA-512 is what ssh-keygen uses by default.
const hash = sshsig.HashSHA512

// ErrNoAgent reports that no SSH agent is reachable: $SSH_AUTH_SOCK is unset
// locally, or the SSH client did not forward its agent (no `ssh -A`).
var ErrNoAgent = errors.New("keysign: no SSH agent reachable (set SSH_AUTH_SOCK, or connect with ssh -A)")

// ErrBadSignature reports that a signature does not verify: it is malformed,
// made under another namespace, or does not match the message. Errors from
// [Verify] wrap it with the detail.
var ErrBadSignature = errors.New("keysign: bad signature")

// ErrWrongKey reports that a signature verifies but was made by another key
// than the one expected; [VerifyKey] returns it wrapped.
var ErrWrongKey = errors.New("keysign: signature made by another key")

// ErrUnsafePrincipal reports a principal that cannot be written into an
// allowed_signers line without changing its meaning.
var ErrUnsafePrincipal = errors.New("keysign: principal unsafe in allowed_signers")

// NoMatchingKeyError reports that the agent holds none of the keys that would
// do. It names them by fingerprint so the approver knows which key to load.
type NoMatchingKeyError struct {
	// Wanted lists the SHA256 fingerprints (as `ssh-add -l` shows them) of the
	// keys that would be accepted.
	Wanted []string
	// Held is the number of keys the agent holds.
	Held int
}

// Error says which key to load with ssh-add.
func (e *NoMatchingKeyError) Error() string {
	if len(e.Wanted) == 0 {
		return fmt.Sprintf("keysign: no key registered to sign with (the SSH agent holds %d)", e.Held)
	}
	return fmt.Sprintf("keysign: the SSH agent holds %d key(s), none of them yours: load %s with ssh-add",
		e.Held, strings.Join(e.Wanted, " or "))
}

// Source opens an SSH agent for one signature. The caller closes the returned
// io.Closer right after signing, so an agent (notably a forwarded one) is never
// held open longer than one decision.
type Source func(ctx context.Context) (agent.ExtendedAgent, io.Closer, error)

// LocalSource returns a Source that dials the unix socket named by
// $SSH_AUTH_SOCK, read through env (os.Getenv when nil). It returns ErrNoAgent
// when the variable is unset or empty.
func LocalSource(env func(string) string) Source {
	if env == nil {
		env = os.Getenv
	}
	return func(ctx context.Context) (agent.ExtendedAgent, io.Closer, error) {
		path := env("SSH_AUTH_SOCK")
		if path == "" {
			return nil, nil, ErrNoAgent
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, nil, fmt.Errorf("keysign: dial SSH agent at SSH_AUTH_SOCK=%q: %w", path, err)
		}
		return agent.NewClient(conn), conn, nil
	}
}

// ChannelOpener is the part of an SSH server connection (*ssh.ServerConn,
// ssh.Conn) that ChannelSource needs.
type ChannelOpener interface {
	OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error)
}

// agentChannel is the channel type OpenSSH clients accept for agent
// forwarding (PROTOCOL: "auth-agent@openssh.com").
const agentChannel = "auth-agent@openssh.com"

// ChannelSource returns a Source that opens an agent channel back to the SSH
// client of conn, which works only when the client forwards its agent
// (`ssh -A`) and the session asked for it (the "auth-agent-req@openssh.com"
// request; check that before calling, and return ErrNoAgent otherwise). Each
// call opens a fresh channel; closing the io.Closer closes it. A client that
// refuses the channel yields an error wrapping ErrNoAgent.
func ChannelSource(conn ChannelOpener) Source {
	return func(ctx context.Context) (agent.ExtendedAgent, io.Closer, error) {
		type opened struct {
			ch   ssh.Channel
			reqs <-chan *ssh.Request
			err  error
		}
		done := make(chan opened, 1)
		go func() {
			ch, reqs, err := conn.OpenChannel(agentChannel, nil)
			done <- opened{ch, reqs, err}
		}()
		var o opened
		select {
		case o = <-done:
		case <-ctx.Done():
			// The open may still complete; close what it yields so the
			// client's agent is not left reachable.
			go func() {
				if o := <-done; o.err == nil {
					go ssh.DiscardRequests(o.reqs)
					o.ch.Close()
				}
			}()
			return nil, nil, ctx.Err()
		}
		if o.err != nil {
			var oce *ssh.OpenChannelError
			if errors.As(o.err, &oce) {
				return nil, nil, fmt.Errorf("%w: the client refused the agent channel: %v", ErrNoAgent, oce.Reason)
			}
			return nil, nil, fmt.Errorf("keysign: open agent channel: %w", o.err)
		}
		go ssh.DiscardRequests(o.reqs)
		return agent.NewClient(o.ch), o.ch, nil
	}
}

// PlainKey returns the key a certificate certifies, or key itself when it is
// not a certificate.
func PlainKey(key ssh.PublicKey) ssh.PublicKey {
	if c, ok := key.(*ssh.Certificate); ok {
		return c.Key
	}
	return key
}

// KeyFingerprint returns the SHA256 fingerprint of key as OpenSSH prints it
// (`ssh-add -l`, `ssh-keygen -l`): of the plain key for a certificate.
func KeyFingerprint(key ssh.PublicKey) string {
	return ssh.FingerprintSHA256(PlainKey(key))
}

// Choose returns a Signer for the first key in the agent that is one of
// acceptable. Keys are compared by their plain public key: an agent
// certificate matches its underlying key, and an acceptable certificate (the
// one the approver authenticated with) matches the agent's certificate or its
// underlying key. It returns a *NoMatchingKeyError when the agent holds none.
func Choose(ag agent.ExtendedAgent, acceptable []ssh.PublicKey) (*Signer, error) {
	held, err := ag.List()
	if err != nil {
		return nil, fmt.Errorf("keysign: list SSH agent keys: %w", err)
	}
	want := make(map[string]bool, len(acceptable))
	var wanted []string
	for _, k := range acceptable {
		if k == nil {
			continue
		}
		blob := string(PlainKey(k).Marshal())
		if !want[blob] {
			want[blob] = true
			wanted = append(wanted, KeyFingerprint(k))
		}
	}
	for _, h := range held {
		// A key type this library cannot parse cannot be one of ours.
		pub, err := ssh.ParsePublicKey(h.Blob)
		if err != nil {
			continue
		}
		if want[string(PlainKey(pub).Marshal())] {
			return &Signer{ag: ag, agentKey: pub, pub: PlainKey(pub)}, nil
		}
	}
	return nil, &NoMatchingKeyError{Wanted: wanted, Held: len(held)}
}

// Signer signs statements with one key of an SSH agent. It is valid while the
// agent connection it came from is open.
type Signer struct {
	ag       agent.ExtendedAgent
	agentKey ssh.PublicKey // the identity as the agent holds it, maybe a certificate
	pub      ssh.PublicKey // plain key, embedded in signatures
}

// PublicKey returns the plain public key that signatures embed (the
// certified key when the agent identity is a certificate).
func (s *Signer) PublicKey() ssh.PublicKey { return s.pub }

// AgentKey returns the identity as the agent holds it, which may be a
// certificate.
func (s *Signer) AgentKey() ssh.PublicKey { return s.agentKey }

// Fingerprint returns the SHA256 fingerprint of the signing key, as
// `ssh-add -l` shows it.
func (s *Signer) Fingerprint() string { return ssh.FingerprintSHA256(s.pub) }

// Describe names the key like the type column of `ssh-add -l` followed by its
// fingerprint, e.g. "ED25519 SHA256:…" or "ECDSA-SK-CERT SHA256:…".
func (s *Signer) Describe() string {
	return typeLabel(s.agentKey) + " " + s.Fingerprint()
}

// typeLabel mirrors OpenSSH's sshkey_type() names.
func typeLabel(key ssh.PublicKey) string {
	suffix := ""
	if _, ok := key.(*ssh.Certificate); ok {
		suffix = "-CERT"
	}
	var label string
	switch PlainKey(key).Type() {
	case ssh.KeyAlgoED25519:
		label = "ED25519"
	case ssh.KeyAlgoSKED25519:
		label = "ED25519-SK"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		label = "ECDSA"
	case ssh.KeyAlgoSKECDSA256:
		label = "ECDSA-SK"
	case ssh.KeyAlgoRSA:
		label = "RSA"
	case ssh.InsecureKeyAlgoDSA:
		label = "DSA"
	default:
		label = "UNKNOWN"
	}
	return label + suffix
}

// NeedsTouch reports whether the key lives on a FIDO security key, so the
// agent waits for a touch before it signs.
func (s *Signer) NeedsTouch() bool {
	switch s.pub.Type() {
	case ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return true
	}
	return false
}

// Sign returns the armored SSHSIG signature of message under Namespace. The
// agent may wait for a FIDO touch; when ctx ends first Sign returns ctx.Err()
// at once, and the agent call still under way ends when the caller closes the
// agent connection (as a Source's caller does). The signature is checked
// against the key before it is returned, so a misbehaving agent cannot make
// jitdesk record a signature that does not verify.
func (s *Signer) Sign(ctx context.Context, message []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The agent call may outlive this function; it must not read a buffer
	// the caller reuses.
	msg := bytes.Clone(message)
	type result struct {
		armored []byte
		err     error
	}
	done := make(chan result, 1)
	go func() {
		sig, err := sshsig.Sign(bytes.NewReader(msg), agentSigner{s}, hash, Namespace)
		if err != nil {
			done <- result{err: fmt.Errorf("keysign: SSH agent did not sign with %s: %w", s.Describe(), err)}
			return
		}
		if err := sshsig.Verify(bytes.NewReader(msg), sig, s.pub, hash, Namespace); err != nil {
			done <- result{err: fmt.Errorf("keysign: SSH agent returned a signature that does not verify with %s: %w", s.Describe(), err)}
			return
		}
		done <- result{armored: sshsig.Armor(sig)}
	}()
	select {
	case r := <-done:
		return r.armored, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// agentSigner is the ssh.AlgorithmSigner sshsig needs, backed by the agent.
// It reports the plain key so that signatures embed it.
type agentSigner struct{ s *Signer }

func (a agentSigner) PublicKey() ssh.PublicKey { return a.s.pub }

func (a agentSigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	return a.s.ag.SignWithFlags(a.s.agentKey, data, 0)
}

func (a agentSigner) SignWithAlgorithm(_ io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	var flags agent.SignatureFlags
	switch algorithm {
	case ssh.KeyAlgoRSASHA512:
		flags = agent.SignatureFlagRsaSha512
	case ssh.KeyAlgoRSASHA256:
		flags = agent.SignatureFlagRsaSha256
	case "", a.s.pub.Type():
	default:
		return nil, fmt.Errorf("signature algorithm %q not supported", algorithm)
	}
	sig, err := a.s.ag.SignWithFlags(a.s.agentKey, data, flags)
	if err != nil {
		return nil, err
	}
	// Old agents ignore the flags and answer with SHA-1 "ssh-rsa", which
	// SSHSIG forbids.
	if flags != 0 && sig.Format != algorithm {
		return nil, fmt.Errorf("agent answered with %q, not %q", sig.Format, algorithm)
	}
	return sig, nil
}

// parse unarmors a signature, wrapping any failure in ErrBadSignature.
func parse(armored []byte) (*sshsig.Signature, error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed SSHSIG: %v", ErrBadSignature, err)
	}
	return sig, nil
}

// Verify checks the armored SSHSIG signature over message under Namespace
// and returns the public key embedded in it. It says nothing about whose key
// that is: compare it with the key the approver had registered (or use
// VerifyKey). Every failure wraps ErrBadSignature.
func Verify(armored, message []byte) (ssh.PublicKey, error) {
	sig, err := parse(armored)
	if err != nil {
		return nil, err
	}
	if sig.Namespace != Namespace {
		return nil, fmt.Errorf("%w: namespace %q, want %q", ErrBadSignature, sig.Namespace, Namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(message), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return nil, fmt.Errorf("%w: by %s: %v", ErrBadSignature, KeyFingerprint(sig.PublicKey), err)
	}
	return sig.PublicKey, nil
}

// VerifyKey is Verify that also requires the signature to embed want's plain
// key (want may be a certificate: its certified key is compared). A valid
// signature by another key wraps ErrWrongKey.
func VerifyKey(armored, message []byte, want ssh.PublicKey) error {
	got, err := Verify(armored, message)
	if err != nil {
		return err
	}
	if !bytes.Equal(got.Marshal(), PlainKey(want).Marshal()) {
		return fmt.Errorf("%w: signed by %s, want %s", ErrWrongKey, KeyFingerprint(got), KeyFingerprint(want))
	}
	return nil
}

// Fingerprint returns the SHA256 fingerprint of the key embedded in an armored
// signature, without verifying it: for display only. A malformed signature
// wraps ErrBadSignature.
func Fingerprint(armored []byte) (string, error) {
	sig, err := parse(armored)
	if err != nil {
		return "", err
	}
	return KeyFingerprint(sig.PublicKey), nil
}

// maxPrincipal bounds a principal; OpenSSH has no limit, logins are short.
const maxPrincipal = 256

// AllowedSignersLine returns the allowed_signers line (see ssh-keygen(1),
// ALLOWED SIGNERS) that lets `ssh-keygen -Y verify -I principal -n
// jitdesk-decision` accept signatures by key, without a trailing newline:
//
//	alice namespaces="jitdesk-decision" ssh-ed25519 AAAA…
//
// A certificate is written as its plain key, matching what Sign embeds.
//
// The principal is refused (ErrUnsafePrincipal), never escaped: OpenSSH reads
// the field as a comma-separated pattern list where '*', '?' and a leading
// '!' are wildcards and negation, and its quoting has no escape for '"', so
// "bob,*" would let every identity verify and no quoting prevents it. Allowed
// are ASCII letters and digits and "._@+-" (which cover jitdesk logins and
// e-mail addresses), 1 to 256 bytes, not starting with '-'.
func AllowedSignersLine(principal string, key ssh.PublicKey) (string, error) {
	if err := checkPrincipal(principal); err != nil {
		return "", err
	}
	if key == nil {
		return "", errors.New("keysign: allowed_signers line without a key")
	}
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(PlainKey(key))))
	return principal + ` namespaces="` + Namespace + `" ` + authorized, nil
}

func checkPrincipal(p string) error {
	if p == "" || len(p) > maxPrincipal {
		return fmt.Errorf("%w: length %d, want 1 to %d", ErrUnsafePrincipal, len(p), maxPrincipal)
	}
	if p[0] == '-' {
		return fmt.Errorf("%w: %q starts with '-'", ErrUnsafePrincipal, p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._@+-", c) >= 0:
		default:
			return fmt.Errorf("%w: %q holds byte 0x%02x at %d", ErrUnsafePrincipal, p, c, i)
		}
	}
	return nil
}
