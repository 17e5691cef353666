package approvals_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// escalationFixture: rotation "dba" of dave, carol, bob (12h shifts from
// t0, so dave is on call), template "pager" escalating every 10m to the next
// in the rotation and, from the first step, to group "dba" (carol).
func escalationFixture(t *testing.T) (*fixture, approvals.Request) {
	f := newFixture(t)
	if err := f.svc.AddRotation(f.ctx, "test", approvals.Rotation{Name: "dba", Members: []string{"dave", "carol", "bob"}, Shift: 12 * time.Hour, Start: t0}); err != nil {
		t.Fatal(err)
	}
	f.template(approvals.Template{Key: "pager", Title: "Pager access", Type: approvals.TypeApprove, OnCall: []string{"dba"},
		EscalateAfter: 10 * time.Minute, EscalateGroup: "dba", PendingTimeout: 24 * time.Hour})
	return f, f.submit("pager", "mallory", nil)
}

func TestEscalationWalksTheRotationOnePeriodAtATime(t *testing.T) {
	f, r := escalationFixture(t)
	tm, _ := f.svc.Template(f.ctx, "pager")
	if tm.EscalateCap != 2 {
		t.Fatalf("cap %d, want 2 (three members)", tm.EscalateCap)
	}
	needs := func(login string) bool {
		n, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: login})
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	step := func(want int) {
		t.Helper()
		if _, err := f.svc.EscalateDue(f.ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.detail(r.ID).Request.Escalation; got != want {
			t.Fatalf("level %d, want %d", got, want)
		}
	}
	step(0)
	if !needs("dave") || needs("carol") || needs("alice") {
		t.Fatal("before escalation only dave (on call) needs to act")
	}
	f.clock.Advance(10*time.Minute - time.Second)
	step(0)
	f.clock.Advance(time.Second)
	step(1)
	if !needs("carol") || needs("bob") || needs("alice") {
		t.Fatal("after one period carol (next, and in the escalation group) needs to act; bob is not reached yet, alice never")
	}
	f.clock.Advance(10 * time.Minute)
	step(2)
	f.clock.Advance(time.Hour)
	step(2) // capped: the whole rotation is reached
	if !needs("bob") || needs("alice") {
		t.Fatal("bob (two hand-overs away) needs to act after two periods; alice is in no way reached")
	}
	if _, err := f.approve(r.ID, "carol"); err != nil {
		t.Fatalf("carol, reached by escalation, approves: %v", err)
	}
}

func TestEscalatedRequestIsNotDecidableByThoseItHasNotReached(t *testing.T) {
	f, r := escalationFixture(t)
	if _, err := f.approve(r.ID, "carol"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("carol before escalation: %v", err)
	}
	if _, err := f.approve(r.ID, "bob"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("bob before escalation: %v", err)
	}
}

func TestRacingEscalationSweepersTakeEachStepOnce(t *testing.T) {
	f, r := escalationFixture(t)
	f.clock.Advance(25 * time.Minute) // two steps due at once
	others := []*approvals.Service{f.svc, approvals.New(f.db, approvals.Options{Clock: f.clock}), approvals.New(f.db, approvals.Options{Clock: f.clock})}
	var wg sync.WaitGroup
	for _, s := range others {
		wg.Add(1)
		go func(s *approvals.Service) {
			defer wg.Done()
			if _, err := s.EscalateDue(f.ctx); err != nil {
				t.Error(err)
			}
		}(s)
	}
	wg.Wait()
	if got := f.detail(r.ID).Request.Escalation; got != 2 {
		t.Fatalf("level %d, want 2", got)
	}
	evs, _ := f.svc.AuditLog(f.ctx, 0, 20)
	n := 0
	for _, e := range evs {
		if e.Action == "request.escalated" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d escalation events, want exactly 1 (one jump to level 2)", n)
	}
}
