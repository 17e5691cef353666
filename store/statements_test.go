package store

import (
	"context"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// approvalFixture is one application, approver and Approve template with
// n pending requests, for counting and timing approvals.
func approvalFixture(tb testing.TB, n int) (*DB, *approvals.Service, []approvals.Request, []string, *approvals.ManualClock) {
	tb.Helper()
	db := openTemp(tb)
	clock := approvals.NewManualClock(base)
	ctx := context.Background()
	svc := approvals.New(db, approvals.Options{Clock: clock})
	if _, err := svc.Init(ctx, "bench"); err != nil {
		tb.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "bench", "payments", "aud")
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.AddApprover(ctx, "bench", approvals.Approver{Login: "alice", Name: "Alice"}); err != nil {
		tb.Fatal(err)
	}
	if err := svc.AddTemplate(ctx, "bench", approvals.Template{Key: "k8s", AppID: app.ID, Title: "K8s", Type: approvals.TypeApprove, Approvers: []string{"alice"}}); err != nil {
		tb.Fatal(err)
	}
	ins := make([]approvals.NewRequest, n)
	at := make([]time.Time, n)
	for i := range ins {
		ins[i] = approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: "bench"}
		at[i] = base
	}
	reqs, evs, err := svc.PrepareRequests(ctx, ins, at)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.BulkInsertRequests(ctx, reqs, evs); err != nil {
		tb.Fatal(err)
	}
	digests := make([]string, n)
	for i, r := range reqs {
		d, err := svc.Get(ctx, r.ID)
		if err != nil {
			tb.Fatal(err)
		}
		digests[i] = d.Digest
	}
	return db, svc, reqs, digests, clock
}

// MaxStatementsPerApproval bounds the SQL one approval completing a quorum
// of one runs (review, status, grant, token, audit): issue 13's target.
const MaxStatementsPerApproval = 12

func TestAnApprovalRunsAtMostTwelveStatements(t *testing.T) {
	db, svc, reqs, digests, clock := approvalFixture(t, 4)
	ctx := context.Background()
	var counts []uint64
	for i := range reqs {
		clock.Advance(time.Second) // each grant expires later than the last
		before := db.writeCount.Load()
		out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: reqs[i].ID, Approver: "alice", Digest: digests[i]})
		if err != nil || out.Token == "" {
			t.Fatal(err)
		}
		counts = append(counts, db.writeCount.Load()-before)
	}
	// The first approval may warm caches; the later ones are the steady state.
	t.Logf("statements per approval: %v", counts)
	if got := counts[len(counts)-1]; got > MaxStatementsPerApproval {
		t.Fatalf("an approval ran %d statements (runs: %v), want at most %d", got, counts, MaxStatementsPerApproval)
	}
}
