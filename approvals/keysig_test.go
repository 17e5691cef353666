package approvals_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// sshKey is an approver's SSH key held by an in-process agent.
type sshKey struct {
	ag  agent.ExtendedAgent
	pub ssh.PublicKey
}

func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ag := agent.NewKeyring().(agent.ExtendedAgent)
	if err := ag.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return sshKey{ag: ag, pub: signer.PublicKey()}
}

func (k sshKey) authorized() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub)))
}

// keySign makes the key signature of login's decision on id as the console
// would: the service's statement, signed by the agent.
func (f *fixture) keySign(k sshKey, id, login string, d approvals.Decision) *approvals.KeySignature {
	f.t.Helper()
	st, err := f.svc.KeyStatement(f.ctx, approvals.KeyStatementInput{RequestID: id, Approver: login, Digest: f.detail(id).Digest, Decision: d})
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := keysign.Choose(k.ag, []ssh.PublicKey{k.pub})
	if err != nil {
		f.t.Fatal(err)
	}
	armored, err := s.Sign(f.ctx, st)
	if err != nil {
		f.t.Fatal(err)
	}
	return &approvals.KeySignature{Statement: st, Armored: armored}
}

// keyFixture adds a template requiring key signatures, decided by alice
// and bob, and registers key as alice's.
func keyFixture(t *testing.T) (*fixture, sshKey) {
	f := newFixture(t)
	f.template(approvals.Template{Key: "vault", Title: "Vault root", Type: approvals.TypeApprove, Approvers: []string{"alice", "bob"}, RequireKeySignature: true})
	k := newSSHKey(t)
	if _, err := f.svc.AddApproverKey(f.ctx, "test", "alice", k.authorized()); err != nil {
		t.Fatal(err)
	}
	return f, k
}

func TestKeyStatementHasOneCanonicalForm(t *testing.T) {
	k := approvals.KeyStatement{RequestID: "01J", Digest: "ab12", Decision: approvals.DecisionApprove, Approver: "alice",
		At: time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC), TTL: 30 * time.Minute, Meaning: "I approve JIT access for bob to Vault root for 30m — request 01J"}
	want := "jitdesk decision statement v1\nrequest: 01J\ndigest: ab12\ndecision: approve\napprover: alice\nat: 2026-12-01T23:30:00Z\nttl: 30m\nmeaning: I approve JIT access for bob to Vault root for 30m — request 01J\n"
	if got := string(k.Canonical()); got != want {
		t.Fatalf("canonical form:\n%s\nwant:\n%s", got, want)
	}
	back, err := approvals.ParseKeyStatement(k.Canonical())
	if err != nil || !bytes.Equal(back.Canonical(), k.Canonical()) {
		t.Fatalf("round trip: %v, %+v", err, back)
	}
	// A title that tries to add a line is quoted: still one line per field.
	k.Meaning = "I approve JIT access for bob to Vault\ndecision: deny"
	c := k.Canonical()
	if strings.Count(string(c), "\n") != 8 || !strings.Contains(string(c), `meaning: "I approve JIT access for bob to Vault\ndecision: deny"`) {
		t.Fatalf("a newline in a value broke the form:\n%s", c)
	}
	if back, err := approvals.ParseKeyStatement(c); err != nil || back.Meaning != k.Meaning {
		t.Fatalf("quoted value does not read back: %v %q", err, back.Meaning)
	}
	for name, b := range map[string]string{
		"reordered":      strings.Replace(want, "request: 01J\ndigest: ab12\n", "digest: ab12\nrequest: 01J\n", 1),
		"extra space":    strings.Replace(want, "approver: alice", "approver:  alice", 1),
		"no final LF":    strings.TrimSuffix(want, "\n"),
		"other version":  strings.Replace(want, "v1", "v2", 1),
		"duplicate line": want + "approver: mallory\n",
	} {
		if _, err := approvals.ParseKeyStatement([]byte(b)); !errors.Is(err, approvals.ErrKeySignatureInvalid) {
			t.Errorf("%s: parsed (%v), want ErrKeySignatureInvalid", name, err)
		}
	}
}

