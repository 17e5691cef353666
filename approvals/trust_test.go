package approvals_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestRequesterUnderTheIdentityProfileIsTheApprover(t *testing.T) {
	f := newFixture(t)
	// Each of these is alice to a person reading the console: case, a
	// Cyrillic "а" (U+0430), full-width letters.
	for _, sub := range []string{"Alice", "ALICE", "\u0430lice", "ａｌｉｃｅ"} {
		r := f.submit("k8s", sub, map[string]string{"namespace": "x"})
		if _, err := f.approve(r.ID, "alice"); !errors.Is(err, approvals.ErrSelfApproval) {
			t.Errorf("requester %q approved by alice: err = %v, want ErrSelfApproval", sub, err)
		}
		if err := f.svc.CanDecide(f.ctx, r.ID, "alice"); !errors.Is(err, approvals.ErrSelfApproval) {
			t.Errorf("CanDecide(%q, alice) = %v, want ErrSelfApproval", sub, err)
		}
		if _, err := f.approve(r.ID, "bob"); err != nil {
			t.Errorf("bob approving %q's request: %v", sub, err)
		}
	}
}

func TestRequesterWithFormatOrControlCharactersIsRefusedNamingTheCharacter(t *testing.T) {
	f := newFixture(t)
	for sub, want := range map[string]string{
		"alice\u200b": "U+200B (ZERO WIDTH SPACE)",
		"ali\u202ece": "U+202E (RIGHT-TO-LEFT OVERRIDE)",
		"alice\x00":   "U+0000",
		"al ice":      "not a valid identifier",
	} {
		_, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: sub, Reason: "investigate the incident INC-1", Metadata: map[string]string{"namespace": "x"}})
		if !errors.Is(err, approvals.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("requester %q: err = %v, want ErrInvalid naming %q", sub, err, want)
		}
	}
}

func TestNeedsMeLeavesOutLookAlikeRequests(t *testing.T) {
	f := newFixture(t)
	own := f.submit("k8s", "ALICE", map[string]string{"namespace": "x"})
	other := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	got, err := f.svc.List(f.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("needs me for alice = %v, want only %s (not %s, ALICE's)", ids(got), other.ID, own.ID)
	}
}

