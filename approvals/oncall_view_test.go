package approvals_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func shiftOf(t *testing.T, f *fixture, rotation string) approvals.Shift {
	t.Helper()
	shs, err := f.svc.OnCallNow(f.ctx, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shs {
		if sh.Rotation == rotation {
			return sh
		}
	}
	t.Fatalf("rotation %s not listed: %+v", rotation, shs)
	return approvals.Shift{}
}

func TestOnCallNowShowsTheHandOverAtTheShiftBoundary(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "sre", Members: []string{"alice", "bob"}, Shift: 12 * time.Hour, Start: t0}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(t0.Add(12*time.Hour - time.Second))
	sh := shiftOf(t, f, "sre")
	if sh.Holder != "alice" || sh.Override != nil || sh.Next != "bob" || !sh.Until.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("a second before the hand-over: %+v", sh)
	}
	f.clock.Advance(time.Second)
	sh = shiftOf(t, f, "sre")
	if sh.Holder != "bob" || sh.Next != "alice" || !sh.Until.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("at the hand-over: %+v", sh)
	}
	mine, err := f.svc.OnCallFor(f.ctx, "bob", f.clock.Now())
	if err != nil || len(mine) != 1 || mine[0].Rotation != "sre" {
		t.Fatalf("bob holds %+v (%v), want sre", mine, err)
	}
	if mine, _ := f.svc.OnCallFor(f.ctx, "alice", f.clock.Now()); len(mine) != 0 {
		t.Fatalf("alice handed over but still holds %+v", mine)
	}
}

func TestOnCallNowShowsAnOverrideAndWhoTakesOverWhenItEnds(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "sre", Members: []string{"alice", "bob"}, Shift: 12 * time.Hour, Start: t0}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(t0.Add(time.Hour))
	if err := f.svc.OverrideOnCall(f.ctx, "test", "sre", "dave", time.Time{}, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sh := shiftOf(t, f, "sre")
	if sh.Holder != "dave" || sh.Override == nil || !sh.Override.Until.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("during the override: %+v", sh)
	}
	if sh.Next != "alice" || sh.NextByOverride || !sh.Until.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("the pager goes back to alice when the override ends: %+v", sh)
	}
	f.clock.Set(t0.Add(3 * time.Hour))
	sh = shiftOf(t, f, "sre")
	if sh.Holder != "alice" || sh.Override != nil || sh.Next != "bob" || !sh.Until.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("after the override: %+v", sh)
	}
	// A future override is the next change when it starts before the hand-over.
	if err := f.svc.OverrideOnCall(f.ctx, "test", "sre", "carol", t0.Add(5*time.Hour), t0.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sh = shiftOf(t, f, "sre")
	if sh.Next != "carol" || !sh.NextByOverride || !sh.Until.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("upcoming override: %+v", sh)
	}
}

