package approvals

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/keysign"
)

// A key signature is a decision signed with the approver's own SSH key, in
// OpenSSH's SSHSIG format, over a canonical statement of the decision. A
// drawn or typed signature shows intent; a key signature proves which key
// was used, and anyone can check it offline with `ssh-keygen -Y verify`.

// keyStatementHeader opens every statement and names its version: a
// verifier that meets another header knows it cannot read the rest.
const keyStatementHeader = "jitdesk decision statement v1"

// MaxKeySignatureBytes bounds the armored SSHSIG a decision may carry
// (an RSA-4096 signature is about 1.3 KiB armored).
const MaxKeySignatureBytes = 8 << 10

// KeyStatement is what an approver's SSH key signs: the request and the
// version of it reviewed, the decision, who, when, and the meaning text.
type KeyStatement struct {
	RequestID string
	Digest    string // the request digest reviewed (Detail.Digest)
	Decision  Decision
	Approver  string
	At        time.Time
	// TTL is the grant lifetime agreed to (approvals only).
	TTL time.Duration
	// Meaning is the sentence the decision means, as a person reads it.
	Meaning string
}

// Canonical is the statement's one byte form, the bytes the key signs:
// one "name: value" line each, in a fixed order, UTF-8, LF line ends. A
// value that could break its line (a control character) is written as a
// Go quoted string, so the form stays one line per field whatever the
// request held.
func (k KeyStatement) Canonical() []byte {
	var b bytes.Buffer
	b.WriteString(keyStatementHeader + "\n")
	line := func(name, v string) {
		b.WriteString(name + ": " + statementValue(v) + "\n")
	}
	line("request", k.RequestID)
	line("digest", k.Digest)
	line("decision", string(k.Decision))
	line("approver", k.Approver)
	line("at", k.At.UTC().Format(time.RFC3339))
	if k.Decision == DecisionApprove {
		line("ttl", FormatDuration(k.TTL))
	}
	line("meaning", k.Meaning)
	return b.Bytes()
}

// statementValue writes v as is when it is plain printable text, quoted
// otherwise (so no value can add a line or hide one).
func statementValue(v string) string {
	if strings.HasPrefix(v, `"`) || strings.TrimSpace(v) != v {
		return strconv.Quote(v)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return strconv.Quote(v)
		}
	}
	return v
}

// ParseKeyStatement reads a canonical statement back; anything that is not
// exactly the canonical form of what it parses to is refused, so one
// decision has one statement.
func ParseKeyStatement(b []byte) (KeyStatement, error) {
	bad := func(format string, args ...any) (KeyStatement, error) {
		return KeyStatement{}, fmt.Errorf("%w: key statement: %s", ErrKeySignatureInvalid, fmt.Sprintf(format, args...))
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n") {
		return bad("does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) == 0 || lines[0] != keyStatementHeader {
		return bad("does not start with %q", keyStatementHeader)
	}
	fields := map[string]string{}
	for _, l := range lines[1:] {
		name, v, ok := strings.Cut(l, ": ")
		if !ok {
			return bad("line %q is not \"name: value\"", l)
		}
		if _, dup := fields[name]; dup {
			return bad("field %q appears twice", name)
		}
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return bad("field %q: %v", name, err)
			}
			v = u
		}
		fields[name] = v
	}
	k := KeyStatement{RequestID: fields["request"], Digest: fields["digest"], Decision: Decision(fields["decision"]), Approver: fields["approver"], Meaning: fields["meaning"]}
	at, err := time.Parse(time.RFC3339, fields["at"])
	if err != nil {
		return bad("at: %v", err)
	}
	k.At = at.UTC()
	if k.Decision == DecisionApprove {
		if k.TTL, err = ParseDuration(fields["ttl"]); err != nil {
			return bad("ttl: %v", err)
		}
	}
	if !bytes.Equal(k.Canonical(), b) {
		return bad("is not in canonical form")
	}
	return k, nil
}

// KeySignature is a decision's SSHSIG as the console or CLI sends it.
type KeySignature struct {
	// Statement is KeyStatement.Canonical exactly as signed.
	Statement []byte
	// Armored is the SSHSIG signature ("-----BEGIN SSH SIGNATURE-----").
	Armored []byte
	// Certificate is the authorized_keys form of the SSH certificate whose
	// key signed, when the approver logged in by certificate; "" for a
	// registered key.
	Certificate string
}

// StoredKeySignature is a key signature as persisted with its review.
type StoredKeySignature struct {
	// Digest is the hex SHA-256 of the armored signature; the review, the
	// audit event and the token's jit claim name it.
	Digest    string
	RequestID string
	Approver  string
	Decision  Decision
	Statement []byte
	Armored   []byte
	// Fingerprint and PublicKey (authorized_keys form) are the key that
	// signed; Certificate is set when it was a certificate's key.
	Fingerprint string
	PublicKey   string
	Certificate string
	SignedAt    time.Time
}

// KeySignatureDigest is the digest under which an armored SSHSIG is stored
// and referenced.
func KeySignatureDigest(armored []byte) string {
	sum := sha256.Sum256(armored)
	return hex.EncodeToString(sum[:])
}

