package approvals

import (
	"context"
	"errors"
)

// ErrDryRun, returned by an Administer function, rolls everything it did
// back; Administer then returns nil. A plan is made by running the changes
// and not keeping them, so a dry run and a real run follow the same code.
var ErrDryRun = errors.New("dry run: nothing written")

// Administer runs fn with a Service whose every change happens in one
// store transaction: the changes fn makes through it (each checked and
// audited as usual) commit together when fn returns nil, or none does.
// Any error aborts the whole administration. fn must not keep the Service
// it is given past its return, nor use it from other goroutines.
func (s *Service) Administer(ctx context.Context, fn func(*Service) error) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		inner := *s
		inner.store = txStore{tx: tx, outer: s.store}
		inner.intake = &intakeBatcher{} // intake has no place in an administration
		return fn(&inner)
	})
	if errors.Is(err, ErrDryRun) {
		return nil
	}
	return err
}

// txStore runs every Update and View of a transaction-scoped Service
// inside the one transaction Administer opened.
type txStore struct {
	tx    Tx
	outer Store
}

func (t txStore) Update(_ context.Context, fn func(Tx) error) error   { return fn(t.tx) }
func (t txStore) View(_ context.Context, fn func(ReadTx) error) error { return fn(t.tx) }
func (t txStore) Subscribe() (<-chan struct{}, func())                { return t.outer.Subscribe() }
func (t txStore) Close() error                                        { return nil }
