package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitdesk/jitdesk/approvals"
)

const requestCols = `r.id, r.template_key, r.app_id, r.requester, r.reason, r.metadata, r.ttl_ms, r.created_at, r.expires_at,
	r.status, r.decided_at, r.decided_by, r.approvals, t.title, t.type, a.name, r.escalation,
	r.requester_identity, r.template_version, r.decided_comment, t.quorum,
	(SELECT g.id || '|' || g.expires_at || '|' || COALESCE(g.revoked_at, '') || '|' || g.break_glass || '|' || COALESCE(g.reviewed_at, '') || '|' || COALESCE(g.revoked_by, '')
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
	res, err := t.exec(insertRequestSQL, args...) // prepared: parsing it (and its triggers) was a quarter of intake's CPU
	if err != nil {
		return dbErr(what, err, approvals.ErrConflict)
	}
	if err := t.toIndex(res); err != nil {
		return err
	}
	t.toPendingIndex(r)
	return nil
}

// toPendingIndex notes a new pending request's character pairs for
// requests_pending_grams, fed once per transaction like the trigram index
// (indexNew). It follows toIndex, which noted the request's rowid.
func (t *tx) toPendingIndex(r approvals.Request) {
	if r.Status != approvals.StatusPending {
		return
	}
	t.newGrams = append(t.newGrams, [2]any{t.newRows[len(t.newRows)-1], pendingGrams(r.Requester, r.Reason)})
}

// pendingGrams is what requests_pending_grams indexes for a request with
// these fields (migration 0014, whose SQL builds the same for the rows it
// finds): per character, a token of its UTF-8 bytes and the next
// character's in hex, or "x" for a field's last character, after ASCII
// lower-casing (the only case folding LIKE does in SQLite).
func pendingGrams(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		f = asciiLower(f)
		for i := 0; i < len(f); {
			_, n := utf8.DecodeRuneInString(f[i:])
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(hex.EncodeToString([]byte(f[i : i+n])))
			if i+n < len(f) {
				_, m := utf8.DecodeRuneInString(f[i+n:])
				b.WriteString(hex.EncodeToString([]byte(f[i+n : i+n+m])))
			} else {
				b.WriteByte('x')
			}
			i += n
		}
	}
	return b.String()
}

// asciiLower lower-cases A-Z only, as SQLite's lower() and LIKE do.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// pendingGramQuery is the FTS5 query of requests_pending_grams that finds
// the pending requests whose requester or reason contains a filter of one
// or two characters: the pair's token, or every token the one character
// starts.
func pendingGramQuery(filter string) string {
	f := asciiLower(filter)
	_, n := utf8.DecodeRuneInString(f)
	tok := hex.EncodeToString([]byte(f))
	if n == len(f) {
		return `"` + tok + `"*`
	}
	return `"` + tok + `"`
}

// toIndex notes a new request's rowid for the search index, which the
// store feeds once per transaction (indexNew) rather than per row.
func (t *tx) toIndex(res sql.Result) error {
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("new request's rowid: %w", err)
	}
	t.newRows = append(t.newRows, id)
	return nil
}

// indexNew adds the requests this transaction inserted to the trigram
// search index, in one statement (one FTS5 segment per transaction).
func (t *tx) indexNew() error {
	if len(t.newRows) == 0 {
		return nil
	}
	ids, _ := json.Marshal(t.newRows)
	_, err := t.exec(`INSERT INTO requests_search (rowid, requester, reason)
		SELECT rowid, requester, reason FROM requests WHERE rowid IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return fmt.Errorf("index %d new requests for search: %w", len(t.newRows), err)
	}
	t.newRows = nil
	if len(t.newGrams) == 0 {
		return nil
	}
	grams, err := json.Marshal(t.newGrams)
	if err != nil {
		return fmt.Errorf("index %d new pending requests for short filters: %w", len(t.newGrams), err)
	}
	// Only rows still pending: one decided in this same transaction has
	// left the pending set already (its trigger found nothing to delete).
	// CROSS JOIN keeps the JSON array outside: without statistics the
	// planner may otherwise walk requests and search the array per row.
	_, err = t.exec(`INSERT INTO requests_pending_grams (rowid, grams)
		SELECT r.rowid, json_extract(j.value, '$[1]') FROM json_each(?) j CROSS JOIN requests r ON r.rowid = json_extract(j.value, '$[0]')
		WHERE r.status = 'pending'`, string(grams))
	if err != nil {
		return fmt.Errorf("index %d new pending requests for short filters: %w", len(t.newGrams), err)
	}
	t.newGrams = nil
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
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
// WHERE when count is set) and its arguments.
//
// Each scope walks one index in its order, so a page reads about Limit
// index entries (more when a filter or EligibleFor skips rows) and never
// sorts: pending uses (status, created_at, id) ascending, all
// (created_at, id) descending, decided the partial (decided_at, id)
// descending. The cursor is a row-value comparison, which SQLite ≥ 3.15 and
// PostgreSQL both turn into an index range. Before walks the same index the
// other way; Requests flips the page back into scope order.
func listSQL(q approvals.RequestQuery, count bool, narrow string, titled []string) (string, []any) {
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
	if narrow != "" {
		// A selective filter: its few candidate rows (a JSON array of
		// rowids from a search index) drive the query, looked up by rowid
		// and sorted, instead of walking the scope's index past
		// non-matches. CROSS JOIN keeps that join order. The trigram index
		// keeps no positions, so its candidates are those holding every
		// trigram of the filter: the LIKE the scan uses decides, on the row
		// the query reads anyway (no template matches the filter, or there
		// would be no narrow set).
		pat := "%" + likeEscape(strings.TrimSpace(q.Filter)) + "%"
		where = append(where, `(r.requester LIKE ? ESCAPE '\' OR r.reason LIKE ? ESCAPE '\')`)
		args = append(append([]any{narrow}, args...), pat, pat)
		if count {
			return ` FROM json_each(?) m CROSS JOIN requests r ON r.rowid = m.value` + joinWhere(where), args
		}
		return listPage(q, ` FROM json_each(?) m CROSS JOIN requests r ON r.rowid = m.value JOIN templates t ON t.key = r.template_key JOIN applications a ON a.id = r.app_id`, where, args, timeCol, desc)
	}
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
		// LIKE is case-insensitive for ASCII in SQLite (PostgreSQL: ILIKE).
		// The user's % and _ are escaped so the filter is literal text.
		// Templates are few: those whose key or title match were found
		// first (titled), so a row is matched on its own columns alone,
		// without a join per row.
		pat := "%" + likeEscape(f) + "%"
		cond := `r.requester LIKE ? ESCAPE '\' OR r.reason LIKE ? ESCAPE '\'`
		args = append(args, pat, pat)
		if len(titled) > 0 {
			cond += ` OR r.template_key IN (?` + strings.Repeat(", ?", len(titled)-1) + `)`
			for _, k := range titled {
				args = append(args, k)
			}
		}
		where = append(where, "("+cond+")")
		if q.Scope == approvals.ScopePending {
			// The scan reads the narrow covering index of pending rows
			// (migration 0010) rather than every pending row's record;
			// the planner, without statistics, would pick the status index.
			from = ` FROM requests r INDEXED BY requests_pending_search`
			if count {
				return from + joinWhere(where), args
			}
			return listPage(q, from+` JOIN templates t ON t.key = r.template_key JOIN applications a ON a.id = r.app_id`, where, args, timeCol, desc)
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

// narrowMax is the most matches for which a filter counts as selective.
// Above it, matches are dense enough that walking the scope's index with
// LIKE fills a page quickly; below it, the trigram index finds them at once
// (a filter matching nothing no longer scans every request in scope).
const narrowMax = 2000

// narrowFilter returns the candidate rowids of a selective filter as a
// JSON array (every match among them; listSQL keeps the matches), or ""
// when the filter should use the LIKE scan: matching a template (then
// every request of that template matches), or with more than narrowMax
// candidates. A filter of three characters or more is looked up in the
// trigram index; a shorter one over the pending scope in the pending
// requests' character pairs (migration 0014); a shorter one over another
// scope scans its newest window (see listSQL).
func (t *tx) narrowFilter(q approvals.RequestQuery) (string, error) {
	f := strings.TrimSpace(q.Filter)
	if f == "" {
		return "", nil
	}
	if utf8.RuneCountInString(f) < approvals.ShortFilterMinRunes {
		// Invalid UTF-8 is left to LIKE, whose idea of a character there
		// the index need not share.
		if q.Scope != approvals.ScopePending || !utf8.ValidString(f) {
			return "", nil
		}
		return t.narrowShort(f)
	}
	if !utf8.ValidString(f) {
		// The trigrams of invalid UTF-8 are the tokenizer's guess; LIKE
		// alone decides what such a filter matches.
		return "", nil
	}
	pat := "%" + likeEscape(f) + "%"
	var titled int
	if err := t.queryRow(`SELECT COUNT(*) FROM templates WHERE key LIKE ? ESCAPE '\' OR title LIKE ? ESCAPE '\'`, pat, pat).Scan(&titled); err != nil {
		return "", fmt.Errorf("filter: %w", err)
	}
	if titled > 0 {
		return "", nil
	}
	// The index keeps no positions (migration 0015): it yields the rows
	// holding every trigram of the filter, a superset of the matches that
	// listSQL narrows with LIKE. More candidates than narrowMax take the
	// scan, as more matches would.
	return t.narrowRows(`SELECT rowid FROM requests_search WHERE requests_search MATCH ? LIMIT ?`, trigramQuery(f), narrowMax+1)
}

// maxQueryTrigrams bounds the trigrams a filter is looked up by, so a
// pasted paragraph does not open hundreds of posting lists: a long
// filter's rows are found by a sample of its trigrams as well as by all of
// them (LIKE checks each candidate). Below the bound every trigram is
// used: the rarest one, wherever it is, is what makes a lookup of a
// filter matching nothing fast.
const maxQueryTrigrams = 32

// trigramQuery is the FTS5 query for the rows of requests_search holding
// every trigram of filter (at least three characters): each trigram one
// quoted term, implicitly ANDed, duplicates dropped; past maxQueryTrigrams,
// that many spread over the filter from its first to its last.
func trigramQuery(filter string) string {
	runes := []rune(filter)
	n := len(runes) - 2
	picks := make([]int, 0, min(n, maxQueryTrigrams))
	if n <= maxQueryTrigrams {
		for i := range n {
			picks = append(picks, i)
		}
	} else {
		for k := range maxQueryTrigrams {
			picks = append(picks, k*(n-1)/(maxQueryTrigrams-1))
		}
	}
	seen := make(map[string]bool, len(picks))
	terms := make([]string, 0, len(picks))
	for _, i := range picks {
		g := string(runes[i : i+3])
		if seen[g] {
			continue
		}
		seen[g] = true
		terms = append(terms, `"`+strings.ReplaceAll(g, `"`, `""`)+`"`)
	}
	return strings.Join(terms, " ")
}

// narrowShort is narrowFilter for a filter of one or two characters over
// the pending scope. The pair index holds requester and reason; a filter
// that matches a template's key or title matches its every request, so it
// takes the scan, which fills a page at once.
func (t *tx) narrowShort(f string) (string, error) {
	pat := "%" + likeEscape(f) + "%"
	var titled int
	if err := t.queryRow(`SELECT COUNT(*) FROM templates WHERE key LIKE ? ESCAPE '\' OR title LIKE ? ESCAPE '\'`, pat, pat).Scan(&titled); err != nil {
		return "", fmt.Errorf("filter: %w", err)
	}
	if titled > 0 {
		return "", nil
	}
	return t.narrowRows(`SELECT rowid FROM requests_pending_grams WHERE requests_pending_grams MATCH ? LIMIT ?`, pendingGramQuery(f), narrowMax+1)
}

// narrowRows runs an index query of rowids, returning them as a JSON array,
// or "" when there are more than narrowMax.
func (t *tx) narrowRows(query string, args ...any) (string, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return "", fmt.Errorf("filter: %w", err)
	}
	defer rows.Close()
	ids := make([]int64, 0, 16)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("filter: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("filter: %w", err)
	}
	if len(ids) > narrowMax {
		return "", nil
	}
	b, _ := json.Marshal(ids)
	return string(b), nil
}

// titledTemplates lists the templates whose key or title contain the
// filter (there are few), for a filter that scans rows (no narrow set).
func (t *tx) titledTemplates(filter, narrow string) ([]string, error) {
	f := strings.TrimSpace(filter)
	if f == "" || narrow != "" {
		return nil, nil
	}
	pat := "%" + likeEscape(f) + "%"
	keys, err := t.strings(`SELECT key FROM templates WHERE key LIKE ? ESCAPE '\' OR title LIKE ? ESCAPE '\' ORDER BY key LIMIT 500`, pat, pat)
	if err != nil {
		return nil, fmt.Errorf("filter templates: %w", err)
	}
	return keys, nil
}

// likeEscape makes the user's text literal inside a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Requests returns one keyset page of q in the scope's order (see listSQL).
func (t *tx) Requests(q approvals.RequestQuery) ([]approvals.Request, error) {
	narrow, err := t.narrowFilter(q)
	if err != nil {
		return nil, err
	}
	titled, err := t.titledTemplates(q.Filter, narrow)
	if err != nil {
		return nil, err
	}
	clause, args := listSQL(q, false, narrow, titled)
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
	narrow, err := t.narrowFilter(q)
	if err != nil {
		return 0, err
	}
	titled, err := t.titledTemplates(q.Filter, narrow)
	if err != nil {
		return 0, err
	}
	clause, args := listSQL(q, true, narrow, titled)
	query := `SELECT COUNT(*)` + clause
	if q.CountAtMost > 0 {
		// The inner LIMIT stops the index walk at CountAtMost rows.
		query = `SELECT COUNT(*) FROM (SELECT 1` + clause + ` LIMIT ?)`
		args = append(args, q.CountAtMost)
	}
	var n int
	if err := t.queryRow(query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}

// BulkInsertRequests inserts many requests and appends the given audit
// events to the chain, all in one transaction with prepared statements: the
// loading path for demo and benchmark databases (one fsync per call instead
// of per row; about 10,000 rows a call is a good batch). Rows are inserted
// as given, without the checks Service applies.
func (db *DB) BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error {
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*tx)
		stmt, err := t.q.PrepareContext(ctx, insertRequestSQL)
		if err != nil {
			return fmt.Errorf("bulk insert requests: prepare: %w", err)
		}
		defer stmt.Close()
		for _, r := range reqs {
			args, err := requestArgs(r)
			if err != nil {
				return fmt.Errorf("bulk insert request %s: %w", r.ID, err)
			}
			res, err := stmt.ExecContext(ctx, args...)
			if err != nil {
				return dbErr(fmt.Sprintf("bulk insert request %s (template %s, application %s)", r.ID, r.TemplateKey, r.AppID), err, approvals.ErrConflict)
			}
			if err := t.toIndex(res); err != nil {
				return err
			}
			t.toPendingIndex(r)
		}
		if len(audit) == 0 {
			return nil
		}
		seq, head, err := t.AuditHead()
		if err != nil {
			return err
		}
		astmt, err := t.q.PrepareContext(ctx, insertAuditSQL)
		if err != nil {
			return fmt.Errorf("bulk append audit events: prepare: %w", err)
		}
		defer astmt.Close()
		for _, ev := range audit {
			ev, args, err := chainAudit(ev, seq, head)
			if err != nil {
				return err
			}
			if _, err := astmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("bulk append audit event %d %s %s: %w", ev.Seq, ev.Action, ev.Subject, err)
			}
			seq, head = ev.Seq, ev.Hash
		}
		return nil
	})
}

// collectRequests scans every row of a request query and closes rows.
func collectRequests(rows *sql.Rows) ([]approvals.Request, error) {
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
