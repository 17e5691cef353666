package server

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// hubFixture is a service with one application, approver bob and template
// k8s, and a waitHub over it.
type hubFixture struct {
	t   *testing.T
	ctx context.Context
	svc *approvals.Service
	hub *waitHub
	app approvals.Application
}

func newHubFixture(t *testing.T) *hubFixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &hubFixture{t: t, ctx: context.Background(), svc: approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test"})}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.svc.Init(f.ctx, "test")
	must(err)
	f.app, err = f.svc.CreateApplication(f.ctx, "test", "payments", "https://payments.example")
	must(err)
	must(f.svc.AddApprover(f.ctx, "test", approvals.Approver{Login: "bob", Name: "Bob Okafor"}))
	must(f.svc.AddTemplate(f.ctx, "test", approvals.Template{Key: "k8s", AppID: f.app.ID, Title: "K8s exec", Type: approvals.TypeApprove, Approvers: []string{"bob"}}))
	f.hub = newWaitHub(f.svc, 1000)
	return f
}

func (f *hubFixture) submit() string {
	f.t.Helper()
	r, err := f.svc.Submit(f.ctx, approvals.NewRequest{AppID: f.app.ID, TemplateKey: "k8s", Requester: "alice", Reason: "hub test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}

func (f *hubFixture) approve(id string) error {
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		return err
	}
	_, err = f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	return err
}

// park registers a waiter the way the status handler does.
func (f *hubFixture) park(id string) *waiter {
	f.t.Helper()
	gen := f.hub.generation()
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	w, err := f.hub.add(id, d.Request, gen)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *hubFixture) settle() {
	// Long enough for the store's signal (immediate in-process, else the
	// data_version poll) and the round it starts; then, on a loaded machine
	// (-race, other jobs), until the hub's reads have stopped moving for a
	// few feed intervals, so a slow earlier round is not counted as the next.
	time.Sleep(3 * store.FeedInterval)
	last, still := f.hub.reads.Load(), 0
	for deadline := time.Now().Add(10 * time.Second); still < 3 && time.Now().Before(deadline); {
		time.Sleep(store.FeedInterval)
		if n := f.hub.reads.Load(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
}

// Busy intake does not make the hub re-read the requests it watches: after
// one full look it follows the audit log, and re-reads only what changed.
func TestWaitHubReadsOnlyWhatChanged(t *testing.T) {
	f := newHubFixture(t)
	ids := make([]string, 50)
	ws := make([]*waiter, len(ids))
	for i := range ids {
		ids[i] = f.submit()
	}
	for i, id := range ids {
		ws[i] = f.park(id)
	}
	f.submit() // a change: the first round establishes the audit position
	f.settle()
	base := f.hub.reads.Load()
	for range 30 {
		f.submit()
	}
	f.settle()
	if n := f.hub.reads.Load() - base; n != 0 {
		t.Fatalf("intake of unrelated requests re-read %d watched requests", n)
	}
	if err := f.approve(ids[7]); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-ws[7].done:
		if d.Request.Status != approvals.StatusApproved {
			t.Fatalf("woke with %s", d.Request.Status)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter was not woken by the approval")
	}
	if n := f.hub.reads.Load() - base; n < 1 || n > 2 {
		t.Fatalf("one approval re-read %d watched requests, want 1", n)
	}
	for i, w := range ws {
		if i == 7 {
			continue
		}
		select {
		case d := <-w.done:
			t.Fatalf("waiter %d woken without a change: %s", i, d.Request.Status)
		default:
		}
	}
	for i, id := range ids {
		f.hub.remove(id, ws[i])
	}
	if f.hub.n != 0 {
		t.Fatalf("%d waiters left", f.hub.n)
	}
}

// Waiters that park while approvals land are never left behind: each wakes
// with the approval, whether it parked before or after the hub's round.
func TestWaitHubMissesNoChange(t *testing.T) {
	f := newHubFixture(t)
	const n = 60
	ids := make([]string, n)
	approved := make([]chan struct{}, n) // closed when id's approval has committed
	for i := range ids {
		ids[i] = f.submit()
		approved[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i, id := range ids {
		wg.Go(func() {
			// Park at staggered moments around the approvals.
			time.Sleep(time.Duration(i%10) * 7 * time.Millisecond)
			gen := f.hub.generation()
			d, err := f.svc.Get(f.ctx, id)
			if err != nil {
				errs <- err
				return
			}
			if d.Request.Status != approvals.StatusPending {
				return // approved before we looked: the handler answers at once
			}
			w, err := f.hub.add(id, d.Request, gen)
			if err != nil {
				errs <- err
				return
			}
			defer f.hub.remove(id, w)
			// The clock for "never woke" starts when the approval has
			// committed: on a loaded machine under -race sixty durable
			// approvals can take seconds, and a waiter is not late
			// before its change exists.
			select {
			case <-w.done:
				return
			case <-approved[i]:
			}
			select {
			case <-w.done:
			case <-time.After(5 * time.Second):
				errs <- fmt.Errorf("waiter on %s never woke (5 s after its approval committed)", id)
			}
		})
		wg.Go(func() {
			defer close(approved[i])
			time.Sleep(time.Duration(i%9) * 8 * time.Millisecond)
			if err := f.approve(id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The hub refuses waiters beyond its cap.
func TestWaitHubCap(t *testing.T) {
	f := newHubFixture(t)
	f.hub = newWaitHub(f.svc, 2)
	id := f.submit()
	f.park(id)
	f.park(id)
	d, _ := f.svc.Get(f.ctx, id)
	if _, err := f.hub.add(id, d.Request, f.hub.generation()); err != errTooManyWaiters {
		t.Fatalf("third waiter: %v", err)
	}
}

// A waiter that read its request before a change the hub has already
// consumed (the round ran between the read and the registration) is still
// woken: it registers with the older generation and is re-read directly.
func TestWaitHubRegistrationAfterAConsumedChange(t *testing.T) {
	f := newHubFixture(t)
	f.park(f.submit()) // keeps the hub following the audit log
	f.submit()
	f.settle()

	id := f.submit()
	gen := f.hub.generation()
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.approve(id); err != nil {
		t.Fatal(err)
	}
	f.settle() // the hub's round consumes the approval's audit events
	if f.hub.generation() == gen {
		t.Fatal("no round ran; the test needs one between the read and the registration")
	}
	w, err := f.hub.add(id, d.Request, gen)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-w.done:
		if got.Request.Status != approvals.StatusApproved {
			t.Fatalf("woke with %s", got.Request.Status)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a change consumed before the registration was missed")
	}
}