// KeyStatementInput says which decision a statement is for.
type KeyStatementInput struct {
	RequestID string
	Approver  string
	Digest    string
	Decision  Decision
	// TTL is the grant lifetime an approval agrees to; 0 is what was asked.
	TTL time.Duration
}

// denyMeaning is the sentence a key-signed denial means.
func denyMeaning(r Request, t Template) string {
	return fmt.Sprintf("I deny JIT access for %s to %s — request %s", r.Requester, t.Title, r.ID)
}

// KeyStatement returns the exact bytes an approver's key signs to make
// this decision now (stamped with the service clock). It checks nothing
// but that the request exists: the decision itself applies every rule.
func (s *Service) KeyStatement(ctx context.Context, in KeyStatementInput) ([]byte, error) {
	if in.Decision != DecisionApprove && in.Decision != DecisionDeny {
		return nil, invalidf("key statement: decision %q is not approve or deny", in.Decision)
	}
	var out []byte
	err := s.store.View(ctx, func(tx ReadTx) error {
		req, err := tx.Request(in.RequestID)
		if err != nil {
			return err
		}
		t, err := termsOf(tx, req)
		if err != nil {
			return err
		}
		k := KeyStatement{RequestID: req.ID, Digest: in.Digest, Decision: in.Decision, Approver: in.Approver, At: s.Now().Truncate(time.Second)}
		if in.Decision == DecisionApprove {
			k.TTL = req.TTL
			if in.TTL != 0 {
				k.TTL = in.TTL
			}
			k.Meaning = Meaning(req, t, k.TTL)
		} else {
			k.Meaning = denyMeaning(req, t)
		}
		out = k.Canonical()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("key statement for %s: %w", in.RequestID, err)
	}
	return out, nil
}

// keySignatureHelp is what an approver is told when a template requires a
// key signature and the decision has none.
const keySignatureHelp = "connect with `ssh -A` (agent forwarding) or, locally, run `ssh-add` so $SSH_AUTH_SOCK holds the key you registered with jitdesk"

// checkKeySignature applies the key-signature rule of a decision: required
// by the template, or offered; bound to this request, version, decision,
// approver, meaning and time; made by a key the approver holds now (a
// registered, active key, or a certificate the user CA vouches for).
func (s *Service) checkKeySignature(ks *KeySignature, req Request, t Template, a Approver, d Decision, digest string, grantTTL time.Duration, now time.Time) (*StoredKeySignature, error) {
	if ks == nil {
		if t.RequireKeySignature {
			return nil, fmt.Errorf("%w: template %s requires decisions signed with your SSH key; %s", ErrKeySignatureRequired, t.Key, keySignatureHelp)
		}
		return nil, nil
	}
	if len(ks.Armored) > MaxKeySignatureBytes || len(ks.Statement) > 16<<10 {
		return nil, fmt.Errorf("%w: the signature or statement is too large", ErrKeySignatureInvalid)
	}
	k, err := ParseKeyStatement(ks.Statement)
	if err != nil {
		return nil, err
	}
	want := KeyStatement{RequestID: req.ID, Digest: digest, Decision: d, Approver: a.Login, At: k.At}
	if d == DecisionApprove {
		want.TTL, want.Meaning = grantTTL, Meaning(req, t, grantTTL)
	} else {
		want.Meaning = denyMeaning(req, t)
	}
	if !bytes.Equal(want.Canonical(), ks.Statement) {
		return nil, fmt.Errorf("%w: the signed statement is not this decision (request, version, decision, approver, ttl or meaning differ); sign again", ErrKeySignatureInvalid)
	}
	if age := now.Sub(k.At); age > MaxSignatureAge || age < -MaxSignatureAge {
		return nil, fmt.Errorf("%w: signed at %s, more than %s from now; sign again", ErrKeySignatureInvalid, k.At.Format(time.RFC3339), MaxSignatureAge)
	}
	pub, err := keysign.Verify(ks.Armored, ks.Statement)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySignatureInvalid, err)
	}
	stored := &StoredKeySignature{
		Digest: KeySignatureDigest(ks.Armored), RequestID: req.ID, Approver: a.Login, Decision: d,
		Statement: bytes.Clone(ks.Statement), Armored: bytes.Clone(ks.Armored),
		Fingerprint: ssh.FingerprintSHA256(pub), PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), SignedAt: k.At,
	}
	if ks.Certificate != "" {
		if err := s.certificateKeyOf(ks.Certificate, pub, a, now); err != nil {
			return nil, err
		}
		stored.Certificate = strings.TrimSpace(ks.Certificate)
		return stored, nil
	}
	for _, key := range a.ActiveKeys() {
		if key.Fingerprint == stored.Fingerprint {
			return stored, nil
		}
	}
	return nil, fmt.Errorf("%w: signed with %s, which is not one of %s's registered keys", ErrKeySignatureInvalid, stored.Fingerprint, a.Login)
}

