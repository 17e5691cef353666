package pgstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/approvals"
)

const requestCols = `r.id, r.template_key, r.app_id, r.requester, r.reason, r.metadata, r.ttl_ms, r.created_at, r.expires_at,
	r.status, r.decided_at, r.decided_by, r.approvals, t.title, t.type, a.name, r.escalation,
	r.requester_identity, r.template_version, r.decided_comment, t.quorum,
	(SELECT g.id || '|' || g.expires_at || '|' || COALESCE(g.revoked_at::text, '') || '|' || CASE WHEN g.break_glass THEN '1' ELSE '0' END
		|| '|' || COALESCE(g.reviewed_at::text, '') || '|' || COALESCE(g.revoked_by, '')
		FROM grants g WHERE g.request_id = r.id)`

// requestFrom joins what lists show beside a request. The joins are on
// primary keys, one lookup per row returned, and the planner keeps requests
// as the outer loop because only its index serves the ORDER BY.
const requestFrom = ` FROM requests r JOIN templates t ON t.key = r.template_key JOIN applications a ON a.id = r.app_id`

func scanRequest(s interface{ Scan(...any) error }) (approvals.Request, error) {
	var r approvals.Request
	var md, status, typ string
	var ttl, created, expires int64
	var decided sql.NullInt64
	var by, grant sql.NullString
	err := s.Scan(&r.ID, &r.TemplateKey, &r.AppID, &r.Requester, &r.Reason, &md, &ttl, &created, &expires,
		&status, &decided, &by, &r.Approvals, &r.TemplateTitle, &typ, &r.AppName, &r.Escalation,
		&r.RequesterIdentity, &r.TemplateVersion, &r.DecidedComment, &r.Quorum, &grant)
	if err != nil {
		return r, err
	}
	if grant.Valid {
		if r.Grant, err = approvals.DecodeGrantSummary(grant.String); err != nil {
			return r, fmt.Errorf("grant of request %s: %w", r.ID, err)
		}
	}
	r.TTL, r.CreatedAt, r.ExpiresAt = msDur(ttl), fromMS(created), fromMS(expires)
	r.Status, r.TemplateType = approvals.Status(status), approvals.TemplateType(typ)
	r.DecidedAt, r.DecidedBy = fromNullMS(decided), by.String
	if md != "{}" { // the common case needs no decoding
		if err := json.Unmarshal([]byte(md), &r.Metadata); err != nil {
			return r, fmt.Errorf("decode metadata of request %s: %w", r.ID, err)
		}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	return r, nil
}

// Request returns the request with this id, with its template title and
// type and application name.
func (t *tx) Request(id string) (approvals.Request, error) {
	r, err := scanRequest(t.queryRow(`SELECT `+requestCols+requestFrom+` WHERE r.id = ?`, id))
	if err != nil {
		return r, notFound("request", id, err)
	}
	return r, nil
}

// metadataJSON is the canonical text of a request's metadata: a JSON object
// with keys sorted (encoding/json sorts map keys), {} when empty.
func metadataJSON(md map[string]string) (string, error) {
	if md == nil {
		md = map[string]string{}
	}
	b, err := json.Marshal(md)
	return string(b), err
}

// InsertRequest stores a new request: ErrConflict on a duplicate id,
// ErrNotFound when its template or application does not exist, ErrInvalid
// when its status and decision fields disagree.
func (t *tx) InsertRequest(r approvals.Request) error {
	what := fmt.Sprintf("insert request %s (template %s, application %s)", r.ID, r.TemplateKey, r.AppID)
	args, err := requestArgs(r)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	res, err := t.exec(insertRequestSQL+` ON CONFLICT DO NOTHING`, args...)
	return inserted(res, err, what, approvals.ErrConflict)
}

const insertRequestSQL = `INSERT INTO requests (id, template_key, app_id, requester, reason, metadata, ttl_ms, created_at, expires_at, status, decided_at, decided_by, approvals,
	requester_identity, template_version, decided_comment)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func requestArgs(r approvals.Request) ([]any, error) {
	md, err := metadataJSON(r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	var by any
	if r.DecidedBy != "" {
		by = r.DecidedBy
	}
	return []any{r.ID, r.TemplateKey, r.AppID, r.Requester, r.Reason, md, r.TTL.Milliseconds(), ms(r.CreatedAt), ms(r.ExpiresAt),
		string(r.Status), nullMS(r.DecidedAt), by, r.Approvals, r.RequesterIdentity, max(r.TemplateVersion, 1), r.DecidedComment}, nil
}

// SetRequestStatus moves a pending request to status, decided at "at" by
// "by". The status = 'pending' condition is in the UPDATE itself, so two
// deciders cannot both win: ErrNotPending (naming the earlier decision)
// when it was no longer pending, ErrNotFound when it does not exist.
func (t *tx) SetRequestStatus(id string, status approvals.Status, at time.Time, by, comment string) error {
	res, err := t.exec(`UPDATE requests SET status = ?, decided_at = ?, decided_by = ?, decided_comment = ? WHERE id = ? AND status = 'pending'`, string(status), ms(at), by, comment, id)
	if err != nil {
		return dbErr(fmt.Sprintf("set request %s %s", id, status), err, approvals.ErrConflict)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set request %s %s: %w", id, status, err)
	}
	if n == 0 {
		r, err := t.Request(id)
		if err != nil {
			return err
		}
		return fmt.Errorf("request %s: %w", id, &approvals.DecidedError{RequestID: id, Status: r.Status, By: r.DecidedBy, At: r.DecidedAt})
	}
	return nil
}

// listSQL builds the FROM, WHERE, ORDER BY and LIMIT of q (only FROM and
// WHERE when count is set) and its arguments; titles says whether the
// filter matches some template's title (see titleMatches).
//
// Each scope walks one index in its order, so a page reads about Limit
// index entries (more when a filter or EligibleFor skips rows) and never
// sorts: pending uses (status, created_at, id) ascending, all
// (created_at, id) descending, decided the partial (decided_at, id)
// descending. The cursor is a row-value comparison, which SQLite ≥ 3.15 and
// PostgreSQL both turn into an index range. Before walks the same index the
// other way; Requests flips the page back into scope order.
func listSQL(q approvals.RequestQuery, count bool, titles bool) (string, []any) {
	var where []string
	var args []any
	timeCol := "r.created_at"
	desc := true
	switch q.Scope {
	case approvals.ScopePending:
		where = append(where, "r.status = 'pending'")
		desc = false
	case approvals.ScopeDecided:
		// Same rows as status <> 'pending' (a CHECK ties decided_at to the
		// status), but this form matches the partial index's WHERE.
		where = append(where, "r.decided_at IS NOT NULL")
		timeCol = "r.decided_at"
	}
	if q.EligibleFor != "" {
		if q.Scope != approvals.ScopePending {
			// Only a pending request can still be decided.
			where = append(where, "r.status = 'pending'")
		}
		// The IN list is computed once per query (it is not correlated;
		// UNION ALL because IN ignores duplicates and UNION would sort):
		// the approver's templates, named, through a group or through a
		// rotation they are on call for now (q.OnCall, which Service
		// resolves), each lookup on an index. requester and reviews are
		// checked per row; reviews by its (request_id, approver) key.
		oncall := ""
		if len(q.OnCall) > 0 {
			oncall = `
				UNION ALL SELECT tc.template_key FROM template_oncall tc WHERE tc.rotation IN (?` + strings.Repeat(", ?", len(q.OnCall)-1) + `)`
		}
		// Escalation widens the set per request: a rotation the approver is
		// d hand-overs into counts for requests escalated at least d steps,
		// and an escalation group from the first step.
		escalated := ""
		var escArgs []any
		for _, r := range q.Reach {
			escalated += ` OR (r.escalation >= ? AND r.template_key IN (SELECT te.template_key FROM template_oncall te WHERE te.rotation = ?))`
			escArgs = append(escArgs, r.Level, r.Rotation)
		}
		if len(q.EscalationGroups) > 0 {
			escalated += ` OR (r.escalation >= 1 AND r.template_key IN (SELECT tx.key FROM templates tx WHERE tx.escalate_group IN (?` + strings.Repeat(", ?", len(q.EscalationGroups)-1) + `)))`
			for _, g := range q.EscalationGroups {
				escArgs = append(escArgs, g)
			}
		}
		where = append(where,
			`(r.template_key IN (SELECT ta.template_key FROM template_approvers ta WHERE ta.login = ?
				UNION ALL SELECT tg.template_key FROM approver_groups ag JOIN template_groups tg ON tg.group_name = ag.group_name WHERE ag.login = ?`+oncall+`)`+escalated+`)`,
			"r.requester <> ?",
			"NOT EXISTS (SELECT 1 FROM reviews v WHERE v.request_id = r.id AND v.approver = ?)")
		args = append(args, q.EligibleFor, q.EligibleFor)
		for _, r := range q.OnCall {
			args = append(args, r)
		}
		args = append(args, escArgs...)
		args = append(args, q.EligibleFor, q.EligibleFor)
		if len(q.SelfIdentities) > 0 {
			// The requester is the approver under the identity profile
			// (case, look-alikes, another login with the same email).
			where = append(where, "r.requester_identity NOT IN (?"+strings.Repeat(", ?", len(q.SelfIdentities)-1)+")")
			for _, id := range q.SelfIdentities {
				args = append(args, id)
			}
		}
	}
	if q.Viewer != "" && !q.AllVisible {
		// What the viewer may see: requests of templates they could decide
		// under any rule (named, a group, a rotation they are in at any
		// distance or hold by override now, the escalation group) and their
		// own requests. Like EligibleFor's set, computed once per query.
		held := ""
		if len(q.OnCall) > 0 {
			held = `
				UNION ALL SELECT tc2.template_key FROM template_oncall tc2 WHERE tc2.rotation IN (?` + strings.Repeat(", ?", len(q.OnCall)-1) + `)`
		}
		own := "r.requester = ?"
		ownArgs := []any{q.Viewer}
		if len(q.SelfIdentities) > 0 {
			own += " OR r.requester_identity IN (?" + strings.Repeat(", ?", len(q.SelfIdentities)-1) + ")"
			for _, id := range q.SelfIdentities {
				ownArgs = append(ownArgs, id)
			}
		}
		where = append(where, `(r.template_key IN (SELECT va.template_key FROM template_approvers va WHERE va.login = ?
				UNION ALL SELECT vg.template_key FROM approver_groups vag JOIN template_groups vg ON vg.group_name = vag.group_name WHERE vag.login = ?
				UNION ALL SELECT vo.template_key FROM rotation_members vm JOIN template_oncall vo ON vo.rotation = vm.rotation WHERE vm.login = ?
				UNION ALL SELECT ve.key FROM approver_groups veg JOIN templates ve ON ve.escalate_group = veg.group_name WHERE veg.login = ?`+held+`)
			OR `+own+`)`)
		args = append(args, q.Viewer, q.Viewer, q.Viewer, q.Viewer)
		for _, r := range q.OnCall {
			args = append(args, r)
		}
		args = append(args, ownArgs...)
	}
	if q.Requester != "" {
		where = append(where, "r.requester = ?")
		args = append(args, q.Requester)
	}
	from := ` FROM requests r`
	if f := strings.TrimSpace(q.Filter); f != "" {
		if q.Scope != approvals.ScopePending && utf8.RuneCountInString(f) < approvals.ShortFilterMinRunes {
			// Bound the scan to the newest ShortFilterWindow rows of the
			// scope: the window's oldest time is one OFFSET walk down the
			// scope's time index (a few ms), and rows at or after it are
			// the window (ties at its edge come along).
			edge := "SELECT created_at FROM requests ORDER BY created_at DESC, id DESC"
			if q.Scope == approvals.ScopeDecided {
				edge = "SELECT decided_at FROM requests WHERE decided_at IS NOT NULL ORDER BY decided_at DESC, id DESC"
			}
			where = append(where, fmt.Sprintf("%s >= COALESCE((%s LIMIT 1 OFFSET %d), 0)", timeCol, edge, approvals.ShortFilterWindow-1))
		}
		// ILIKE on "C"-collated text folds ASCII case only, as SQLite's
		// LIKE does. The user's % and _ are escaped so the filter is literal
		// text. Without a matching template title the condition is on
		// requests' own columns alone, which the trigram index serves
		// (a bitmap scan when the planner finds it selective).
		pat := "%" + likeEscape(f) + "%"
		if titles {
			where = append(where, `(r.requester ILIKE ? ESCAPE '\' OR r.template_key ILIKE ? ESCAPE '\' OR t.title ILIKE ? ESCAPE '\' OR r.reason ILIKE ? ESCAPE '\')`)
			args = append(args, pat, pat, pat, pat)
			from = ` FROM requests r JOIN templates t ON t.key = r.template_key`
		} else {
			where = append(where, `(r.requester ILIKE ? ESCAPE '\' OR r.template_key ILIKE ? ESCAPE '\' OR r.reason ILIKE ? ESCAPE '\')`)
			args = append(args, pat, pat, pat)
		}
	}
	if count {
		return from + joinWhere(where), args
	}
	return listPage(q, requestFrom, where, args, timeCol, desc)
}

