package pgstore

import (
	"fmt"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// AwaitingReview lists break-glass grants nobody has acknowledged yet,
// oldest first, after the given grant (keyset on issued_at, id).
func (t *tx) AwaitingReview(after *approvals.Cursor, limit int) ([]approvals.Grant, error) {
	q := `SELECT ` + grantCols + ` FROM grants WHERE break_glass AND reviewed_at IS NULL`
	var args []any
	if after != nil {
		q += ` AND (issued_at, id) > (?, ?)`
		args = append(args, ms(after.At), after.ID)
	}
	q += ` ORDER BY issued_at, id LIMIT ?`
	args = append(args, pageLimit(limit))
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("grants awaiting review: %w", err)
	}
	defer rows.Close()
	var out []approvals.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// CountAwaitingReview counts unacknowledged break-glass grants.
func (t *tx) CountAwaitingReview() (int, error) {
	var n int
	if err := t.queryRow(`SELECT COUNT(*) FROM grants WHERE break_glass AND reviewed_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count grants awaiting review: %w", err)
	}
	return n, nil
}

// AcknowledgeGrant records the post-review of a break-glass grant, once:
// ErrConflict when it was already reviewed or is not break-glass.
func (t *tx) AcknowledgeGrant(id string, at time.Time, by, comment string) error {
	res, err := t.exec(`UPDATE grants SET reviewed_at = ?, reviewed_by = ?, review_comment = ? WHERE id = ? AND break_glass AND reviewed_at IS NULL`, ms(at), by, comment, id)
	if err != nil {
		return fmt.Errorf("acknowledge grant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		g, err := t.Grant(id)
		if err != nil {
			return err
		}
		if !g.BreakGlass {
			return fmt.Errorf("grant %s is not a break-glass grant: %w", id, approvals.ErrConflict)
		}
		return fmt.Errorf("grant %s was already reviewed by %s at %s: %w", id, g.ReviewedBy, g.ReviewedAt.Format(time.RFC3339), approvals.ErrConflict)
	}
	return nil
}
