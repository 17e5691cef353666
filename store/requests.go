package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

const requestCols = `r.id, r.template_key, r.app_id, r.requester, r.reason, r.metadata, r.ttl_ms, r.created_at, r.expires_at,
	r.status, r.decided_at, r.decided_by, r.approvals, t.title, t.type, a.name`

const requestFrom = ` FROM requests r JOIN templates t ON t.key = r.template_key JOIN applications a ON a.id = r.app_id`

func scanRequest(s interface{ Scan(...any) error }) (approvals.Request, error) {
	var r approvals.Request
	var md, status, typ string
	var ttl, created, expires int64
	var decided sql.NullInt64
	var by sql.NullString
	err := s.Scan(&r.ID, &r.TemplateKey, &r.AppID, &r.Requester, &r.Reason, &md, &ttl, &created, &expires,
		&status, &decided, &by, &r.Approvals, &r.TemplateTitle, &typ, &r.AppName)
	if err != nil {
		return r, err
	}
	r.TTL, r.CreatedAt, r.ExpiresAt = msDur(ttl), fromMS(created), fromMS(expires)
	r.Status, r.TemplateType = approvals.Status(status), approvals.TemplateType(typ)
	r.DecidedAt, r.DecidedBy = fromNullMS(decided), by.String
	if err := json.Unmarshal([]byte(md), &r.Metadata); err != nil {
		return r, fmt.Errorf("request %s metadata: %w", r.ID, err)
	}
	return r, nil
}

func (t *tx) Request(id string) (approvals.Request, error) {
	r, err := scanRequest(t.queryRow(`SELECT `+requestCols+requestFrom+` WHERE r.id = ?`, id))
	if err != nil {
		return r, notFound("request", id, err)
	}
	return r, nil
}

func metadataJSON(md map[string]string) (string, error) {
	if md == nil {
		md = map[string]string{}
	}
	b, err := json.Marshal(md) // keys sorted: one canonical text per map
	return string(b), err
}

