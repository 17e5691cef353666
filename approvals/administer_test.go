package approvals_test

import (
	"errors"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestAdministerCommitsAllChangesOrNone(t *testing.T) {
	f := newFixture(t)
	head := func() int64 {
		evs, err := f.svc.AuditLog(f.ctx, 0, 1)
		if err != nil || len(evs) != 1 {
			t.Fatal(err)
		}
		return evs[0].Seq
	}
	before := head()
	err := f.svc.Administer(f.ctx, func(a *approvals.Service) error {
		if err := a.AddApprover(f.ctx, "test", approvals.Approver{Login: "erin", Name: "Erin Early"}); err != nil {
			return err
		}
		// The second change fails: the first must not be kept.
		return a.AddApprover(f.ctx, "test", approvals.Approver{Login: "erin", Name: "Erin Again"})
	})
	if !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("second add: %v, want ErrConflict", err)
	}
	if _, err := f.svc.Approver(f.ctx, "erin"); !errors.Is(err, approvals.ErrNotFound) || head() != before {
		t.Fatalf("a failed administration left erin behind (%v) or audit events", err)
	}
	// A dry run sees its own changes and keeps none.
	err = f.svc.Administer(f.ctx, func(a *approvals.Service) error {
		if err := a.AddApprover(f.ctx, "test", approvals.Approver{Login: "erin", Name: "Erin Early"}); err != nil {
			return err
		}
		if _, err := a.Approver(f.ctx, "erin"); err != nil {
			t.Errorf("inside the run erin is not there: %v", err)
		}
		return approvals.ErrDryRun
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approver(f.ctx, "erin"); !errors.Is(err, approvals.ErrNotFound) || head() != before {
		t.Fatal("a dry run wrote something")
	}
	// A real run keeps every change with its audit events.
	err = f.svc.Administer(f.ctx, func(a *approvals.Service) error {
		if err := a.AddApprover(f.ctx, "test", approvals.Approver{Login: "erin", Name: "Erin Early"}); err != nil {
			return err
		}
		_, err := a.UpdateApprover(f.ctx, "test", "erin", approvals.ApproverUpdate{AddGroups: []string{"sre"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.svc.Approver(f.ctx, "erin"); err != nil || len(a.Groups) != 1 || head() != before+2 {
		t.Fatalf("erin %+v %v, audit head %d (want %d)", a, err, head(), before+2)
	}
}
