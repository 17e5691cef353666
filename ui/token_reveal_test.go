package ui

import (
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

// TestOneLookAtTheTokenIsOneShowingEvenWhenChangesArriveFirst: a change
// (the showing's own audit event is one) can reach the token screen before
// its opening reveal has answered; the refresh it causes must not reveal,
// and audit, the token a second time.
func TestOneLookAtTheTokenIsOneShowingEvenWhenChangesArriveFirst(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	d, err := w.svc.Get(w.ctx, approve.ID)
	w.check(err)
	if _, err := w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: approve.ID, Approver: "alex", Digest: d.Digest}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, w, "alex", 100, 30)
	s := newTokenScreen(h.m.ctx, approve.ID)
	opening := s.Init()
	_, refresh := s.Update(changedMsg{})
	refreshed := refresh() // runs before the opening reveal answers
	opened := opening()
	s.Update(refreshed)
	s.Update(opened)
	if s.token == "" || s.verified == nil {
		t.Fatalf("the screen has no verified token: %q %v", s.token, s.verr)
	}
	evs, err := w.svc.AuditLog(w.ctx, 0, 500)
	w.check(err)
	n := 0
	for _, e := range evs {
		if e.Action == string(approvals.ActionTokenShown) && strings.Contains(e.Subject+string(e.Payload), approve.ID) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("one look recorded %d token.shown events, want 1", n)
	}
}
