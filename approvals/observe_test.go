package approvals_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

// recorder is an Observer keeping what it heard.
type recorder struct {
	mu      sync.Mutex
	actions []string
	batches []int
	hooks   [3]int
}

func (r *recorder) Committed(evs []approvals.AuditEvent, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		r.actions = append(r.actions, e.Action)
	}
}
func (r *recorder) IntakeBatch(n int) { r.mu.Lock(); r.batches = append(r.batches, n); r.mu.Unlock() }
func (r *recorder) WebhookAttempts(d, f, x int) {
	r.mu.Lock()
	r.hooks[0], r.hooks[1], r.hooks[2] = r.hooks[0]+d, r.hooks[1]+f, r.hooks[2]+x
	r.mu.Unlock()
}

func TestObserversHearCommittedEventsOnlyAndStatsCountPending(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	svc := approvals.New(f.db, approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test", Observers: []approvals.Observer{rec}})
	r, err := svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: "investigate the incident INC-1", Metadata: map[string]string{"namespace": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := svc.Stats(f.ctx)
	if err != nil || st.Pending != 1 {
		t.Fatalf("stats with one pending: %+v %v", st, err)
	}
	// A refused decision (self-approval) rolls back: nothing is heard.
	if _, err := svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "dave", Digest: f.detail(r.ID).Digest}); err == nil {
		t.Fatal("dave is not eligible, yet approved")
	}
	if _, err := svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := append([]string(nil), rec.actions...)
	rec.mu.Unlock()
	want := []string{"request.created", "review.approved", "grant.issued", "request.approved"}
	if len(got) != len(want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("heard %v, want %v", got, want)
		}
	}
	if st, err := svc.Stats(f.ctx); err != nil || st.Pending != 0 {
		t.Fatalf("stats after the approval: %+v %v", st, err)
	}
}

func TestObserversHearEveryRequestOfAConcurrentIntakeBatch(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	svc := approvals.New(f.db, approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test", Observers: []approvals.Observer{rec}})
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		tok, err := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, fmt.Sprintf("user%d", i), fmt.Sprintf("obs-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = svc.SubmitIntake(f.ctx, tok, approvals.NewRequest{TemplateKey: "iam", Reason: "observed intake"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("intake %d: %v", i, err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	created, batched := 0, 0
	for _, a := range rec.actions {
		if a == string(approvals.ActionRequestCreated) {
			created++
		}
	}
	for _, b := range rec.batches {
		batched += b
	}
	if created != n || batched != n {
		t.Fatalf("observers heard %d request.created events and batches of %d requests, want %d of each", created, batched, n)
	}
}
