package demo

import (
	"context"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// BulkLoader is the store's batch path (store.DB implements it).
type BulkLoader interface {
	BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error
}

// bulkBatch is the number of requests per transaction: large enough that the
// fsync per commit stops mattering, small enough to keep memory flat.
const bulkBatch = 10_000

// Bulk adds n requests spread over the past year: nearly all of them
// expired history, and the newest 0.5% (at least one) still pending, so a
// database of a million requests has some thousands to review. Rows go
// through Service.PrepareRequests (the same rules as Submit) and the store's
// batch path. progress, when set, is called after each batch.
func Bulk(ctx context.Context, svc *approvals.Service, db BulkLoader, n int, progress func(done int)) error {
	now := svc.Now()
	pending := max(n/200, 1)
	history := n - pending
	g := NewGenerator(42)
	start := now.Add(-365 * 24 * time.Hour)
	step := time.Duration(0)
	if history > 0 {
		step = (364 * 24 * time.Hour) / time.Duration(history)
	}
	for done := 0; done < n; {
		size := min(bulkBatch, n-done)
		ins := make([]approvals.NewRequest, size)
		at := make([]time.Time, size)
		for i := range ins {
			ins[i] = g.Next()
			k := done + i
			if k < history {
				at[i] = start.Add(time.Duration(k) * step)
			} else {
				// Pending ones arrived within the last half hour, inside every
				// template's pending timeout.
				at[i] = now.Add(-30 * time.Minute).Add(time.Duration(k-history) * (30 * time.Minute) / time.Duration(pending))
			}
		}
		reqs, evs, err := svc.PrepareRequests(ctx, ins, at)
		if err != nil {
			return err
		}
		for i := range reqs {
			if done+i >= history {
				continue
			}
			r := &reqs[i]
			r.Status, r.DecidedAt, r.DecidedBy = approvals.StatusExpired, r.ExpiresAt, approvals.SystemSweeper
			ev, err := approvals.NewAuditEvent(r.ExpiresAt, approvals.SystemSweeper, approvals.NewRequestExpired(*r))
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		if err := db.BulkInsertRequests(ctx, reqs, evs); err != nil {
			return err
		}
		done += size
		if progress != nil {
			progress(done)
		}
	}
	return nil
}
