package store

import (
	"context"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestListRowsCarryQuorumAndGrantState(t *testing.T) {
	_, svc, reqs, digests, clock := approvalFixture(t, 2)
	ctx := context.Background()
	out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: reqs[0].ID, Approver: "alice", Digest: digests[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, approvals.RevokeInput{ID: out.Grant.ID, Approver: "alice", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	rows, err := svc.List(ctx, approvals.RequestQuery{Scope: approvals.ScopeAll, Viewer: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]approvals.Request{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	got := byID[reqs[0].ID]
	if got.Quorum != 1 || got.Grant == nil || got.Grant.ID != out.Grant.ID || got.Grant.RevokedBy != "alice" || got.Grant.StateAt(clock.Now()) != approvals.GrantRevoked {
		t.Fatalf("approved row: quorum %d, grant %+v", got.Quorum, got.Grant)
	}
	if pending := byID[reqs[1].ID]; pending.Grant != nil || pending.Quorum != 1 {
		t.Fatalf("pending row: quorum %d, grant %+v", pending.Quorum, pending.Grant)
	}
}