func TestTemplateRequiringKeySignatureRefusesUnsignedDecisionsSayingHow(t *testing.T) {
	f, _ := keyFixture(t)
	r := f.submit("vault", "mallory", nil)
	_, err := f.approve(r.ID, "alice")
	if !errors.Is(err, approvals.ErrKeySignatureRequired) || !strings.Contains(err.Error(), "ssh -A") || !strings.Contains(err.Error(), "ssh-add") {
		t.Fatalf("unsigned approval: %v", err)
	}
	_, err = f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, Comment: "no"})
	if !errors.Is(err, approvals.ErrKeySignatureRequired) {
		t.Fatalf("unsigned denial: %v", err)
	}
	if d := f.detail(r.ID); d.Request.Status != approvals.StatusPending || len(d.Reviews) != 0 {
		t.Fatalf("a refused decision left a trace: %+v", d.Reviews)
	}
}

func TestKeySignedApprovalIsStoredAuditedAndNamedInTheToken(t *testing.T) {
	f, k := keyFixture(t)
	r := f.submit("vault", "mallory", nil)
	ks := f.keySign(k, r.ID, "alice", approvals.DecisionApprove)
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, KeySignature: ks})
	if err != nil {
		t.Fatal(err)
	}
	digest := approvals.KeySignatureDigest(ks.Armored)
	d := f.detail(r.ID)
	if len(d.Reviews) != 1 || d.Reviews[0].KeySignatureDigest != digest || d.Reviews[0].KeyFingerprint != ssh.FingerprintSHA256(k.pub) {
		t.Fatalf("review does not name the key signature: %+v", d.Reviews)
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "https://payments.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Claims.JIT.KeySignatureDigests; len(got) != 1 || got[0] != digest {
		t.Fatalf("token jit key_signature_digests = %v, want [%s]", got, digest)
	}
	stored, err := f.svc.KeySignatures(f.ctx, r.ID)
	if err != nil || len(stored) != 1 || !bytes.Equal(stored[0].Statement, ks.Statement) || stored[0].Decision != approvals.DecisionApprove {
		t.Fatalf("stored key signatures: %v %+v", err, stored)
	}
	if _, err := keysign.Verify(stored[0].Armored, stored[0].Statement); err != nil {
		t.Fatalf("stored SSHSIG does not verify: %v", err)
	}
	rep, err := f.svc.VerifyAudit(f.ctx)
	if err != nil || rep.Replay.KeySignatures != 1 {
		t.Fatalf("audit verify: %v, %d key signatures checked", err, rep.Replay.KeySignatures)
	}
	// Removing the key afterwards does not unmake the signature: it was
	// alice's when she signed.
	if _, err := f.svc.RemoveApproverKey(f.ctx, "test", "alice", k.authorized()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatalf("audit verify after the key was removed: %v", err)
	}
}

