package pgstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// setUpService gives svc one application, approvers alice, bob, carol and
// dave (all in group sre), template k8s (group sre, quorum 1) and template
// iam (the same four, quorum 2).
func setUpService(t testing.TB, svc *approvals.Service) {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "test", "payments", "https://payments.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"alice", "bob", "carol", "dave"} {
		if err := svc.AddApprover(ctx, "test", approvals.Approver{Login: l, Name: l, Groups: []string{"sre"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tm := range []approvals.Template{
		{Key: "k8s", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"}, DefaultTTL: 30 * time.Minute, MaxTTL: time.Hour, PendingTimeout: time.Hour},
		{Key: "iam", Title: "IAM admin", Type: approvals.TypeApprove, Approvers: []string{"alice", "bob", "carol", "dave"}, Quorum: 2, DefaultTTL: 30 * time.Minute, MaxTTL: time.Hour, PendingTimeout: time.Hour},
	} {
		tm.AppID = app.Name
		if err := svc.AddTemplate(ctx, "test", tm); err != nil {
			t.Fatal(err)
		}
	}
}

// Two nodes (separate DB handles: pools, LISTEN connections, services)
// race every approver of each request at once. Each request ends with
// exactly one outcome: quorum-many reviews, one grant, the other approvers
// told it was decided; and the audit chain verifies.
func TestTwoNodesRacingApprovalsReachExactlyOneOutcome(t *testing.T) {
	dsn := testDSN(t)
	nodeA, nodeB := openDSN(t, dsn), openDSN(t, dsn)
	svcA := approvals.New(nodeA, approvals.Options{Issuer: "https://jitdesk.test", Clock: nodeA.Clock()})
	svcB := approvals.New(nodeB, approvals.Options{Issuer: "https://jitdesk.test", Clock: nodeB.Clock()})
	setUpService(t, svcA)
	ctx := context.Background()
	const perTemplate = 15
	var reqs []approvals.Request
	for i := range 2 * perTemplate {
		tmpl := []string{"k8s", "iam"}[i%2]
		svc := []*approvals.Service{svcA, svcB}[i%2]
		r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: tmpl, Requester: fmt.Sprint("user", i), Reason: "race"})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	type result struct {
		req     string
		granted bool
		err     error
	}
	results := make(chan result, len(reqs)*4)
	var wg sync.WaitGroup
	for _, r := range reqs {
		d, err := svcB.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		for i, who := range []string{"alice", "bob", "carol", "dave"} {
			svc := []*approvals.Service{svcA, svcB}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: who, Digest: d.Digest})
				results <- result{r.ID, err == nil && out.Grant != nil, err}
			}()
		}
		close(start)
	}
	wg.Wait()
	close(results)
	reviews, grants := map[string]int{}, map[string]int{}
	for res := range results {
		switch {
		case res.err == nil:
			reviews[res.req]++
			if res.granted {
				grants[res.req]++
			}
		case errors.Is(res.err, approvals.ErrNotPending):
		default:
			t.Errorf("%s: unexpected error %v", res.req, res.err)
		}
	}
	for _, r := range reqs {
		quorum := map[string]int{"k8s": 1, "iam": 2}[r.TemplateKey]
		if reviews[r.ID] != quorum || grants[r.ID] != 1 {
			t.Errorf("%s (%s): %d approvals succeeded and %d grants, want %d and 1", r.ID, r.TemplateKey, reviews[r.ID], grants[r.ID], quorum)
		}
		d, err := svcA.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Request.Status != approvals.StatusApproved || d.Request.Approvals != quorum || len(d.Reviews) != quorum {
			t.Errorf("%s: status %s, %d approvals, %d reviews", r.ID, d.Request.Status, d.Request.Approvals, len(d.Reviews))
		}
	}
	rep, err := svcB.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("audit chain after the race: %v", err)
	}
	if rep.Events == 0 {
		t.Fatal("no audit events verified")
	}
	t.Logf("%d requests, %d audit events verified", len(reqs), rep.Events)
}

// BenchmarkApprove: one approval (Get for the digest, then Approve, which
// reviews, decides, signs the token, stores the grant and appends audit
// events in one write transaction) on PostgreSQL against the SQLite store
// in the same run. Both databases fsync their commits.
func BenchmarkApprove(b *testing.B) {
	run := func(b *testing.B, db approvals.Store) {
		svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test"})
		setUpService(b, svc)
		ctx := context.Background()
		ids := make([]string, b.N)
		digests := make([]string, b.N)
		for i := range b.N {
			r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: fmt.Sprint("user", i), Reason: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			d, err := svc.Get(ctx, r.ID)
			if err != nil {
				b.Fatal(err)
			}
			ids[i], digests[i] = r.ID, d.Digest
		}
		b.ResetTimer()
		for i := range b.N {
			out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: ids[i], Approver: "alice", Digest: digests[i]})
			if err != nil || out.Grant == nil {
				b.Fatalf("approve %s: %v", ids[i], err)
			}
		}
	}
	b.Run("postgres", func(b *testing.B) { run(b, openTemp(b)) })
	b.Run("sqlite-baseline", func(b *testing.B) {
		db, err := store.Open(filepath.Join(b.TempDir(), "jitdesk.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		run(b, db)
	})
}