func (t *tx) InsertRequest(r approvals.Request) error {
	return insertRequest(t.ctx, t.q, r)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const insertRequestSQL = `INSERT INTO requests (id, template_key, app_id, requester, reason, metadata, ttl_ms, created_at, expires_at, status, decided_at, decided_by, approvals)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func requestArgs(r approvals.Request) ([]any, error) {
	md, err := metadataJSON(r.Metadata)
	if err != nil {
		return nil, err
	}
	var by any
	if r.DecidedBy != "" {
		by = r.DecidedBy
	}
	return []any{r.ID, r.TemplateKey, r.AppID, r.Requester, r.Reason, md, r.TTL.Milliseconds(), ms(r.CreatedAt), ms(r.ExpiresAt),
		string(r.Status), nullMS(r.DecidedAt), by, r.Approvals}, nil
}

func insertRequest(ctx context.Context, q execer, r approvals.Request) error {
	args, err := requestArgs(r)
	if err != nil {
		return fmt.Errorf("insert request %s: %w", r.ID, err)
	}
	if _, err := q.ExecContext(ctx, insertRequestSQL, args...); err != nil {
		if isConstraint(err) {
			return fmt.Errorf("insert request %s (duplicate id or unknown template/application): %w", r.ID, approvals.ErrConflict)
		}
		return fmt.Errorf("insert request %s: %w", r.ID, err)
	}
	return nil
}

func (t *tx) SetRequestStatus(id string, status approvals.Status, at time.Time, by string) error {
	res, err := t.exec(`UPDATE requests SET status = ?, decided_at = ?, decided_by = ? WHERE id = ? AND status = 'pending'`, string(status), ms(at), by, id)
	if err != nil {
		return fmt.Errorf("set request %s %s: %w", id, status, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		r, err := t.Request(id)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s by %s at %s", approvals.ErrNotPending, r.Status, r.DecidedBy, r.DecidedAt.Format(time.RFC3339))
	}
	return nil
}

// listSQL builds the WHERE clause, ordering and arguments of q. reverse
// walks the scope's order backwards (for Before).
func listSQL(q approvals.RequestQuery, count bool) (string, []any) {
	var where []string
	var args []any
	timeCol := "r.created_at"
	desc := true
	switch q.Scope {
	case approvals.ScopePending:
		where = append(where, "r.status = 'pending'")
		desc = false
	case approvals.ScopeDecided:
		where = append(where, "r.decided_at IS NOT NULL")
		timeCol = "r.decided_at"
	}
	if q.EligibleFor != "" {
		oncall := ""
		var oncallArgs []any
		if len(q.OnCall) > 0 {
			oncall = ` UNION ALL SELECT template_key FROM template_oncall WHERE rotation IN (?` + strings.Repeat(", ?", len(q.OnCall)-1) + `)`
			for _, r := range q.OnCall {
				oncallArgs = append(oncallArgs, r)
			}
		}
		where = append(where,
			`r.template_key IN (SELECT template_key FROM template_approvers WHERE login = ?
				UNION ALL SELECT tg.template_key FROM template_groups tg JOIN approver_groups ag ON ag.group_name = tg.group_name WHERE ag.login = ?`+oncall+`)`,
			"r.requester <> ?",
			"NOT EXISTS (SELECT 1 FROM reviews v WHERE v.request_id = r.id AND v.approver = ?)")
		args = append(args, q.EligibleFor, q.EligibleFor)
		args = append(args, oncallArgs...)
		args = append(args, q.EligibleFor, q.EligibleFor)
	}
	if q.Requester != "" {
		where = append(where, "r.requester = ?")
		args = append(args, q.Requester)
	}
	if f := strings.TrimSpace(q.Filter); f != "" {
		pat := "%" + likeEscape(f) + "%"
		where = append(where, `(r.requester LIKE ? ESCAPE '\' OR r.template_key LIKE ? ESCAPE '\' OR t.title LIKE ? ESCAPE '\' OR r.reason LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat, pat)
	}
	if count {
		return joinWhere(where), args
	}
	reverse := q.Before != nil && q.After == nil
	cur := q.After
	if reverse {
		cur = q.Before
	}
	if cur != nil {
		// Rows strictly past the cursor in the walking direction.
		forwardGreater := !desc
		if reverse {
			forwardGreater = !forwardGreater
		}
		op := "<"
		if forwardGreater {
			op = ">"
		}
		where = append(where, fmt.Sprintf("(%s, r.id) %s (?, ?)", timeCol, op))
		args = append(args, ms(cur.At), cur.ID)
	}
	dir := "ASC"
	if desc != reverse {
		dir = "DESC"
	}
	clause := joinWhere(where) + fmt.Sprintf(" ORDER BY %s %s, r.id %s LIMIT ?", timeCol, dir, dir)
	args = append(args, pageLimit(q.Limit))
	return clause, args
}

func joinWhere(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// likeEscape makes the user's text literal inside a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (t *tx) Requests(q approvals.RequestQuery) ([]approvals.Request, error) {
	clause, args := listSQL(q, false)
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+requestCols+requestFrom+clause, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	out := make([]approvals.Request, 0, pageLimit(q.Limit))
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if q.Before != nil && q.After == nil {
		slices.Reverse(out)
	}
	return out, nil
}

func (t *tx) CountRequests(q approvals.RequestQuery) (int, error) {
	clause, args := listSQL(q, true)
	from := ` FROM requests r`
	if strings.TrimSpace(q.Filter) != "" {
		from = ` FROM requests r JOIN templates t ON t.key = r.template_key`
	}
	var n int
	if err := t.queryRow(`SELECT COUNT(*)`+from+clause, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}

// BulkInsertRequests inserts many requests and their audit events in one
// transaction with prepared statements: the batch path for demo and
// benchmark databases (one fsync per batch instead of per row).
func (db *DB) BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error {
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*tx)
		stmt, err := t.q.PrepareContext(ctx, insertRequestSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range reqs {
			args, err := requestArgs(r)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("bulk insert request %s: %w", r.ID, err)
			}
		}
		seq, head, err := t.AuditHead()
		if err != nil {
			return err
		}
		for _, ev := range audit {
			stored, err := t.appendAudit(ev, seq, head)
			if err != nil {
				return err
			}
			seq, head = stored.Seq, stored.Hash
		}
		return nil
	})
}

func (t *tx) DuePending(now time.Time, limit int) ([]approvals.Request, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+requestCols+requestFrom+
		` WHERE r.status = 'pending' AND r.expires_at <= ? ORDER BY r.expires_at, r.id LIMIT ?`, ms(now), pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due requests: %w", err)
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
