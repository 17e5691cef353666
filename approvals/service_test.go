package approvals_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/tokens"
)

var t0 = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	svc   *approvals.Service
	db    testStore
	be    *backend
	clock *approvals.ManualClock
	app   approvals.Application
}

// newFixture builds a service over a fresh database with one application,
// approvers alice (sre), bob (sre), carol (dba), dave (no groups) and the
// templates "k8s" (approve, group sre), "db" (sign and approve, carol+bob)
// and "iam" (approve, quorum 2, alice+bob+carol).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	be := newBackend(t)
	db := be.open(t)
	clock := approvals.NewManualClock(t0)
	f := &fixture{t: t, ctx: context.Background(), db: db, be: be, clock: clock, svc: approvals.New(db, approvals.Options{Clock: clock, Issuer: "https://jitdesk.test"})}
	if _, err := f.svc.Init(f.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	var err error
	f.app, err = f.svc.CreateApplication(f.ctx, "test", "payments", "https://payments.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []approvals.Approver{
		{Login: "alice", Name: "Alice Example", Groups: []string{"sre"}},
		{Login: "bob", Name: "Bob Builder", Groups: []string{"sre"}},
		{Login: "carol", Name: "Carol Danvers", Groups: []string{"dba"}},
		{Login: "dave", Name: "Dave Nobody"},
	} {
		if err := f.svc.AddApprover(f.ctx, "test", a); err != nil {
			t.Fatal(err)
		}
	}
	f.template(approvals.Template{Key: "k8s", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"}, DefaultTTL: 30 * time.Minute, MaxTTL: 2 * time.Hour, PendingTimeout: time.Hour,
		Fields: []approvals.MetadataField{{Name: "namespace", Required: true}, {Name: "ticket", Default: "none"}}})
	f.template(approvals.Template{Key: "db", Title: "Prod DB write", Type: approvals.TypeSignAndApprove, Approvers: []string{"carol", "bob"}, MinReason: 10})
	f.template(approvals.Template{Key: "iam", Title: "IAM admin", Type: approvals.TypeApprove, Approvers: []string{"alice", "bob", "carol"}, Quorum: 2})
	return f
}

func (f *fixture) template(t approvals.Template) {
	f.t.Helper()
	t.AppID = f.app.Name
	if err := f.svc.AddTemplate(f.ctx, "test", t); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) submit(tmpl, requester string, meta map[string]string) approvals.Request {
	f.t.Helper()
	r, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: tmpl, Requester: requester, Reason: "investigate the incident INC-1", Metadata: meta})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) detail(id string) approvals.Detail {
	f.t.Helper()
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) approve(id, login string) (approvals.Outcome, error) {
	return f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: id, Approver: login, Digest: f.detail(id).Digest})
}

func (f *fixture) typedSig(id, login, name, text string, ttl time.Duration) *signature.Signature {
	d := f.detail(id)
	if ttl == 0 {
		ttl = d.Request.TTL
	}
	s := signature.TypedSignature(login, name, text, approvals.Meaning(d.Request, d.Template, ttl), f.clock.Now(), d.Digest)
	return &s
}

func TestApproveWithQuorumOfOneIssuesAVerifiableToken(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "checkout"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if out.Grant == nil || out.Token == "" || out.Request.Status != approvals.StatusApproved {
		t.Fatalf("approval did not complete: %+v", out)
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "https://payments.test")
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	c := v.Claims
	if c.Subject != "mallory" || c.ID != out.Grant.ID || c.Scope != "k8s" || c.ClientID != f.app.ID || c.Issuer != "https://jitdesk.test" {
		t.Fatalf("claims: %+v", c)
	}
	if c.JIT.RequestID != r.ID || len(c.JIT.Approvers) != 1 || c.JIT.Approvers[0] != "alice" || c.JIT.RequestDigest != f.detail(r.ID).Digest {
		t.Fatalf("jit claim: %+v", c.JIT)
	}
	if got := f.detail(r.ID); got.Request.Status != approvals.StatusApproved || got.Grant == nil || got.Request.DecidedBy != "alice" {
		t.Fatalf("stored: %+v", got.Request)
	}
}

