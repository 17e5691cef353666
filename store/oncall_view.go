package store

import (
	"fmt"

	"github.com/jitdesk/jitdesk/approvals"
)

// EscalatingRequests lists pending requests of escalating templates
// escalated at least minLevel steps, oldest first, after the given
// position (keyset on created_at, id). It walks the pending index in
// creation order and keeps only requests of escalating templates, as
// DueEscalations does: such templates are expected to be few, and a page
// stops at limit rows.
func (t *tx) EscalatingRequests(minLevel int, after *approvals.Cursor, limit int) ([]approvals.Request, error) {
	q := `SELECT ` + requestCols + requestFrom + `
		WHERE r.status = 'pending' AND r.escalation >= ? AND t.escalate_after_ms > 0`
	args := []any{minLevel}
	if after != nil {
		q += ` AND (r.created_at, r.id) > (?, ?)`
		args = append(args, ms(after.At), after.ID)
	}
	q += ` ORDER BY r.created_at, r.id LIMIT ?`
	args = append(args, pageLimit(limit))
	rows, err := t.q.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("escalated requests: %w", err)
	}
	defer rows.Close()
	var out []approvals.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
