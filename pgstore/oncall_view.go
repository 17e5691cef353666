package pgstore

import (
	"fmt"

	"github.com/jitdesk/jitdesk/approvals"
)

// EscalatingRequests lists pending requests of escalating templates
// escalated at least minLevel steps, oldest first, after the given
// position (keyset on created_at, id). As in DueEscalations, the few
// escalating templates drive and each one's pending requests are a range of
// requests_pending_by_template, so requests of other templates are never
// read; only escalating templates' pending requests past the cursor are
// sorted.
func (t *tx) EscalatingRequests(minLevel int, after *approvals.Cursor, limit int) ([]approvals.Request, error) {
	q := `SELECT ` + requestCols + `
		FROM templates t CROSS JOIN requests r
		JOIN applications a ON a.id = r.app_id
		WHERE t.escalate_after_ms > 0 AND r.template_key = t.key AND r.status = 'pending' AND r.escalation >= ?`
	args := []any{minLevel}
	if after != nil {
		q += ` AND (r.created_at, r.id) > (?, ?)`
		args = append(args, ms(after.At), after.ID)
	}
	q += ` ORDER BY r.created_at, r.id LIMIT ?`
	args = append(args, pageLimit(limit))
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("escalated requests: %w", err)
	}
	return collectRequests(rows)
}