func TestGrantClockStartsAtApprovalNotAtRequest(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "checkout"})
	f.clock.Advance(40 * time.Minute)
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(40*time.Minute + 30*time.Minute); !out.Grant.ExpiresAt.Equal(want) {
		t.Fatalf("grant expires %s, want %s", out.Grant.ExpiresAt, want)
	}
}

func TestQuorumNeedsDistinctApproversAndOneReviewEach(t *testing.T) {
	f := newFixture(t)
	r := f.submit("iam", "mallory", nil)
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if out.Grant != nil || out.Remaining != 1 || f.detail(r.ID).Request.Status != approvals.StatusPending {
		t.Fatalf("first of two approvals must not approve: %+v", out)
	}
	if _, err := f.approve(r.ID, "alice"); !errors.Is(err, approvals.ErrAlreadyReviewed) {
		t.Fatalf("second review by alice: got %v, want ErrAlreadyReviewed", err)
	}
	out, err = f.approve(r.ID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if out.Grant == nil {
		t.Fatal("second distinct approval must approve")
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Claims.JIT.Approvers, ",") != "alice,carol" {
		t.Fatalf("approvers claim %v", v.Claims.JIT.Approvers)
	}
}

func TestRequesterCannotApproveOwnRequest(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "alice", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "alice"); !errors.Is(err, approvals.ErrSelfApproval) {
		t.Fatalf("got %v, want ErrSelfApproval", err)
	}
}

func TestOnlyTemplateApproversAndGroupMembersAreEligible(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	for _, login := range []string{"dave", "carol", "nobody"} {
		if _, err := f.approve(r.ID, login); !errors.Is(err, approvals.ErrNotEligible) {
			t.Errorf("%s: got %v, want ErrNotEligible", login, err)
		}
	}
	if _, err := f.approve(r.ID, "bob"); err != nil {
		t.Fatalf("bob is in group sre: %v", err)
	}
}

func TestDenyNeedsACommentAndEndsTheRequest(t *testing.T) {
	f := newFixture(t)
	r := f.submit("iam", "mallory", nil)
	d := f.detail(r.ID)
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, Comment: "  "}); !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("empty comment: got %v", err)
	}
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, Comment: "use the replica"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.approve(r.ID, "bob")
	if !errors.Is(err, approvals.ErrNotPending) {
		t.Fatalf("approve after deny: got %v", err)
	}
	if !strings.Contains(err.Error(), "denied by alice at 2026-11-28T14:00:00Z") {
		t.Fatalf("error must say who decided and when: %v", err)
	}
}

func TestExpiredRequestCannotBeApprovedEvenBeforeASweep(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	f.clock.Advance(time.Hour)
	_, err := f.approve(r.ID, "alice")
	if !errors.Is(err, approvals.ErrExpired) || !strings.Contains(err.Error(), "2026-11-28T15:00:00Z") {
		t.Fatalf("got %v, want ErrExpired naming the expiry time", err)
	}
}

func TestDecisionOnAChangedRequestIsRefused(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	_, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: strings.Repeat("0", 64)})
	if !errors.Is(err, approvals.ErrDigestMismatch) {
		t.Fatalf("got %v", err)
	}
	if _, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice"}); !errors.Is(err, approvals.ErrDigestMismatch) {
		t.Fatalf("missing digest: got %v", err)
	}
}

