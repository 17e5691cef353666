package approvals_test

import (
	"context"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestFollowAuditSeesEveryEventAnotherHandleCommitsInOrder(t *testing.T) {
	f := newFixture(t)
	// The follower reads through its own handle on the database, as serve
	// does while a CLI process decides.
	follower := approvals.New(f.be.open(t), approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test"})
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	got := make(chan approvals.AuditEvent, 1024)
	done := make(chan error, 1)
	go func() {
		done <- follower.FollowAudit(ctx, 0, func(evs []approvals.AuditEvent) {
			for _, e := range evs {
				got <- e
			}
		})
	}()
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	head, err := f.svc.AuditHead(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last approvals.AuditEvent
	for last.Seq < head {
		select {
		case e := <-got:
			if e.Seq != last.Seq+1 {
				t.Fatalf("event %d followed %d: not in chain order, or one was skipped", e.Seq, last.Seq)
			}
			last = e
		case err := <-done:
			t.Fatalf("the follower stopped: %v", err)
		}
	}
	if last.Action != string(approvals.ActionRequestApproved) {
		t.Fatalf("the newest followed event is %s, want the approval", last.Action)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FollowAudit after cancel: %v", err)
	}
}