func TestNeedsMeEscalationCountsDownToTheNextLevel(t *testing.T) {
	f, r := escalationFixture(t)
	f.clock.Advance(4 * time.Minute)
	got, err := f.svc.NeedsMeEscalation(f.ctx, "dave", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Request.ID != r.ID || got[0].NextLevel != 1 || !got[0].NextEscalation.Equal(r.CreatedAt.Add(10*time.Minute)) {
		t.Fatalf("dave's pending: %+v", got)
	}
	if left := got[0].NextEscalation.Sub(f.clock.Now()); left != 6*time.Minute {
		t.Fatalf("time to escalation %s, want 6m", left)
	}
	if esc, _ := f.svc.Escalated(f.ctx, "dave", nil, 10); len(esc) != 0 {
		t.Fatalf("nothing is escalated yet: %+v", esc)
	}
	f.clock.Advance(6 * time.Minute)
	if _, err := f.svc.EscalateDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	esc, err := f.svc.Escalated(f.ctx, "dave", nil, 10)
	if err != nil || len(esc) != 1 || esc[0].Request.Escalation != 1 || esc[0].NextLevel != 2 || !esc[0].NextEscalation.Equal(r.CreatedAt.Add(20*time.Minute)) {
		t.Fatalf("escalated: %+v %v", esc, err)
	}
	// Someone the template can never reach does not see it.
	if err := f.svc.AddApprover(f.ctx, "test", approvals.Approver{Login: "zed", Name: "Zed Outsider"}); err != nil {
		t.Fatal(err)
	}
	if other, err := f.svc.Escalated(f.ctx, "zed", nil, 10); err != nil || len(other) != 0 {
		t.Fatalf("an outsider sees escalated requests: %+v %v", other, err)
	}
	f.clock.Advance(10 * time.Minute)
	if _, err := f.svc.EscalateDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	esc, _ = f.svc.Escalated(f.ctx, "dave", nil, 10)
	if len(esc) != 1 || esc[0].Request.Escalation != 2 || !esc[0].NextEscalation.IsZero() {
		t.Fatalf("at the cap there is no next escalation: %+v", esc)
	}
	// Requests of templates that do not escalate are the queue's business,
	// not pages: alice may decide this one, but nothing pages her.
	f.submit("k8s", "mallory", map[string]string{"namespace": "checkout"})
	if got, _ = f.svc.NeedsMeEscalation(f.ctx, "alice", 10); len(got) != 0 {
		t.Fatalf("alice is paged for %+v", got)
	}
	// At level 2 bob (two hand-overs away) is reached too.
	if got, _ = f.svc.NeedsMeEscalation(f.ctx, "bob", 10); len(got) != 1 || !got[0].NextEscalation.IsZero() {
		t.Fatalf("bob at the last level: %+v", got)
	}
}

func TestBreakGlassPostReviewQueueSaysWhoMayReviewAndRevokeIsItsReview(t *testing.T) {
	f := newFixture(t)
	f.template(approvals.Template{Key: "prod", Title: "Prod root", Type: approvals.TypeApprove, Groups: []string{"sre"}, DefaultTTL: 2 * time.Hour, BreakGlassMaxTTL: 30 * time.Minute})
	r := f.submit("prod", "alice", nil)
	ttl, err := f.svc.CanBreakGlass(f.ctx, r.ID, "alice")
	if err != nil || ttl != 30*time.Minute {
		t.Fatalf("alice may break glass for 30m: %s %v", ttl, err)
	}
	if _, err := f.svc.CanBreakGlass(f.ctx, r.ID, "bob"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("bob breaking glass on alice's request: %v", err)
	}
	k := f.submit("k8s", "alice", map[string]string{"namespace": "x"})
	if _, err := f.svc.CanBreakGlass(f.ctx, k.ID, "alice"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("break-glass on a template without it: %v", err)
	}
	if err := approvals.ValidateBreakGlassReason("  short  "); !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("a short reason: %v", err)
	}
	reason := "prod is down and nobody answers"
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, BreakGlass: true, Comment: reason,
		Signature: f.typedSig(r.ID, "alice", "Alice Example", "Alice Example", ttl)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CanBreakGlass(f.ctx, r.ID, "alice"); !errors.Is(err, approvals.ErrNotPending) {
		t.Fatalf("break-glass on a decided request: %v", err)
	}
	q, err := f.svc.PostReviewQueue(f.ctx, "bob", nil, 10)
	if err != nil || len(q) != 1 {
		t.Fatalf("queue %+v %v", q, err)
	}
	it := q[0]
	if it.Grant.ID != out.Grant.ID || it.Grant.Token != "" || it.Reason != reason || it.TTL != 30*time.Minute || it.Request.ID != r.ID || it.CanReview != nil {
		t.Fatalf("item for bob: %+v", it)
	}
	if q, _ := f.svc.PostReviewQueue(f.ctx, "alice", nil, 10); !errors.Is(q[0].CanReview, approvals.ErrSelfApproval) {
		t.Fatalf("alice reviewing her own break-glass: %v", q[0].CanReview)
	}
	// Carol (dba) could never decide the template: another team's
	// emergency is not hers to see, not even as a count.
	if q, err := f.svc.PostReviewQueue(f.ctx, "carol", nil, 10); err != nil || len(q) != 0 {
		t.Fatalf("carol outside the template sees %+v (%v)", q, err)
	}
	if n, err := f.svc.CountAwaitingReviewFor(f.ctx, "carol"); err != nil || n != 0 {
		t.Fatalf("carol's header counts %d (%v)", n, err)
	}
	if n, err := f.svc.CountAwaitingReviewFor(f.ctx, "bob"); err != nil || n != 1 {
		t.Fatalf("bob's header counts %d (%v), want 1", n, err)
	}
	if _, err := f.svc.RevokeBreakGlass(f.ctx, out.Grant.ID, "alice", "no"); !errors.Is(err, approvals.ErrSelfApproval) {
		t.Fatalf("alice revoking as her own reviewer: %v", err)
	}
	g, err := f.svc.RevokeBreakGlass(f.ctx, out.Grant.ID, "bob", "not an emergency")
	if err != nil || !g.Revoked() || g.ReviewedBy != "bob" || g.ReviewComment != "revoked: not an emergency" {
		t.Fatalf("revoke as review: %+v %v", g, err)
	}
	if n, _ := f.svc.CountAwaitingReview(f.ctx); n != 0 {
		t.Fatalf("%d still awaiting review after the revoke", n)
	}
	if _, err := f.svc.VerifyToken(f.ctx, out.Token, ""); err == nil {
		t.Fatal("the revoked break-glass token still verifies")
	}
}