func TestSignAndApproveNeedsAValidBoundSignature(t *testing.T) {
	f := newFixture(t)
	r := f.submit("db", "mallory", nil)
	d := f.detail(r.ID)
	cases := []struct {
		name string
		sig  *signature.Signature
		want error
	}{
		{"missing", nil, approvals.ErrSignatureRequired},
		{"someone else's name", f.typedSig(r.ID, "carol", "Carol Danvers", "Bob Builder", 0), approvals.ErrSignatureRequired},
		{"signed as another approver", f.typedSig(r.ID, "bob", "Bob Builder", "Bob Builder", 0), approvals.ErrSignatureRequired},
		{"other request version", func() *signature.Signature {
			s := f.typedSig(r.ID, "carol", "Carol Danvers", "carol danvers", 0)
			s.RequestDigest = strings.Repeat("a", 64)
			return s
		}(), approvals.ErrDigestMismatch},
		{"wrong meaning", func() *signature.Signature {
			s := f.typedSig(r.ID, "carol", "Carol Danvers", "carol danvers", 0)
			s.Meaning = "I approve nothing"
			return s
		}(), approvals.ErrSignatureRequired},
	}
	for _, c := range cases {
		_, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "carol", Digest: d.Digest, Signature: c.sig})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if f.detail(r.ID).Request.Status != approvals.StatusPending {
		t.Fatal("a refused signature must leave the request pending")
	}
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "carol", Digest: d.Digest, Signature: f.typedSig(r.ID, "carol", "Carol Danvers", "  carol   DANVERS ", 0)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Claims.JIT.SignatureDigests) != 1 || v.Claims.JIT.ApprovalType != "sign_and_approve" {
		t.Fatalf("token must carry the signature digest: %+v", v.Claims.JIT)
	}
}

func TestTTLIsDefaultedAndCappedByTheTemplate(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if r.TTL != 30*time.Minute {
		t.Fatalf("default ttl %s", r.TTL)
	}
	_, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "m", Reason: "because of reasons", TTL: 3 * time.Hour, Metadata: map[string]string{"namespace": "x"}})
	if !errors.Is(err, approvals.ErrInvalid) || !strings.Contains(err.Error(), "exceeds the template's maximum of 2h") {
		t.Fatalf("over max: %v", err)
	}
}

func TestApproverMayShortenButNeverLengthenTheGrant(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	d := f.detail(r.ID)
	_, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, TTL: time.Hour})
	if !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("longer ttl: %v", err)
	}
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Grant.ExpiresAt.Sub(out.Grant.IssuedAt); got != 10*time.Minute {
		t.Fatalf("grant lasts %s", got)
	}
}

func TestRequestInputRulesNameTheProblem(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		in   approvals.NewRequest
		want string
	}{
		{"short reason", approvals.NewRequest{TemplateKey: "db", Requester: "m", Reason: " .  "}, "at least 10 characters"},
		{"unknown metadata", approvals.NewRequest{TemplateKey: "k8s", Requester: "m", Reason: "reason", Metadata: map[string]string{"namespace": "x", "evil": "1"}}, `metadata key "evil" is not a field`},
		{"missing required", approvals.NewRequest{TemplateKey: "k8s", Requester: "m", Reason: "reason"}, `"namespace" is required`},
		{"no requester", approvals.NewRequest{TemplateKey: "iam", Reason: "reason"}, "requester is required"},
		{"unknown template", approvals.NewRequest{TemplateKey: "nope", Requester: "m", Reason: "reason"}, "not found"},
		{"another app's template", approvals.NewRequest{AppID: "app_other", TemplateKey: "iam", Requester: "m", Reason: "reason"}, "not found"},
	}
	for _, c := range cases {
		_, err := f.svc.Submit(f.ctx, c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestApprovalWritesNothingWhenTokenIssuanceFails(t *testing.T) {
	db := newBackend(t).open(t)
	ctx := context.Background()
	svc := approvals.New(db, approvals.Options{Clock: approvals.NewManualClock(t0)})
	// No Init: there is no signing key, so issuing the token must fail.
	app, _ := svc.CreateApplication(ctx, "t", "a", "aud")
	_ = svc.AddApprover(ctx, "t", approvals.Approver{Login: "alice", Name: "Alice"})
	if err := svc.AddTemplate(ctx, "t", approvals.Template{Key: "k", AppID: app.ID, Title: "T", Type: approvals.TypeApprove, Approvers: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k", Requester: "m", Reason: "why not"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := svc.VerifyAudit(ctx)
	d, _ := svc.Get(ctx, r.ID)
	if _, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest}); err == nil {
		t.Fatal("approval without a signing key must fail")
	}
	after, _ := svc.Get(ctx, r.ID)
	if after.Request.Status != approvals.StatusPending || len(after.Reviews) != 0 || after.Request.Approvals != 0 {
		t.Fatalf("half-written approval: %+v reviews=%d", after.Request, len(after.Reviews))
	}
	if rep, _ := svc.VerifyAudit(ctx); rep.Events != before.Events {
		t.Fatalf("audit grew from %d to %d on a failed approval", before.Events, rep.Events)
	}
}

func TestRevokedTokenNoLongerVerifies(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: r.ID, Approver: "dave", Reason: "x"}); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("ineligible revoke: %v", err)
	}
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: r.ID, Approver: "bob", Reason: "incident over"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyToken(f.ctx, out.Token, ""); !errors.Is(err, tokens.ErrRevoked) {
		t.Fatalf("revoked token: got %v", err)
	}
	if _, err := f.svc.Token(f.ctx, r.ID, f.app.ID); !errors.Is(err, approvals.ErrRevoked) {
		t.Fatalf("token of revoked grant: %v", err)
	}
}