// certificateKeyOf checks that a certificate the user CA vouches for now
// names approver a and certifies pub, the key that signed.
func (s *Service) certificateKeyOf(line string, pub ssh.PublicKey, a Approver, now time.Time) error {
	parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Errorf("%w: the certificate does not parse: %v", ErrKeySignatureInvalid, err)
	}
	cert, ok := parsed.(*ssh.Certificate)
	if !ok {
		return fmt.Errorf("%w: %s is a plain key, not a certificate", ErrKeySignatureInvalid, ssh.FingerprintSHA256(parsed))
	}
	if !bytes.Equal(cert.Key.Marshal(), pub.Marshal()) && !bytes.Equal(cert.Marshal(), pub.Marshal()) {
		return fmt.Errorf("%w: the signature was not made by the certificate's key", ErrKeySignatureInvalid)
	}
	login, err := s.signerLogin(cert)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeySignatureInvalid, err)
	}
	if IdentityOf(login) != IdentityOf(a.Login) {
		return fmt.Errorf("%w: the certificate names %q, not %s", ErrKeySignatureInvalid, login, a.Login)
	}
	return nil
}

// UserCA vouches for SSH user certificates (sshca.Authority implements it):
// it returns the approver login a certificate stands for, or why not.
type UserCA interface {
	// CheckFrom checks a certificate offered to log in over a connection
	// from remote (which its source-address option, if any, must allow).
	CheckFrom(key ssh.PublicKey, remote net.Addr) (login string, err error)
	// CheckSigner checks the certificate of a key that signed a decision:
	// every check but source-address, which restricts logins.
	CheckSigner(key ssh.PublicKey) (login string, err error)
}

// ErrNoUserCA is returned for a certificate when no SSH user CA is trusted.
var ErrNoUserCA = errors.New("no SSH user CA is trusted (serve --ssh-user-ca)")

// signerLogin is the login the certificate of a decision's signing key
// stands for.
func (s *Service) signerLogin(cert *ssh.Certificate) (string, error) {
	if s.userCA == nil {
		return "", ErrNoUserCA
	}
	return s.userCA.CheckSigner(cert)
}

// ApproverByCertificate returns the active approver an SSH user certificate
// authenticates over a connection from remote: the trusted CA's checks
// (signature, validity, principal, revocation, source-address against
// remote, which may be nil when unknown: then a source-address restricted
// certificate is refused), then the approver named by its principal, who
// must exist and not be disabled.
func (s *Service) ApproverByCertificate(ctx context.Context, cert *ssh.Certificate, remote net.Addr) (Approver, error) {
	if s.userCA == nil {
		return Approver{}, ErrNoUserCA
	}
	login, err := s.userCA.CheckFrom(cert, remote)
	if err != nil {
		return Approver{}, err
	}
	a, err := s.Approver(ctx, login)
	if err != nil {
		return Approver{}, fmt.Errorf("certificate principal %q: %w", login, err)
	}
	if a.Disabled() {
		return Approver{}, fmt.Errorf("approver %s: %w", a.Login, ErrDisabled)
	}
	return a, nil
}

// KeySignatures returns the key signatures recorded for a request, in the
// order they were made.
func (s *Service) KeySignatures(ctx context.Context, requestID string) ([]StoredKeySignature, error) {
	var out []StoredKeySignature
	err := s.store.View(ctx, func(tx ReadTx) error {
		if _, err := tx.Request(requestID); err != nil {
			return err
		}
		var err error
		out, err = tx.KeySignatures(requestID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key signatures of %s: %w", requestID, err)
	}
	return out, nil
}

// verifyKeySignature re-checks a stored key signature offline: it verifies
// over its statement, with the key it names, and that key was the
// approver's at the time (registered and not yet removed, or certified).
func verifyKeySignature(ks StoredKeySignature, a Approver) error {
	pub, err := keysign.Verify(ks.Armored, ks.Statement)
	if err != nil {
		return err
	}
	if fp := ssh.FingerprintSHA256(pub); fp != ks.Fingerprint {
		return fmt.Errorf("made by %s, recorded as %s", fp, ks.Fingerprint)
	}
	if KeySignatureDigest(ks.Armored) != ks.Digest {
		return fmt.Errorf("its digest is not %s", ks.Digest)
	}
	k, err := ParseKeyStatement(ks.Statement)
	if err != nil {
		return err
	}
	if k.RequestID != ks.RequestID || k.Approver != ks.Approver || k.Decision != ks.Decision {
		return fmt.Errorf("its statement is for %s's %s of %s", k.Approver, k.Decision, k.RequestID)
	}
	if ks.Certificate != "" {
		parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ks.Certificate))
		cert, ok := parsed.(*ssh.Certificate)
		if err != nil || !ok || !bytes.Equal(cert.Key.Marshal(), pub.Marshal()) {
			return fmt.Errorf("the recorded certificate does not certify the key that signed")
		}
		return nil
	}
	for _, key := range a.SSHKeys {
		held := !key.AddedAt.Truncate(time.Second).After(k.At) && (key.Active() || !key.RemovedAt.Before(k.At))
		if key.Fingerprint == ks.Fingerprint && held {
			return nil
		}
	}
	return fmt.Errorf("%s was not one of %s's registered keys at %s", ks.Fingerprint, ks.Approver, k.At.Format(time.RFC3339))
}
