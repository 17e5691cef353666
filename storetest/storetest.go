// Package storetest is the conformance suite of approvals.Store: every
// persistence implementation (store on SQLite, pgstore on PostgreSQL) runs
// it, so the documented behaviour of each ReadTx and Tx method — results,
// orders, paging, sentinel errors, compare-and-set, the audit chain, the
// change feed — is the same whichever database jitdesk runs on. A schema
// missing a column or an index-dependent order that differs fails here, not
// in production.
//
// Usage, from an implementation's own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) approvals.Store { return openEmpty(t) },
//			storetest.WithReopen(reopen), storetest.WithExec(rawExec))
//	}
//
// One contract point differs by nature between databases and is pinned
// down here: a write that fails on a duplicate (ErrConflict, ErrReplay,
// ErrAlreadyReviewed) leaves the transaction usable, because callers carry
// on (an intake batch refuses one replayed token and commits the rest); a
// write that fails with ErrNotFound (a missing reference) or ErrInvalid may
// leave it unusable (PostgreSQL aborts the transaction), so the suite checks
// each such failure in a transaction of its own and callers roll back.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// Option adds an implementation-specific capability to Run.
type Option func(*config)

type config struct {
	reopen func(t *testing.T, s approvals.Store) approvals.Store
	exec   func(t *testing.T, s approvals.Store, stmt string) error
}

// WithReopen lets the suite open a second handle on the database s uses
// (its own connections, as another process or node has), closed when t
// ends. The change-feed tests need it; without it they are skipped.
func WithReopen(reopen func(t *testing.T, s approvals.Store) approvals.Store) Option {
	return func(c *config) { c.reopen = reopen }
}

// WithExec lets the suite run a raw SQL statement against s's database
// outside any of its transactions, to prove that history is append-only
// (the database itself refuses UPDATE and DELETE of it). Without it that
// test is skipped.
func WithExec(exec func(t *testing.T, s approvals.Store, stmt string) error) Option {
	return func(c *config) { c.exec = exec }
}

// BulkLoader is the optional batch path both stores offer for demo and
// benchmark databases (demo.BulkLoader); the suite seeds through it when
// the store has it, and tests it then.
type BulkLoader interface {
	BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error
}

// suite is one run's configuration and opener.
type suite struct {
	open func(t *testing.T) approvals.Store
	cfg  config
}

// Run runs the conformance suite as parallel subtests. open must return a
// new, empty store (migrated, no rows) for each call and close it when t
// ends.
func Run(t *testing.T, open func(t *testing.T) approvals.Store, opts ...Option) {
	s := &suite{open: open}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, c := range s.cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t)
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T)
}

// base is the suite's fixed "now": stores are tested on explicit times,
// never the wall clock.
var base = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Base is the fixed time the suite's rows are stamped around, for
// implementations' own tests that reuse Seed.
func Base() time.Time { return base }

func ctx() context.Context { return context.Background() }

// update runs fn in a write transaction and fails the test on an error.
func update(t testing.TB, s approvals.Store, fn func(approvals.Tx) error) {
	t.Helper()
	if err := s.Update(ctx(), fn); err != nil {
		t.Fatal(err)
	}
}

// view runs fn in a read transaction and fails the test on an error.
func view(t testing.TB, s approvals.Store, fn func(approvals.ReadTx) error) {
	t.Helper()
	if err := s.View(ctx(), fn); err != nil {
		t.Fatal(err)
	}
}

// Seed adds one application (app1 "payments"), approvers alice (group sre,
// one SSH key), bob (group dba) and carol, and templates "k8s" (group sre,
// two fields) and "db" (sign and approve, approver bob).
func Seed(t testing.TB, s approvals.Store) {
	t.Helper()
	update(t, s, func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app1", Name: "payments", Audience: "aud", Secret: make([]byte, 32), CreatedAt: base}); err != nil {
			return err
		}
		for _, a := range []approvals.Approver{
			{Login: "alice", Name: "Alice", Groups: []string{"sre"}, SSHKeys: []approvals.SSHKey{{Fingerprint: "SHA256:abc", AuthorizedKey: "ssh-ed25519 AAAA"}}},
			{Login: "bob", Name: "Bob", Groups: []string{"dba"}},
			{Login: "carol", Name: "Carol"},
		} {
			if err := tx.InsertApprover(a); err != nil {
				return err
			}
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "k8s", AppID: "app1", Name: "K8s", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour,
			Fields: []approvals.MetadataField{{Name: "ns", Required: true}, {Name: "ticket", Default: "x"}}}); err != nil {
			return err
		}
		return tx.InsertTemplate(approvals.Template{Key: "db", AppID: "app1", Name: "DB", Title: "Prod DB write", Type: approvals.TypeSignAndApprove, Approvers: []string{"bob"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour})
	})
}

// Req is request i of template tmpl: created base + i/3 seconds (ties on
// purpose), decided (when status is not pending) at base + 1000 - i/2
// seconds by bob, so decided order differs from created order.
func Req(i int, tmpl, requester string, status approvals.Status) approvals.Request {
	r := approvals.Request{
		ID: fmt.Sprintf("R%05d", i), TemplateKey: tmpl, AppID: "app1", Requester: requester, Reason: fmt.Sprintf("reason %d", i),
		Metadata: map[string]string{"ns": "x"}, TTL: time.Hour, CreatedAt: base.Add(time.Duration(i/3) * time.Second),
		ExpiresAt: base.Add(48 * time.Hour), Status: status, RequesterIdentity: approvals.IdentityOf(requester), TemplateVersion: 1,
	}
	if status != approvals.StatusPending {
		r.DecidedAt, r.DecidedBy = base.Add(time.Duration(1000-i/2)*time.Second), "bob"
	}
	return r
}

// InsertRequests stores reqs as given: through BulkInsertRequests when the
// store has it, else one Update of InsertRequest calls.
func InsertRequests(t testing.TB, s approvals.Store, reqs []approvals.Request) {
	t.Helper()
	if b, ok := s.(BulkLoader); ok {
		if err := b.BulkInsertRequests(ctx(), reqs, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	update(t, s, func(tx approvals.Tx) error {
		for _, r := range reqs {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// seededRequest is row i of seedRequests: a quarter expired, a fifth on
// template db, every eleventh by alice, created_at and decided_at with ties.
func seededRequest(i int) approvals.Request {
	status := approvals.StatusPending
	if i%4 == 3 {
		status = approvals.StatusExpired
	}
	tmpl, requester := "k8s", fmt.Sprintf("user%d", i%7)
	if i%5 == 0 {
		tmpl = "db"
	}
	if i%11 == 0 {
		requester = "alice"
	}
	return Req(i, tmpl, requester, status)
}

func seedRequests(t testing.TB, s approvals.Store, n int) {
	t.Helper()
	reqs := make([]approvals.Request, 0, n)
	for i := range n {
		reqs = append(reqs, seededRequest(i))
	}
	InsertRequests(t, s, reqs)
}

func idsOf(rs []approvals.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// list returns one page of q.
func list(t testing.TB, s approvals.Store, q approvals.RequestQuery) []approvals.Request {
	t.Helper()
	var rs []approvals.Request
	view(t, s, func(tx approvals.ReadTx) error {
		var err error
		rs, err = tx.Requests(q)
		return err
	})
	return rs
}

// count returns CountRequests of q.
func count(t testing.TB, s approvals.Store, q approvals.RequestQuery) int {
	t.Helper()
	var n int
	view(t, s, func(tx approvals.ReadTx) error {
		var err error
		n, err = tx.CountRequests(q)
		return err
	})
	return n
}