func TestTwoLoginsWithOneEmailAreOnePerson(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddApprover(f.ctx, "test", approvals.Approver{Login: "alice2", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"sre"}}); err != nil {
		t.Fatal(err)
	}
	email := "alice@example.com"
	if _, err := f.svc.UpdateApprover(f.ctx, "test", "alice", approvals.ApproverUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	// Self-approval under the other login.
	r := f.submit("k8s", "alice", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "alice2"); !errors.Is(err, approvals.ErrSelfApproval) {
		t.Fatalf("alice2 approving alice's request: %v, want ErrSelfApproval", err)
	}
	// Quorum: one person counts once.
	f.template(approvals.Template{Key: "two", Title: "Two people", Type: approvals.TypeApprove, Groups: []string{"sre"}, Quorum: 2})
	q := f.submit("two", "mallory", nil)
	if _, err := f.approve(q.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.approve(q.ID, "alice2"); !errors.Is(err, approvals.ErrAlreadyReviewed) || !strings.Contains(err.Error(), "same person") {
		t.Fatalf("alice2 after alice on a quorum of 2: %v, want ErrAlreadyReviewed (same person)", err)
	}
	if out, err := f.approve(q.ID, "bob"); err != nil || out.Grant == nil {
		t.Fatalf("bob completes the quorum: %+v, %v", out, err)
	}
}

func TestBreakGlassIsOnlyForThoseWhoCouldDecideTheTemplate(t *testing.T) {
	f := newFixture(t)
	f.template(approvals.Template{Key: "bg", Title: "Emergency shell", Type: approvals.TypeApprove, Groups: []string{"sre"}, BreakGlassMaxTTL: 15 * time.Minute})
	// dave is an approver but not in sre: he may not break glass.
	r := f.submit("bg", "dave", nil)
	if _, err := f.svc.CanBreakGlass(f.ctx, r.ID, "dave"); !errors.Is(err, approvals.ErrNotEligible) || !strings.Contains(err.Error(), "could decide it") {
		t.Fatalf("dave breaking glass: %v, want ErrNotEligible saying why", err)
	}
	// alice (sre) may.
	r2 := f.submit("bg", "alice", nil)
	if ttl, err := f.svc.CanBreakGlass(f.ctx, r2.ID, "alice"); err != nil || ttl != 15*time.Minute {
		t.Fatalf("alice breaking glass: %v %v", ttl, err)
	}
	// A break-glass group opens it to dave.
	if _, err := f.svc.UpdateTemplate(f.ctx, "test", "bg", func(t *approvals.Template) error {
		t.BreakGlassGroups = []string{"oncall-emergency"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateApprover(f.ctx, "test", "dave", approvals.ApproverUpdate{AddGroups: []string{"oncall-emergency"}}); err != nil {
		t.Fatal(err)
	}
	r3 := f.submit("bg", "dave", nil)
	if _, err := f.svc.CanBreakGlass(f.ctx, r3.ID, "dave"); err != nil {
		t.Fatalf("dave in the break-glass group: %v", err)
	}
}

func TestAnOverrideTakesThePager(t *testing.T) {
	start := t0.Add(-time.Hour)
	r := approvals.Rotation{Name: "sre", Members: []string{"alice", "bob"}, Shift: 24 * time.Hour, Start: start,
		Overrides: []approvals.Override{{Login: "carol", From: t0.Add(-time.Minute), Until: t0.Add(2 * time.Hour)}}}
	if who, _ := r.OnCallAt(t0); who != "carol" {
		t.Fatalf("on call during the override: %s", who)
	}
	if d, _ := r.Distance("carol", t0); d != 0 {
		t.Fatalf("carol's distance = %d, want 0", d)
	}
	if d, ok := r.Distance("alice", t0); !ok || d == 0 {
		t.Fatalf("alice (scheduled) is at distance %d during carol's override, want > 0", d)
	}
	sh := r.ShiftAt(t0)
	if sh.Until != t0.Add(2*time.Hour) || sh.Next != "alice" {
		t.Fatalf("next after the override: %s at %s, want alice at %s", sh.Next, sh.Until, t0.Add(2*time.Hour))
	}
}

func TestOverrideHolderAloneIsEligibleOnCall(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "pager", Members: []string{"alice", "bob"}, Shift: 24 * time.Hour, Start: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.template(approvals.Template{Key: "oc", Title: "On call only", Type: approvals.TypeApprove, OnCall: []string{"pager"}})
	if err := f.svc.OverrideOnCall(f.ctx, "test", "pager", "carol", time.Time{}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := f.submit("oc", "mallory", nil)
	if err := f.svc.CanDecide(f.ctx, r.ID, "alice"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("scheduled alice during carol's override: %v, want ErrNotEligible", err)
	}
	if err := f.svc.CanDecide(f.ctx, r.ID, "carol"); err != nil {
		t.Fatalf("carol holding the override: %v", err)
	}
	if n, err := f.svc.CancelOverride(f.ctx, "test", "pager"); err != nil || n != 1 {
		t.Fatalf("cancel override: %d %v", n, err)
	}
	if err := f.svc.CanDecide(f.ctx, r.ID, "alice"); err != nil {
		t.Fatalf("alice after the override was cancelled: %v", err)
	}
}

func TestTokenIsShownOnlyToItsApproversAndEachShowingIsAudited(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := f.detail(r.ID); d.Grant == nil || d.Grant.Token != "" {
		t.Fatalf("Get returned the token to any reader: %+v", d.Grant)
	}
	if _, err := f.svc.RevealToken(f.ctx, approvals.RevealInput{ID: r.ID, Viewer: "bob", Use: approvals.TokenShown}); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("bob (did not approve) sees the token: %v", err)
	}
	g, err := f.svc.RevealToken(f.ctx, approvals.RevealInput{ID: r.ID, Viewer: "alice", Use: approvals.TokenCopied})
	if err != nil || g.Token != out.Token {
		t.Fatalf("alice reveal: %v", err)
	}
	evs, err := f.svc.AuditLog(f.ctx, 0, 1)
	if err != nil || len(evs) != 1 || evs[0].Action != "token.copied" || evs[0].Actor != "alice" || evs[0].Subject != out.Grant.ID {
		t.Fatalf("newest audit event = %+v, want token.copied by alice", evs)
	}
}

func TestListsShowAnApproverOnlyWhatIsTheirs(t *testing.T) {
	f := newFixture(t)
	k8s := f.submit("k8s", "mallory", map[string]string{"namespace": "x"}) // sre: alice, bob
	db := f.submit("db", "mallory", nil)                                   // carol, bob
	mine := f.submit("db", "alice", nil)                                   // alice's own
	got, err := f.svc.List(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll, Viewer: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{mine.ID, k8s.ID}; strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatalf("alice sees %v, want %v (not %s of template db)", ids(got), want, db.ID)
	}
	// An auditor sees everything, read-only.
	if err := f.svc.AddApprover(f.ctx, "test", approvals.Approver{Login: "audrey", Name: "Audrey Auditor", Auditor: true}); err != nil {
		t.Fatal(err)
	}
	all, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll, Viewer: "audrey"})
	if err != nil || all != 3 {
		t.Fatalf("auditor sees %d (%v), want 3", all, err)
	}
	if err := f.svc.CanDecide(f.ctx, db.ID, "audrey"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("auditor may decide: %v", err)
	}
	// A disabled approver sees nothing and decides nothing.
	if _, err := f.svc.SetApproverEnabled(f.ctx, "test", "bob", false); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll, Viewer: "bob"}); n != 0 {
		t.Fatalf("disabled bob sees %d requests", n)
	}
	if _, err := f.approve(k8s.ID, "bob"); !errors.Is(err, approvals.ErrDisabled) {
		t.Fatalf("disabled bob approves: %v, want ErrDisabled", err)
	}
}

