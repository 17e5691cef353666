package approvals

import (
	"context"
	"fmt"
	"time"
)

// Observer hears what the service committed: metrics and the security log
// are built on it. Calls come after the commit, from the goroutine that
// committed, so an observer must be quick and must not call back into the
// Service. A rolled-back transaction is never observed.
type Observer interface {
	// Committed reports one committed write transaction: its audit events
	// in order (possibly none) and how long the transaction took, commit
	// included.
	Committed(events []AuditEvent, took time.Duration)
	// IntakeBatch reports the number of requests one intake transaction
	// carried.
	IntakeBatch(size int)
	// WebhookAttempts reports recorded delivery attempts: delivered,
	// failed (to be retried) and dead (given up).
	WebhookAttempts(delivered, failed, dead int)
}

// observedStore runs each write through an observedTx and tells the
// observers once it committed.
type observedStore struct {
	Store
	observers []Observer
}

// observedTx collects the audit events a transaction appends.
type observedTx struct {
	Tx
	events *[]AuditEvent
}

func (t observedTx) AppendAudit(ev AuditEvent) (AuditEvent, error) {
	ev, err := t.Tx.AppendAudit(ev)
	if err == nil {
		*t.events = append(*t.events, ev)
	}
	return ev, err
}

// observedBatchTx is an observedTx over a store transaction that also
// offers intake's batch writes: they stay available, and the audit events
// they append are collected too.
type observedBatchTx struct {
	observedTx
	batch BatchTx
}

func (t observedBatchTx) UseIntakeJTIs(jtis []IntakeJTI, now time.Time) ([]bool, error) {
	return t.batch.UseIntakeJTIs(jtis, now)
}

func (t observedBatchTx) InsertRequests(reqs []Request) error { return t.batch.InsertRequests(reqs) }

func (t observedBatchTx) AppendAuditEvents(evs []AuditEvent) ([]AuditEvent, error) {
	out, err := t.batch.AppendAuditEvents(evs)
	if err == nil {
		*t.events = append(*t.events, out...)
	}
	return out, err
}

// ConfigVersion passes the store transaction's configuration version on
// (intake's cached verification compares it), when it has one.
func (t observedTx) ConfigVersion() (int64, bool) {
	if cv, ok := t.Tx.(configVersioned); ok {
		return cv.ConfigVersion()
	}
	return 0, false
}

// CachedApplication passes the store's configuration cache on, when it
// has one; without it intake verifies in a read transaction as before.
func (o observedStore) CachedApplication(id string) (Application, int64, bool) {
	if cs, ok := o.Store.(cachedApplications); ok {
		return cs.CachedApplication(id)
	}
	return Application{}, 0, false
}

func (o observedStore) Update(ctx context.Context, fn func(Tx) error) error {
	var events []AuditEvent
	started := time.Now()
	err := o.Store.Update(ctx, func(tx Tx) error {
		events = events[:0] // a store may retry fn; only the last run counts
		otx := observedTx{Tx: tx, events: &events}
		if b, ok := tx.(BatchTx); ok {
			return fn(observedBatchTx{observedTx: otx, batch: b})
		}
		return fn(otx)
	})
	if err != nil {
		return err
	}
	took := time.Since(started)
	for _, ob := range o.observers {
		ob.Committed(events, took)
	}
	return nil
}

func (s *Service) observeIntakeBatch(n int) {
	for _, ob := range s.observers {
		ob.IntakeBatch(n)
	}
}

func (s *Service) observeWebhookAttempts(attempts []WebhookAttempt) {
	if len(s.observers) == 0 {
		return
	}
	var delivered, failed, dead int
	for _, a := range attempts {
		switch {
		case a.Delivered:
			delivered++
		case a.RetryAt.IsZero():
			dead++
		default:
			failed++
		}
	}
	for _, ob := range s.observers {
		ob.WebhookAttempts(delivered, failed, dead)
	}
}

// Stats are the gauges an operator watches, each read cheaply (from kept
// counts and indexes, never by scanning history).
type Stats struct {
	// Pending is the number of pending requests.
	Pending int
	// WebhookQueued is deliveries waiting for their first or next attempt;
	// WebhookDead those given up on.
	WebhookQueued int
	WebhookDead   int
}

// Stats reads the current gauges.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		if st.Pending, err = tx.PendingTotal(); err != nil {
			return err
		}
		st.WebhookQueued, st.WebhookDead, err = tx.WebhookQueueDepth()
		return err
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}