// listPage adds the keyset cursor, order and limit to a list query.
func listPage(q approvals.RequestQuery, from string, where []string, args []any, timeCol string, desc bool) (string, []any) {
	reverse := q.Before != nil && q.After == nil
	cur := q.After
	if reverse {
		cur = q.Before
	}
	if cur != nil {
		// Rows strictly past the cursor in the walking direction.
		op := "<"
		if desc == reverse {
			op = ">"
		}
		where = append(where, fmt.Sprintf("(%s, r.id) %s (?, ?)", timeCol, op))
		args = append(args, ms(cur.At), cur.ID)
	}
	dir := "ASC"
	if desc != reverse {
		dir = "DESC"
	}
	clause := from + joinWhere(where) + fmt.Sprintf(" ORDER BY %s %s, r.id %s LIMIT ?", timeCol, dir, dir)
	args = append(args, pageLimit(q.Limit))
	return clause, args
}

func joinWhere(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// titleMatches reports whether a filter matches any template's title
// (templates are few). Only then does the filter need the join to
// templates; otherwise it is a condition on requests alone.
func (t *tx) titleMatches(filter string) (bool, error) {
	f := strings.TrimSpace(filter)
	if f == "" {
		return false, nil
	}
	var titles bool
	if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM templates WHERE title ILIKE ? ESCAPE '\')`, "%"+likeEscape(f)+"%").Scan(&titles); err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	return titles, nil
}

// likeEscape makes the user's text literal inside a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Requests returns one keyset page of q in the scope's order (see listSQL).
func (t *tx) Requests(q approvals.RequestQuery) ([]approvals.Request, error) {
	titles, err := t.titleMatches(q.Filter)
	if err != nil {
		return nil, err
	}
	clause, args := listSQL(q, false, titles)
	rows, err := t.query(`SELECT `+requestCols+clause, args...)
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

// CountRequests counts what q selects, ignoring paging, up to
// q.CountAtMost when set. It walks the matching index entries: cheap for the
// pending queue at normal sizes, linear in the matches (33 ms over a million
// decided requests), hence the cap for history.
func (t *tx) CountRequests(q approvals.RequestQuery) (int, error) {
	titles, err := t.titleMatches(q.Filter)
	if err != nil {
		return 0, err
	}
	clause, args := listSQL(q, true, titles)
	query := `SELECT COUNT(*)` + clause
	if q.CountAtMost > 0 {
		// The inner LIMIT stops the index walk at CountAtMost rows.
		query = `SELECT COUNT(*) FROM (SELECT 1` + clause + ` LIMIT ?) AS c`
		args = append(args, q.CountAtMost)
	}
	var n int
	if err := t.queryRow(query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}

// requestColumns are the columns of insertRequestSQL, for COPY.
var requestColumns = []string{"id", "template_key", "app_id", "requester", "reason", "metadata", "ttl_ms", "created_at", "expires_at", "status",
	"decided_at", "decided_by", "approvals", "requester_identity", "template_version", "decided_comment"}

var auditColumns = []string{"seq", "at", "actor", "action", "subject", "payload", "prev_hash", "hash"}

// BulkInsertRequests inserts many requests and appends the given audit
// events to the chain, all in one write transaction through COPY: the
// loading path for demo and benchmark databases (demo.BulkLoader). Rows are
// inserted as given, without the checks Service applies; a duplicate id is
// ErrConflict and nothing is written.
func (db *DB) BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error {
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*tx)
		rows := make([][]any, 0, len(reqs))
		for _, r := range reqs {
			args, err := requestArgs(r)
			if err != nil {
				return fmt.Errorf("bulk insert request %s: %w", r.ID, err)
			}
			rows = append(rows, args)
		}
		if len(rows) > 0 {
			if _, err := t.conn.CopyFrom(ctx, pgx.Identifier{"requests"}, requestColumns, pgx.CopyFromRows(rows)); err != nil {
				return dbErr(fmt.Sprintf("bulk insert %d requests", len(rows)), err, approvals.ErrConflict)
			}
		}
		if len(audit) == 0 {
			return nil
		}
		seq, head, err := t.AuditHead()
		if err != nil {
			return err
		}
		evs := make([][]any, 0, len(audit))
		for _, ev := range audit {
			ev, args, err := chainAudit(ev, seq, head)
			if err != nil {
				return err
			}
			evs = append(evs, args)
			seq, head = ev.Seq, ev.Hash
		}
		if _, err := t.conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns, pgx.CopyFromRows(evs)); err != nil {
			return fmt.Errorf("bulk append %d audit events: %w", len(evs), err)
		}
		return nil
	})
}

// collectRequests scans every row of a request query and closes rows.
func collectRequests(rows pgx.Rows) ([]approvals.Request, error) {
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

// DuePending returns up to limit pending requests whose pending timeout has
// passed at now, soonest first, from the partial index on pending expiry.
func (t *tx) DuePending(now time.Time, limit int) ([]approvals.Request, error) {
	rows, err := t.query(`SELECT `+requestCols+requestFrom+
		` WHERE r.status = 'pending' AND r.expires_at <= ? ORDER BY r.expires_at, r.id LIMIT ?`, ms(now), pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due requests: %w", err)
	}
	return collectRequests(rows)
}
