package approvals_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestBreakGlassLetsTheRequesterApproveTheirOwnRequestCappedAndQueuedForReview(t *testing.T) {
	f := newFixture(t)
	f.template(approvals.Template{Key: "prod", Title: "Prod root", Type: approvals.TypeApprove, Groups: []string{"sre"}, DefaultTTL: 2 * time.Hour, BreakGlassMaxTTL: 30 * time.Minute})
	// alice is an approver and the requester: without break-glass she may not.
	r := f.submit("prod", "alice", nil)
	if _, err := f.approve(r.ID, "alice"); !errors.Is(err, approvals.ErrSelfApproval) {
		t.Fatalf("plain self-approval: %v", err)
	}
	d := f.detail(r.ID)
	in := approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, BreakGlass: true, Comment: "prod is down and nobody answers"}
	if _, err := f.svc.Approve(f.ctx, in); !errors.Is(err, approvals.ErrSignatureRequired) {
		t.Fatalf("break-glass without a signature: %v", err)
	}
	short := in
	short.Comment = "urgent"
	short.Signature = f.typedSig(r.ID, "alice", "Alice Example", "Alice Example", 30*time.Minute)
	if _, err := f.svc.Approve(f.ctx, short); !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("break-glass with a one-word reason: %v", err)
	}
	in.Signature = f.typedSig(r.ID, "alice", "Alice Example", "Alice Example", 30*time.Minute)
	out, err := f.svc.Approve(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Grant.ExpiresAt.Sub(out.Grant.IssuedAt); got != 30*time.Minute || !out.Grant.BreakGlass {
		t.Fatalf("grant lasts %s (break-glass %v), want the 30m cap", got, out.Grant.BreakGlass)
	}
	v, err := f.svc.VerifyToken(f.ctx, out.Token, "")
	if err != nil || !v.Claims.JIT.BreakGlass {
		t.Fatalf("token must say break_glass: %+v %v", v.Claims.JIT, err)
	}
	if n, _ := f.svc.CountAwaitingReview(f.ctx); n != 1 {
		t.Fatalf("awaiting review %d, want 1", n)
	}
	if _, err := f.svc.AcknowledgeBreakGlass(f.ctx, out.Grant.ID, "alice", "fine"); !errors.Is(err, approvals.ErrSelfApproval) {
		t.Fatalf("the user of break-glass reviewing it: %v", err)
	}
	if _, err := f.svc.AcknowledgeBreakGlass(f.ctx, out.Grant.ID, "carol", "fine"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("a reviewer outside the template: %v", err)
	}
	if _, err := f.svc.AcknowledgeBreakGlass(f.ctx, out.Grant.ID, "bob", "checked the incident timeline"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.svc.CountAwaitingReview(f.ctx); n != 0 {
		t.Fatalf("awaiting review %d after acknowledgement", n)
	}
	if _, err := f.svc.AcknowledgeBreakGlass(f.ctx, out.Grant.ID, "bob", "again"); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("second acknowledgement: %v", err)
	}
	evs, _ := f.svc.AuditLog(f.ctx, 0, 5)
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.Action] = true
	}
	if !seen["breakglass.used"] || !seen["breakglass.reviewed"] {
		t.Fatalf("audit lacks break-glass events: %v", seen)
	}
}

func TestBreakGlassIsRefusedWhereTheTemplateDoesNotAllowItOrForSomeoneElse(t *testing.T) {
	f := newFixture(t)
	r := f.submit("iam", "alice", nil) // iam has no break-glass
	d := f.detail(r.ID)
	in := approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, BreakGlass: true, Comment: "prod is down and nobody answers",
		Signature: f.typedSig(r.ID, "alice", "Alice Example", "Alice Example", 0)}
	if _, err := f.svc.Approve(f.ctx, in); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("template without break-glass: %v", err)
	}
	f.template(approvals.Template{Key: "prod", Title: "Prod root", Type: approvals.TypeApprove, Groups: []string{"sre"}, BreakGlassMaxTTL: 30 * time.Minute})
	r2 := f.submit("prod", "mallory", nil)
	in2 := approvals.ApproveInput{RequestID: r2.ID, Approver: "bob", Digest: f.detail(r2.ID).Digest, BreakGlass: true, Comment: "prod is down and nobody answers",
		Signature: f.typedSig(r2.ID, "bob", "Bob Builder", "Bob Builder", 30*time.Minute)}
	if _, err := f.svc.Approve(f.ctx, in2); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("break-glass for someone else's request: %v", err)
	}
}