func TestKeySignedDenialIsStored(t *testing.T) {
	f, k := keyFixture(t)
	r := f.submit("vault", "mallory", nil)
	ks := f.keySign(k, r.ID, "alice", approvals.DecisionDeny)
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, Comment: "not today", KeySignature: ks}); err != nil {
		t.Fatal(err)
	}
	if d := f.detail(r.ID); d.Request.Status != approvals.StatusDenied || d.Reviews[0].KeySignatureDigest == "" {
		t.Fatalf("denial: %+v", d.Reviews)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKeySignatureIsRefusedWhenNotThisDecisionOrNotTheApproversKey(t *testing.T) {
	f, k := keyFixture(t)
	r := f.submit("vault", "mallory", nil)
	digest := f.detail(r.ID).Digest
	approve := func(ks *approvals.KeySignature) error {
		_, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: digest, KeySignature: ks})
		return err
	}
	good := f.keySign(k, r.ID, "alice", approvals.DecisionApprove)

	changed := *good
	changed.Statement = bytes.Replace(good.Statement, []byte("ttl: 1h"), []byte("ttl: 8h"), 1)
	if bytes.Equal(changed.Statement, good.Statement) {
		t.Fatalf("test statement has no ttl: 1h line:\n%s", good.Statement)
	}
	if err := approve(&changed); !errors.Is(err, approvals.ErrKeySignatureInvalid) {
		t.Fatalf("changed statement: %v", err)
	}
	resigned := *good // a signature over another decision's statement
	resigned.Statement = f.keySign(k, r.ID, "alice", approvals.DecisionDeny).Statement
	if err := approve(&resigned); !errors.Is(err, approvals.ErrKeySignatureInvalid) {
		t.Fatalf("a denial's statement on an approval: %v", err)
	}
	other := newSSHKey(t) // never registered
	if err := approve(f.keySign(other, r.ID, "alice", approvals.DecisionApprove)); !errors.Is(err, approvals.ErrKeySignatureInvalid) || !strings.Contains(err.Error(), "not one of alice's registered keys") {
		t.Fatalf("unregistered key: %v", err)
	}
	f.clock.Advance(approvals.MaxSignatureAge + time.Minute)
	if err := approve(good); !errors.Is(err, approvals.ErrKeySignatureInvalid) {
		t.Fatalf("stale statement: %v", err)
	}
	fresh := f.keySign(k, r.ID, "alice", approvals.DecisionApprove)
	if _, err := f.svc.RemoveApproverKey(f.ctx, "test", "alice", k.authorized()); err != nil {
		t.Fatal(err)
	}
	if err := approve(fresh); !errors.Is(err, approvals.ErrKeySignatureInvalid) {
		t.Fatalf("key the approver no longer holds: %v", err)
	}
	if d := f.detail(r.ID); len(d.Reviews) != 0 {
		t.Fatalf("refused key signatures left reviews: %+v", d.Reviews)
	}
}

func TestAuditVerifyOfAKeySignatureFailsForAChangedStatementOrAKeyNotHeldThen(t *testing.T) {
	f, k := keyFixture(t)
	r := f.submit("vault", "mallory", nil)
	ks := f.keySign(k, r.ID, "alice", approvals.DecisionApprove)
	if _, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, KeySignature: ks}); err != nil {
		t.Fatal(err)
	}
	stored, err := f.svc.KeySignatures(f.ctx, r.ID)
	if err != nil || len(stored) != 1 {
		t.Fatal(err, stored)
	}
	alice, err := f.svc.Approver(f.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := approvals.VerifyKeySignature(stored[0], alice); err != nil {
		t.Fatalf("untouched record: %v", err)
	}
	tampered := stored[0]
	tampered.Statement = bytes.Replace(tampered.Statement, []byte("mallory"), []byte("mallorx"), 1)
	if err := approvals.VerifyKeySignature(tampered, alice); err == nil {
		t.Fatal("a changed statement verified")
	}
	// The key was registered after the signature's time: not held then.
	later := alice
	later.SSHKeys = append([]approvals.SSHKey(nil), alice.SSHKeys...)
	for i := range later.SSHKeys {
		later.SSHKeys[i].AddedAt = stored[0].SignedAt.Add(time.Hour)
	}
	if err := approvals.VerifyKeySignature(stored[0], later); err == nil {
		t.Fatal("a key registered only after the signature verified")
	}
	bob, err := f.svc.Approver(f.ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := approvals.VerifyKeySignature(stored[0], bob); err == nil {
		t.Fatal("verified against an approver who never held the key")
	}
}

func TestDecisionWithoutKeySignatureWhereNotRequiredSaysSo(t *testing.T) {
	f, _ := keyFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if d := f.detail(r.ID); d.Reviews[0].KeySignatureDigest != "" {
		t.Fatalf("an unsigned review claims a key signature: %+v", d.Reviews[0])
	}
}