func TestReservedActorNamesCannotBeApprovers(t *testing.T) {
	f := newFixture(t)
	for _, login := range []string{"system", "jitdesk", "sweeper"} {
		err := f.svc.AddApprover(f.ctx, "test", approvals.Approver{Login: login, Name: "Impostor"})
		if !errors.Is(err, approvals.ErrInvalid) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("approver add %s: %v, want reserved", login, err)
		}
	}
}

func TestApplicationPendingCapIsEnforced(t *testing.T) {
	f := newFixture(t)
	limits := approvals.AppLimits{MaxPending: 2}
	if _, err := f.svc.UpdateApp(f.ctx, "test", "payments", approvals.AppUpdate{Limits: &limits}); err != nil {
		t.Fatal(err)
	}
	f.submit("iam", "m1", nil)
	f.submit("iam", "m2", nil)
	_, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "iam", Requester: "m3", Reason: "investigate the incident INC-1"})
	if !errors.Is(err, approvals.ErrLimit) {
		t.Fatalf("third pending request: %v, want ErrLimit", err)
	}
}

func TestTokenLeavesOutReasonAndMetadata(t *testing.T) {
	f := newFixture(t)
	r, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: strings.Repeat("long reason ", 160),
		Metadata: map[string]string{"namespace": strings.Repeat("n", 1000), "ticket": strings.Repeat("t", 1000)}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Token) > 4096 || strings.Contains(out.Token, "bG9uZyByZWFzb24") {
		t.Fatalf("token is %d bytes", len(out.Token))
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "https://payments.test")
	if err != nil || v.Claims.JIT.RequestID != r.ID || v.Claims.JIT.Reason != "" || len(v.Claims.JIT.Metadata) != 0 {
		t.Fatalf("claims %+v, %v", v.Claims.JIT, err)
	}
}

func TestTemplateUpdateKeepsPendingRequestsOnTheirOwnTerms(t *testing.T) {
	f := newFixture(t)
	old := f.submit("iam", "mallory", nil) // quorum 2 under version 1
	oldDigest := f.detail(old.ID).Digest
	tm, err := f.svc.UpdateTemplate(f.ctx, "test", "iam", func(t *approvals.Template) error { t.Quorum = 1; return nil })
	if err != nil || tm.Version != 2 {
		t.Fatalf("update: v%d %v", tm.Version, err)
	}
	fresh := f.submit("iam", "mallory", nil)
	if d := f.detail(fresh.ID); d.Request.TemplateVersion != 2 {
		t.Fatalf("new request on version %d", d.Request.TemplateVersion)
	}
	// The old request still needs two approvals: its terms are version 1.
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: old.ID, Approver: "alice", Digest: oldDigest})
	if err != nil || out.Grant != nil || out.Remaining != 1 {
		t.Fatalf("old request after one approval: %+v %v, want one more needed", out, err)
	}
	// A decision carrying the digest of other terms is refused.
	if _, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: old.ID, Approver: "bob", Digest: f.detail(fresh.ID).Digest}); !errors.Is(err, approvals.ErrDigestMismatch) {
		t.Fatalf("digest of other terms: %v", err)
	}
	if out, err := f.approve(fresh.ID, "alice"); err != nil || out.Grant == nil {
		t.Fatalf("new request with quorum 1: %+v %v", out, err)
	}
	hist, err := f.svc.TemplateHistory(f.ctx, "iam")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %+v %v", hist, err)
	}
}

