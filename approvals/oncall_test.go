package approvals_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestRotationHandsOverAtTheShiftBoundary(t *testing.T) {
	r := approvals.Rotation{Members: []string{"alice", "bob", "carol"}, Shift: 24 * time.Hour, Start: t0}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{{0, "alice"}, {24*time.Hour - time.Millisecond, "alice"}, {24 * time.Hour, "bob"}, {48 * time.Hour, "carol"}, {72 * time.Hour, "alice"}} {
		if got, _ := r.OnCallAt(t0.Add(c.at)); got != c.want {
			t.Errorf("at +%s: %s, want %s", c.at, got, c.want)
		}
	}
	if _, ok := r.OnCallAt(t0.Add(-time.Second)); ok {
		t.Error("nobody is on call before the rotation starts")
	}
	at, who := r.NextHandover(t0.Add(time.Hour))
	if !at.Equal(t0.Add(24*time.Hour)) || who != "bob" {
		t.Errorf("next hand-over %s to %s", at, who)
	}
}

func TestOverrideTakesThePagerUntilItEnds(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "sre-primary", Members: []string{"alice", "bob"}, Shift: 12 * time.Hour, Start: t0}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.OverrideOnCall(f.ctx, "test", "sre-primary", "dave", time.Time{}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, _ := f.svc.Rotation(f.ctx, "sre-primary")
	if who, _ := r.OnCallAt(t0.Add(time.Hour)); who != "dave" {
		t.Fatalf("during the override: %s", who)
	}
	if who, _ := r.OnCallAt(t0.Add(2 * time.Hour)); who != "alice" {
		t.Fatalf("after the override: %s", who)
	}
	if err := f.svc.OverrideOnCall(f.ctx, "test", "sre-primary", "dave", time.Time{}, t0.Add(-time.Hour)); !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("override in the past: %v", err)
	}
}

func TestOnCallApproverIsEligibleOnlyWhileHoldingThePager(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "dba-oncall", Members: []string{"dave", "carol"}, Shift: time.Hour, Start: t0}); err != nil {
		t.Fatal(err)
	}
	f.template(approvals.Template{Key: "pager", Title: "Pager access", Type: approvals.TypeApprove, OnCall: []string{"dba-oncall"}, PendingTimeout: 24 * time.Hour})
	r1 := f.submit("pager", "mallory", nil)
	needs := func(login string) int {
		n, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: login})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if needs("dave") != 1 || needs("carol") != 0 {
		t.Fatalf("needs me during dave's shift: dave %d carol %d", needs("dave"), needs("carol"))
	}
	f.clock.Advance(time.Hour) // hand-over to carol
	if needs("dave") != 0 || needs("carol") != 1 {
		t.Fatalf("needs me after the hand-over: dave %d carol %d", needs("dave"), needs("carol"))
	}
	if _, err := f.approve(r1.ID, "dave"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("dave after his shift: %v", err)
	}
	if _, err := f.approve(r1.ID, "carol"); err != nil {
		t.Fatalf("carol on call: %v", err)
	}
}
