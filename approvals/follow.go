package approvals

import (
	"context"
	"fmt"
)

// followPage bounds how many events one read of FollowAudit takes.
const followPage = 500

// AuditHead returns the seq of the newest audit event (0 when none).
func (s *Service) AuditHead(ctx context.Context) (int64, error) {
	var seq int64
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		seq, _, err = tx.AuditHead()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return seq, nil
}

// FollowAudit calls fn with every audit event after afterSeq, committed by
// any process or node, in chain order, as they are committed, until ctx
// ends (then it returns nil). Metrics count decisions this way, so a
// decision made by the CLI or a local console is counted by serve too. A
// failed read is returned.
func (s *Service) FollowAudit(ctx context.Context, afterSeq int64, fn func([]AuditEvent)) error {
	changes, stop := s.store.Subscribe()
	defer stop()
	last := afterSeq
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case <-changes:
			}
		}
		for {
			var page []AuditEvent
			err := s.store.View(ctx, func(tx ReadTx) error {
				var err error
				page, err = tx.AuditEvents(last, followPage)
				return err
			})
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("follow audit after %d: %w", last, err)
			}
			if len(page) == 0 {
				break
			}
			fn(page)
			last = page[len(page)-1].Seq
			if len(page) < followPage {
				break
			}
		}
	}
}
