package store

import (
	"context"
	"errors"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

// Two handles on one file stand for two processes: each has its own
// configuration cache, and a change made through one is seen by the other's
// next transaction.
func TestCachedConfigurationIsNeverStaleAcrossProcesses(t *testing.T) {
	db1, svc1, reqs, digests, clock := approvalFixture(t, 2)
	ctx := context.Background()
	db2, err := Open(db1.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	svc2 := approvals.New(db2, approvals.Options{Clock: clock})
	// Warm the second process's cache with the approver and template.
	if err := svc2.CanDecide(ctx, reqs[0].ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc2.Template(ctx, "k8s"); err != nil {
		t.Fatal(err)
	}
	// The first process disables alice and changes the template.
	if _, err := svc1.SetApproverEnabled(ctx, "op", "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc1.UpdateTemplate(ctx, "op", "k8s", func(tm *approvals.Template) error { tm.Title = "K8s v2"; return nil }); err != nil {
		t.Fatal(err)
	}
	// The second decides on what the first wrote, not on what it cached.
	if _, err := svc2.Approve(ctx, approvals.ApproveInput{RequestID: reqs[0].ID, Approver: "alice", Digest: digests[0]}); !errors.Is(err, approvals.ErrDisabled) {
		t.Fatalf("approval by an approver another process disabled: %v, want ErrDisabled", err)
	}
	if tm, err := svc2.Template(ctx, "k8s"); err != nil || tm.Title != "K8s v2" || tm.Version != 2 {
		t.Fatalf("template seen by the other process: %+v %v", tm, err)
	}
	if _, err := svc1.SetApproverEnabled(ctx, "op", "alice", true); err != nil {
		t.Fatal(err)
	}
	if out, err := svc2.Approve(ctx, approvals.ApproveInput{RequestID: reqs[1].ID, Approver: "alice", Digest: digests[1]}); err != nil || out.Token == "" {
		t.Fatalf("approval after alice was enabled again elsewhere: %v", err)
	}
}