func TestTokenExpiresWithTheInjectedClock(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(31 * time.Minute)
	if _, err := f.svc.VerifyToken(f.ctx, out.Token, ""); err == nil {
		t.Fatal("token verified after its expiry")
	}
}

func TestKeyRotationKeepsOldKeyPublishedUntilItsTokensExpire(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	old, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.RotateKey(f.ctx, "test", "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if !k.ActivatesAt.Equal(f.clock.Now().Add(approvals.JWKSMaxAge)) {
		t.Fatalf("the rotated key signs from %s, want one JWKS max-age (%s) from now", k.ActivatesAt, approvals.JWKSMaxAge)
	}
	if _, err := f.svc.VerifyToken(f.ctx, old.Token, ""); err != nil {
		t.Fatalf("token of the retired key must still verify: %v", err)
	}
	jwks, _ := f.svc.JWKS(f.ctx)
	if len(jwks.Keys) != 2 {
		t.Fatalf("jwks has %d keys, want old and the staged new one", len(jwks.Keys))
	}
	// Staged: until every cached key set can have seen the new key, the old
	// one keeps signing.
	r1 := f.submit("k8s", "mallory", map[string]string{"namespace": "w"})
	during, err := f.approve(r1.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if during.Grant.Kid != old.Grant.Kid {
		t.Fatalf("during the stage the grant was signed by %s, want the old key %s", during.Grant.Kid, old.Grant.Kid)
	}
	f.clock.Advance(approvals.JWKSMaxAge)
	r2 := f.submit("k8s", "mallory", map[string]string{"namespace": "y"})
	newer, err := f.approve(r2.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if newer.Grant.Kid != k.Kid {
		t.Fatalf("new grant signed by %s, want the rotated key %s", newer.Grant.Kid, k.Kid)
	}
	// The old key's last token expires 30m after it was signed; the key
	// stays published an hour longer (the publication slack that spares a
	// write per grant).
	f.clock.Advance(31 * time.Minute)
	if jwks, _ = f.svc.JWKS(f.ctx); len(jwks.Keys) != 2 {
		t.Fatalf("within the publication slack the old key is gone: %+v", jwks.Keys)
	}
	f.clock.Advance(time.Hour)
	jwks, _ = f.svc.JWKS(f.ctx)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != k.Kid {
		t.Fatalf("after expiry only the active key is published, got %+v", jwks.Keys)
	}
}

func TestKeysActivateSignsWithTheStagedKeyNowAndOneRotationIsPendingAtATime(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.ActivateKey(f.ctx, "test"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("activate with nothing staged: %v", err)
	}
	first := f.submit("k8s", "mallory", map[string]string{"namespace": "w"})
	if _, err := f.approve(first.ID, "alice"); err != nil { // a live token of the key to be replaced
		t.Fatal(err)
	}
	k, err := f.svc.RotateKey(f.ctx, "test", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RotateKey(f.ctx, "test", "EdDSA"); !errors.Is(err, approvals.ErrRotationPending) || !strings.Contains(err.Error(), "keys activate") {
		t.Fatalf("a second rotation while one is staged: %v", err)
	}
	keys, _ := f.svc.Keys(f.ctx)
	var pending, active int
	for _, ki := range keys {
		if ki.Pending {
			pending++
		}
		if ki.Active {
			active++
		}
	}
	if pending != 1 || active != 1 {
		t.Fatalf("keys while staged: %+v", keys)
	}
	if _, err := f.svc.ActivateKey(f.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if out.Grant.Kid != k.Kid {
		t.Fatalf("after keys activate the grant was signed by %s, want %s", out.Grant.Kid, k.Kid)
	}
	if jwks, _ := f.svc.JWKS(f.ctx); len(jwks.Keys) != 2 {
		t.Fatalf("the replaced key must stay published while its token lives: %+v", jwks.Keys)
	}
}

func TestAuthenticateIntakeBurnsTheJTI(t *testing.T) {
	f := newFixture(t)
	tok, err := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, "mallory", "j1"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.AuthenticateIntake(f.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.AppID != f.app.ID || c.Subject != "mallory" {
		t.Fatalf("caller %+v", c)
	}
	if _, err := f.svc.AuthenticateIntake(f.ctx, tok); !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("replay: got %v", err)
	}
}

func intakeClaims(app, sub, jti string) tokens.IntakeClaims {
	var c tokens.IntakeClaims
	c.Issuer, c.Subject, c.ID = app, sub, jti
	c.Audience = []string{"https://jitdesk.test"}
	c.IssuedAt = jwtDate(t0)
	c.ExpiresAt = jwtDate(t0.Add(2 * time.Minute))
	return c
}

func TestSweeperExpiresDueRequestsOnceEvenWhenSweepersRace(t *testing.T) {
	f := newFixture(t)
	r1 := f.submit("k8s", "mallory", map[string]string{"namespace": "x"}) // 1h pending timeout
	r2 := f.submit("iam", "mallory", nil)                                 // 24h
	f.clock.Advance(time.Hour)
	other := approvals.New(f.db, approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test"})
	var n1, n2 int
	var e1, e2 error
	done := make(chan struct{})
	go func() { n1, e1 = other.ExpireDue(f.ctx); close(done) }()
	n2, e2 = f.svc.ExpireDue(f.ctx)
	<-done
	if e1 != nil || e2 != nil || n1+n2 != 1 {
		t.Fatalf("sweeps moved %d+%d (errors %v %v), want exactly 1", n1, n2, e1, e2)
	}
	d := f.detail(r1.ID)
	if d.Request.Status != approvals.StatusExpired || d.Request.DecidedBy != approvals.SystemSweeper {
		t.Fatalf("r1: %+v", d.Request)
	}
	if f.detail(r2.ID).Request.Status != approvals.StatusPending {
		t.Fatal("r2 is not due yet")
	}
	if _, err := f.approve(r1.ID, "alice"); !errors.Is(err, approvals.ErrNotPending) || !strings.Contains(err.Error(), "expired by system") {
		t.Fatalf("approve expired: %v", err)
	}
}

func TestStoredSignaturesReadBackAndMatchTheirDigests(t *testing.T) {
	f := newFixture(t)
	r := f.submit("db", "mallory", nil)
	d := f.detail(r.ID)
	sig := f.typedSig(r.ID, "carol", "Carol Danvers", "Carol Danvers", 0)
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "carol", Digest: d.Digest, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := f.svc.Signatures(f.ctx, r.ID)
	if err != nil || len(sigs) != 1 || sigs[0].Text != "Carol Danvers" || sigs[0].Approver != "carol" {
		t.Fatalf("signatures: %+v %v", sigs, err)
	}
	v, _ := f.svc.VerifyToken(f.ctx, out.Token, "")
	if got, _ := sigs[0].Digest(); len(v.Claims.JIT.SignatureDigests) != 1 || v.Claims.JIT.SignatureDigests[0] != got {
		t.Fatalf("the token's signature digest %v is not the stored signature's %s", v.Claims.JIT.SignatureDigests, got)
	}
}