func TestDisabledTemplateTakesNoNewRequests(t *testing.T) {
	f := newFixture(t)
	pending := f.submit("iam", "mallory", nil)
	if _, err := f.svc.SetTemplateEnabled(f.ctx, "test", "iam", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "iam", Requester: "m", Reason: "investigate the incident INC-1"}); !errors.Is(err, approvals.ErrDisabled) {
		t.Fatalf("submit to a disabled template: %v", err)
	}
	if _, err := f.approve(pending.ID, "alice"); err != nil {
		t.Fatalf("pending request of a disabled template can still be decided: %v", err)
	}
}

func TestRemovedKeyNoLongerAuthenticates(t *testing.T) {
	f := newFixture(t)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " bob@laptop"
	k, err := f.svc.AddApproverKey(f.ctx, "test", "bob", key)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.svc.ApproverBySSHKey(f.ctx, k.Fingerprint); err != nil || a.Login != "bob" {
		t.Fatalf("key login: %v", err)
	}
	if _, err := f.svc.RemoveApproverKey(f.ctx, "test", "bob", k.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ApproverBySSHKey(f.ctx, k.Fingerprint); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("removed key still logs in: %v", err)
	}
	a, _ := f.svc.Approver(f.ctx, "bob")
	if len(a.SSHKeys) != 1 || a.SSHKeys[0].Active() {
		t.Fatalf("history keeps the removed key: %+v", a.SSHKeys)
	}
}

func TestSecretRotationOverlap(t *testing.T) {
	f := newFixture(t)
	oldSecret := approvals.PrintedSecret(f.app.Secret, f.app.SecretFormat)
	app, err := f.svc.RotateAppSecret(f.ctx, "test", "payments", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	newSecret := approvals.PrintedSecret(app.Secret, app.SecretFormat)
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "jds_") {
		t.Fatalf("rotated secret %q", newSecret)
	}
	if _, err := f.svc.AuthenticateClient(f.ctx, app.ID, oldSecret); err != nil {
		t.Fatalf("old secret inside the overlap: %v", err)
	}
	f.clock.Advance(11 * time.Minute)
	if _, err := f.svc.AuthenticateClient(f.ctx, app.ID, oldSecret); !errors.Is(err, approvals.ErrUnauthenticated) {
		t.Fatalf("old secret after the overlap: %v", err)
	}
	if _, err := f.svc.AuthenticateClient(f.ctx, app.ID, newSecret); err != nil {
		t.Fatalf("new secret: %v", err)
	}
}

func TestStoredIssuerWinsAndAMismatchIsRefused(t *testing.T) {
	f := newFixture(t)
	// No stored issuer and no token issued yet: the database adopts the
	// service's configured one.
	if iss, err := f.svc.ResolveIssuer(f.ctx, ""); err != nil || iss != "https://jitdesk.test" {
		t.Fatalf("adopted %q (%v), want https://jitdesk.test", iss, err)
	}
	if _, err := f.svc.SetIssuer(f.ctx, "test", "https://jitdesk.example.com"); err != nil {
		t.Fatal(err)
	}
	var mm *approvals.IssuerMismatchError
	if _, err := f.svc.ResolveIssuer(f.ctx, "https://other.example.com"); !errors.As(err, &mm) || mm.Stored != "https://jitdesk.example.com" {
		t.Fatalf("mismatch: %v", err)
	}
	if iss, err := f.svc.ResolveIssuer(f.ctx, "https://jitdesk.example.com"); err != nil || iss != "https://jitdesk.example.com" || f.svc.Issuer() != iss {
		t.Fatalf("matching: %q %v", iss, err)
	}
}

func ids(rs []approvals.Request) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
