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

func (o observedStore) Update(ctx context.Context, fn func(Tx) error) error {
	var events []AuditEvent
	started := time.Now()
	err := o.Store.Update(ctx, func(tx Tx) error {
		events = events[:0] // a store may retry fn; only the last run counts
		return fn(observedTx{Tx: tx, events: &events})
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
