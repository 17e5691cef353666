package pgstore

import (
	"fmt"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// DueEscalations returns up to limit pending requests whose template
// escalates and whose next escalation step is due at now (below the cap),
// oldest first.
//
// Escalating templates are few and pending requests may be many, so the
// templates drive (the planner starts from them: few rows) and each one's pending
// requests are a range of requests_pending_by_template ending at the
// youngest request that could be due (created at least one period ago).
// Only the candidates in those ranges are sorted, never the whole pending
// set.
func (t *tx) DueEscalations(now time.Time, limit int) ([]approvals.Request, error) {
	rows, err := t.query(dueEscalationsSQL, ms(now), ms(now), pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due escalations: %w", err)
	}
	return collectRequests(rows)
}

const dueEscalationsSQL = `SELECT ` + requestCols + `
	FROM templates t CROSS JOIN requests r
	JOIN applications a ON a.id = r.app_id
	WHERE t.escalate_after_ms > 0 AND r.template_key = t.key AND r.status = 'pending'
	  AND r.created_at <= ? - t.escalate_after_ms
	  AND r.escalation < t.escalate_cap
	  AND r.created_at + (r.escalation + 1) * t.escalate_after_ms <= ?
	ORDER BY r.created_at, r.id LIMIT ?`

// SetEscalation moves a pending request from one escalation level to
// another, compare-and-set: it reports false (and changes nothing) when
// another sweeper moved it first or it is no longer pending.
func (t *tx) SetEscalation(id string, from, to int) (bool, error) {
	res, err := t.exec(`UPDATE requests SET escalation = ? WHERE id = ? AND status = 'pending' AND escalation = ?`, to, id, from)
	if err != nil {
		return false, fmt.Errorf("escalate %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
