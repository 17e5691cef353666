package approvals

import (
	"context"
	"fmt"
	"time"
)

// sweepBatch bounds one sweep transaction.
const sweepBatch = 200

// ExpireDue marks pending requests whose pending timeout has passed as
// expired, each with its audit event, and returns how many it moved.
// Decisions already refuse expired requests; the sweep makes the stored
// state and the audit say so. Several sweepers may run at once (serve and
// every console): each transition happens in an IMMEDIATE transaction that
// only moves requests still pending, so none is expired twice.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.store.Update(ctx, func(tx Tx) error {
			now := s.Now()
			due, err := tx.DuePending(now, sweepBatch)
			if err != nil {
				return err
			}
			for _, r := range due {
				if err := tx.SetRequestStatus(r.ID, StatusExpired, now, SystemSweeper, ""); err != nil {
					return err
				}
				if err := s.audit(tx, now, SystemSweeper, NewRequestExpired(r)); err != nil {
					return err
				}
			}
			n = len(due)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire due requests: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// RunSweeper expires due requests and takes due escalation steps every
// interval until ctx ends. Errors are
// reported to onError (if set) and the sweeper carries on.
func (s *Service) RunSweeper(ctx context.Context, every time.Duration, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.ExpireDue(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		if _, err := s.EscalateDue(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
