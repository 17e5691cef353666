package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// tx implements approvals.Tx over one SQL transaction. A read transaction
// uses the same type; the read pool is query_only, so a write through it
// fails instead of bypassing the single writer.
type tx struct {
	ctx   context.Context
	q     *sql.Tx
	cache *stmtCache     // prepared statements of this transaction's pool
	count *atomic.Uint64 // statements run, for tests that bound them (nil: not counted)

	// The configuration cache (see configcache.go) and this transaction's
	// view of the configuration version.
	cfg        *configCache
	cfgRead    bool
	cfgVersion int64
	cfgDirty   bool

	// reviews memoises Reviews per request for this transaction.
	reviews map[string][]approvals.Review
	// newRows are the rowids of requests inserted in this transaction,
	// added to the search index before it commits.
	newRows []int64
	// newGrams are [rowid, pendingGrams] of the pending ones among them,
	// for requests_pending_grams.
	newGrams [][2]any
	// jtisPruned: expired replay ids were pruned in this transaction
	// already (once per intake batch is enough).
	jtisPruned bool

	// The audit head after this transaction's last append: the transaction
	// holds the write lock, so nobody else can move it meanwhile.
	headKnown bool
	headSeq   int64
	headHash  string
}

var _ approvals.Tx = (*tx)(nil)

// exec, query and queryRow run SQL through the pool's statement cache.
func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	t.counted()
	if st := t.cache.get(query); st != nil {
		return t.q.StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
	}
	return t.q.ExecContext(t.ctx, query, args...)
}

// execHot is exec (every statement is cached now; the name stays for the
// hot paths that were cached first).
func (t *tx) execHot(query string, args ...any) (sql.Result, error) { return t.exec(query, args...) }

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	t.counted()
	if st := t.cache.get(query); st != nil {
		return t.q.StmtContext(t.ctx, st).QueryContext(t.ctx, args...)
	}
	return t.q.QueryContext(t.ctx, query, args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	t.counted()
	if st := t.cache.get(query); st != nil {
		return t.q.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
	}
	return t.q.QueryRowContext(t.ctx, query, args...)
}

func (t *tx) counted() {
	if t.count != nil {
		t.count.Add(1)
	}
}

// notFound turns sql.ErrNoRows into approvals.ErrNotFound naming what was
// looked up.
func notFound(what, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, approvals.ErrNotFound)
	}
	return fmt.Errorf("read %s %q: %w", what, id, err)
}

// pageLimit applies the list contract: 0 (or less) means 50, at most 500.
func pageLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, 500)
}

// --- applications

const appCols = `id, name, audience, secret, disabled, created_at, secret_format, previous_secret, previous_secret_format, previous_secret_until,
	max_pending, rate_per_second, rate_burst, max_long_polls`

func scanApp(s interface{ Scan(...any) error }) (approvals.Application, error) {
	var a approvals.Application
	var created, prevUntil int64
	err := s.Scan(&a.ID, &a.Name, &a.Audience, &a.Secret, &a.Disabled, &created, &a.SecretFormat, &a.PreviousSecret, &a.PreviousSecretFormat, &prevUntil,
		&a.Limits.MaxPending, &a.Limits.RatePerSecond, &a.Limits.Burst, &a.Limits.MaxLongPolls)
	a.CreatedAt = fromMS(created)
	if prevUntil > 0 {
		a.PreviousSecretUntil = fromMS(prevUntil)
	}
	return a, err
}

func appArgs(a approvals.Application) []any {
	var prevUntil int64
	if !a.PreviousSecretUntil.IsZero() {
		prevUntil = ms(a.PreviousSecretUntil)
	}
	format := a.SecretFormat
	if format == "" {
		format = approvals.SecretPrinted
	}
	prevFormat := a.PreviousSecretFormat
	if prevFormat == "" {
		prevFormat = approvals.SecretPrinted
	}
	return []any{a.ID, a.Name, a.Audience, a.Secret, a.Disabled, ms(a.CreatedAt), format, a.PreviousSecret, prevFormat, prevUntil,
		a.Limits.MaxPending, a.Limits.RatePerSecond, a.Limits.Burst, a.Limits.MaxLongPolls}
}

// Application returns the application with this id, secret included.
func (t *tx) Application(id string) (approvals.Application, error) {
	return t.cachedApp(id, func() (approvals.Application, error) {
		a, err := scanApp(t.queryRow(`SELECT `+appCols+` FROM applications WHERE id = ?`, id))
		if err != nil {
			return a, notFound("application", id, err)
		}
		return a, nil
	})
}

// ApplicationByName returns the application with this name, secret included.
func (t *tx) ApplicationByName(name string) (approvals.Application, error) {
	a, err := scanApp(t.queryRow(`SELECT `+appCols+` FROM applications WHERE name = ?`, name))
	if err != nil {
		return a, notFound("application", name, err)
	}
	return a, nil
}

// Applications lists applications ordered by name after afterName. Secrets
// are left out: a list is for showing, and a secret is shown once.
func (t *tx) Applications(afterName string, limit int) ([]approvals.Application, error) {
	rows, err := t.query(`SELECT `+appCols+` FROM applications WHERE name > ? ORDER BY name LIMIT ?`, afterName, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []approvals.Application
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		a.Secret = nil
		out = append(out, a)
	}
	return out, rows.Err()
}

// InsertApplication adds an application; ErrConflict on a duplicate id or name.
func (t *tx) InsertApplication(a approvals.Application) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO applications (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, appArgs(a)...)
	return dbErr(fmt.Sprintf("insert application %q (id %s)", a.Name, a.ID), err, approvals.ErrConflict)
}

// UpdateApplication rewrites an application's mutable fields (name,
// audience, secrets, disabled, limits); ErrNotFound when it does not exist,
// ErrConflict when the new name is taken.
func (t *tx) UpdateApplication(a approvals.Application) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	args := appArgs(a)
	res, err := t.exec(`UPDATE applications SET name = ?, audience = ?, secret = ?, disabled = ?, secret_format = ?, previous_secret = ?,
		previous_secret_format = ?, previous_secret_until = ?, max_pending = ?, rate_per_second = ?, rate_burst = ?, max_long_polls = ? WHERE id = ?`,
		args[1], args[2], args[3], args[4], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], a.ID)
	if err != nil {
		return dbErr(fmt.Sprintf("update application %s", a.ID), err, approvals.ErrConflict)
	}
	return mustAffect(res, "application", a.ID)
}

// CountPendingForApp counts an application's pending requests, stopping at atMost.
func (t *tx) CountPendingForApp(appID string, atMost int) (int, error) {
	// pending_count is kept by triggers on requests (migration 0011).
	var n int
	if err := t.queryRow(`SELECT pending_count FROM applications WHERE id = ?`, appID).Scan(&n); err != nil {
		return 0, notFound("application", appID, err)
	}
	return min(n, atMost), nil
}

// PendingTotal is the number of pending requests: the sum of the
// per-application counts the triggers of migration 0011 keep, one row per
// application read instead of a count over the pending index.
func (t *tx) PendingTotal() (int, error) {
	var n int
	if err := t.queryRow(`SELECT COALESCE(SUM(pending_count), 0) FROM applications`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending requests: %w", err)
	}
	return n, nil
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", what, id, approvals.ErrNotFound)
	}
	return nil
}

// --- approvers

func (t *tx) loadApprover(login string) (approvals.Approver, error) {
	var a approvals.Approver
	var created int64
	var disabledAt sql.NullInt64
	var disabledBy sql.NullString
	err := t.queryRow(`SELECT login, name, email, created_at, auditor, disabled_at, disabled_by FROM approvers WHERE login = ?`, login).Scan(&a.Login, &a.Name, &a.Email, &created,
		&a.Auditor, &disabledAt, &disabledBy)
	if err != nil {
		return a, notFound("approver", login, err)
	}
	a.CreatedAt = fromMS(created)
	if disabledAt.Valid {
		a.DisabledAt, a.DisabledBy = fromMS(disabledAt.Int64), disabledBy.String
	}
	if a.Groups, err = t.strings(`SELECT group_name FROM approver_groups WHERE login = ? ORDER BY group_name`, login); err != nil {
		return a, fmt.Errorf("read groups of approver %s: %w", login, err)
	}
	rows, err := t.query(`SELECT fingerprint, authorized_key, added_at, removed_at FROM approver_ssh_keys WHERE login = ? ORDER BY fingerprint`, login)
	if err != nil {
		return a, fmt.Errorf("read ssh keys of approver %s: %w", login, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k approvals.SSHKey
		var added int64
		var removed sql.NullInt64
		if err := rows.Scan(&k.Fingerprint, &k.AuthorizedKey, &added, &removed); err != nil {
			return a, fmt.Errorf("read ssh keys of approver %s: %w", login, err)
		}
		if added > 0 {
			k.AddedAt = fromMS(added)
		}
		if removed.Valid {
			k.RemovedAt = fromMS(removed.Int64)
		}
		a.SSHKeys = append(a.SSHKeys, k)
	}
	return a, rows.Err()
}

func (t *tx) strings(query string, args ...any) ([]string, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Approver returns the approver with this login, with groups and SSH keys.
func (t *tx) Approver(login string) (approvals.Approver, error) {
	return t.cachedApprover(login, func() (approvals.Approver, error) { return t.loadApprover(login) })
}

// ApproverBySSHKey returns the approver owning the key with this fingerprint.
func (t *tx) ApproverBySSHKey(fingerprint string) (approvals.Approver, error) {
	var login string
	if err := t.queryRow(`SELECT login FROM approver_ssh_keys WHERE fingerprint = ?`, fingerprint).Scan(&login); err != nil {
		return approvals.Approver{}, notFound("ssh key", fingerprint, err)
	}
	return t.Approver(login)
}

// ApproversByEmail lists the approvers with this email, disabled ones too.
func (t *tx) ApproversByEmail(email string) ([]approvals.Approver, error) {
	if email == "" {
		return nil, nil
	}
	logins, err := t.strings(`SELECT login FROM approvers WHERE email = ? AND email <> '' ORDER BY login`, email)
	if err != nil {
		return nil, fmt.Errorf("approvers by email: %w", err)
	}
	out := make([]approvals.Approver, 0, len(logins))
	for _, l := range logins {
		a, err := t.loadApprover(l)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Approvers lists approvers ordered by login after afterLogin.
func (t *tx) Approvers(afterLogin string, limit int) ([]approvals.Approver, error) {
	logins, err := t.strings(`SELECT login FROM approvers WHERE login > ? ORDER BY login LIMIT ?`, afterLogin, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list approvers: %w", err)
	}
	out := make([]approvals.Approver, 0, len(logins))
	for _, l := range logins {
		a, err := t.loadApprover(l)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// InsertApprover adds an approver with groups and SSH keys; ErrConflict on
// a duplicate login or an SSH key another approver already has.
func (t *tx) InsertApprover(a approvals.Approver) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO approvers (login, name, email, created_at, auditor, identity) VALUES (?, ?, ?, ?, ?, ?)`, a.Login, a.Name, a.Email, ms(a.CreatedAt), a.Auditor, approvals.IdentityOf(a.Login))
	if err != nil {
		return dbErr(fmt.Sprintf("insert approver %q", a.Login), err, approvals.ErrConflict)
	}
	for _, g := range a.Groups {
		// A group named twice is one membership, not an error.
		_, err := t.exec(`INSERT INTO approver_groups (login, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING`, a.Login, g)
		if err != nil {
			return dbErr(fmt.Sprintf("insert approver %s group %q", a.Login, g), err, approvals.ErrConflict)
		}
	}
	for _, k := range a.SSHKeys {
		_, err := t.exec(`INSERT INTO approver_ssh_keys (fingerprint, login, authorized_key, added_at) VALUES (?, ?, ?, ?)`, k.Fingerprint, a.Login, k.AuthorizedKey, ms(a.CreatedAt))
		if err != nil {
			return dbErr(fmt.Sprintf("insert ssh key %s of approver %s (already registered?)", k.Fingerprint, a.Login), err, approvals.ErrConflict)
		}
	}
	return nil
}

// --- templates

// Template returns the template with this key, with fields (in their
// order), approvers, groups and on-call rotations.
func (t *tx) Template(key string) (approvals.Template, error) {
	return t.cachedTemplate(key, func() (approvals.Template, error) { return t.loadTemplate(key) })
}

func (t *tx) loadTemplate(key string) (approvals.Template, error) {
	var tm approvals.Template
	var typ string
	var ttl, maxTTL, pending, created, breakGlass, escAfter int64
	var disabled sql.NullInt64
	var bgGroups string
	err := t.queryRow(`SELECT key, app_id, name, title, type, quorum, default_ttl_ms, max_ttl_ms, pending_timeout_ms, min_reason, created_at, break_glass_max_ttl_ms,
		escalate_after_ms, escalate_group, escalate_cap, version, disabled_at, break_glass_groups, require_key_signature
		FROM templates WHERE key = ?`, key).Scan(&tm.Key, &tm.AppID, &tm.Name, &tm.Title, &typ, &tm.Quorum, &ttl, &maxTTL, &pending, &tm.MinReason, &created, &breakGlass,
		&escAfter, &tm.EscalateGroup, &tm.EscalateCap, &tm.Version, &disabled, &bgGroups, &tm.RequireKeySignature)
	if err != nil {
		return tm, notFound("template", key, err)
	}
	if disabled.Valid {
		tm.DisabledAt = fromMS(disabled.Int64)
	}
	tm.BreakGlassGroups = splitList(bgGroups)
	tm.Type = approvals.TemplateType(typ)
	tm.DefaultTTL, tm.MaxTTL, tm.PendingTimeout, tm.BreakGlassMaxTTL = msDur(ttl), msDur(maxTTL), msDur(pending), msDur(breakGlass)
	tm.EscalateAfter = msDur(escAfter)
	tm.CreatedAt = fromMS(created)
	rows, err := t.query(`SELECT name, default_value, required FROM template_fields WHERE template_key = ? ORDER BY position`, key)
	if err != nil {
		return tm, fmt.Errorf("read fields of template %s: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f approvals.MetadataField
		if err := rows.Scan(&f.Name, &f.Default, &f.Required); err != nil {
			return tm, fmt.Errorf("read fields of template %s: %w", key, err)
		}
		tm.Fields = append(tm.Fields, f)
	}
	if err := rows.Err(); err != nil {
		return tm, fmt.Errorf("read fields of template %s: %w", key, err)
	}
	if tm.Approvers, err = t.strings(`SELECT login FROM template_approvers WHERE template_key = ? ORDER BY login`, key); err != nil {
		return tm, fmt.Errorf("read approvers of template %s: %w", key, err)
	}
	if tm.Groups, err = t.strings(`SELECT group_name FROM template_groups WHERE template_key = ? ORDER BY group_name`, key); err != nil {
		return tm, fmt.Errorf("read groups of template %s: %w", key, err)
	}
	if tm.OnCall, err = t.strings(`SELECT rotation FROM template_oncall WHERE template_key = ? ORDER BY rotation`, key); err != nil {
		return tm, fmt.Errorf("read on-call rotations of template %s: %w", key, err)
	}
	return tm, nil
}

// TemplateVersion returns the terms of one recorded version of a template.
func (t *tx) TemplateVersion(key string, version int) (approvals.Template, error) {
	var terms string
	err := t.queryRow(`SELECT terms FROM template_versions WHERE template_key = ? AND version = ?`, key, version).Scan(&terms)
	if err != nil {
		return approvals.Template{}, notFound("template version", fmt.Sprintf("%s v%d", key, version), err)
	}
	var tm approvals.Template
	if err := json.Unmarshal([]byte(terms), &tm); err != nil {
		return approvals.Template{}, fmt.Errorf("template %s version %d: stored terms do not decode: %w", key, version, err)
	}
	return tm, nil
}

// insertTemplateVersion records a version's terms (append-only).
func (t *tx) insertTemplateVersion(tm approvals.Template, by string, at time.Time) error {
	terms, err := json.Marshal(tm)
	if err != nil {
		return fmt.Errorf("template %s version %d: encode terms: %w", tm.Key, tm.Version, err)
	}
	_, err = t.exec(`INSERT INTO template_versions (template_key, version, terms, created_at, created_by) VALUES (?, ?, ?, ?, ?)`, tm.Key, tm.Version, string(terms), ms(at), by)
	return dbErr(fmt.Sprintf("record template %s version %d", tm.Key, tm.Version), err, approvals.ErrConflict)
}

// splitList reads a comma-separated list column ("" is empty).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Templates lists templates ordered by key after afterKey.
func (t *tx) Templates(afterKey string, limit int) ([]approvals.Template, error) {
	keys, err := t.strings(`SELECT key FROM templates WHERE key > ? ORDER BY key LIMIT ?`, afterKey, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	out := make([]approvals.Template, 0, len(keys))
	for _, k := range keys {
		tm, err := t.Template(k)
		if err != nil {
			return nil, err
		}
		out = append(out, tm)
	}
	return out, nil
}

// InsertTemplate adds a template with its fields, approvers, groups and
// on-call rotations: ErrConflict on a duplicate key or field name,
// ErrNotFound when its application, a named approver or a rotation does not
// exist.
func (t *tx) InsertTemplate(tm approvals.Template) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	tm.Version = max(tm.Version, 1)
	_, err := t.exec(`INSERT INTO templates (key, app_id, name, title, type, quorum, default_ttl_ms, max_ttl_ms, pending_timeout_ms, min_reason, created_at, break_glass_max_ttl_ms,
		escalate_after_ms, escalate_group, escalate_cap, version, disabled_at, break_glass_groups, require_key_signature)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tm.Key, tm.AppID, tm.Name, tm.Title, string(tm.Type), tm.Quorum, tm.DefaultTTL.Milliseconds(), tm.MaxTTL.Milliseconds(), tm.PendingTimeout.Milliseconds(), tm.MinReason, ms(tm.CreatedAt), tm.BreakGlassMaxTTL.Milliseconds(),
		tm.EscalateAfter.Milliseconds(), tm.EscalateGroup, tm.EscalateCap, tm.Version, nullMS(tm.DisabledAt), strings.Join(tm.BreakGlassGroups, ","), tm.RequireKeySignature)
	if err != nil {
		return dbErr(fmt.Sprintf("insert template %q of application %s", tm.Key, tm.AppID), err, approvals.ErrConflict)
	}
	if err := t.insertTemplateVersion(tm, tm.CreatedBy, tm.CreatedAt); err != nil {
		return err
	}
	return t.insertTemplateChildren(tm)
}

// insertTemplateChildren writes a template's fields, approvers, groups and rotations.
func (t *tx) insertTemplateChildren(tm approvals.Template) error {
	for i, f := range tm.Fields {
		_, err := t.exec(`INSERT INTO template_fields (template_key, position, name, default_value, required) VALUES (?, ?, ?, ?, ?)`, tm.Key, i, f.Name, f.Default, f.Required)
		if err != nil {
			return dbErr(fmt.Sprintf("insert template %s field %q", tm.Key, f.Name), err, approvals.ErrConflict)
		}
	}
	for _, l := range tm.Approvers {
		_, err := t.exec(`INSERT INTO template_approvers (template_key, login) VALUES (?, ?) ON CONFLICT DO NOTHING`, tm.Key, l)
		if err != nil {
			return dbErr(fmt.Sprintf("insert template %s approver %q", tm.Key, l), err, approvals.ErrConflict)
		}
	}
	for _, g := range tm.Groups {
		_, err := t.exec(`INSERT INTO template_groups (template_key, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING`, tm.Key, g)
		if err != nil {
			return dbErr(fmt.Sprintf("insert template %s group %q", tm.Key, g), err, approvals.ErrConflict)
		}
	}
	for _, r := range tm.OnCall {
		_, err := t.exec(`INSERT INTO template_oncall (template_key, rotation) VALUES (?, ?) ON CONFLICT DO NOTHING`, tm.Key, r)
		if err != nil {
			return dbErr(fmt.Sprintf("insert template %s on-call rotation %q", tm.Key, r), err, approvals.ErrConflict)
		}
	}
	return nil
}

// --- reviews, signatures, grants

// Reviews returns a request's reviews in the order they were made.
func (t *tx) Reviews(requestID string) ([]approvals.Review, error) {
	// A decision reads a request's reviews to check eligibility and again
	// to issue the grant: within one transaction the first read (kept up
	// to date by InsertReview) serves both.
	if rs, ok := t.reviews[requestID]; ok {
		return slices.Clone(rs), nil
	}
	rs, err := t.loadReviews(requestID)
	if err == nil {
		if t.reviews == nil {
			t.reviews = map[string][]approvals.Review{}
		}
		t.reviews[requestID] = slices.Clone(rs)
	}
	return rs, err
}

func (t *tx) loadReviews(requestID string) ([]approvals.Review, error) {
	rows, err := t.query(`SELECT `+reviewCols+` FROM reviews WHERE request_id = ? ORDER BY at, approver`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read reviews of %s: %w", requestID, err)
	}
	return collectReviews(rows, "read reviews of "+requestID)
}

const reviewCols = `request_id, approver, decision, comment, signature_digest, grant_ttl_ms, at, key_signature_digest, key_fingerprint`

// collectReviews reads reviewCols rows and closes them.
func collectReviews(rows *sql.Rows, what string) ([]approvals.Review, error) {
	defer rows.Close()
	var out []approvals.Review
	for rows.Next() {
		var r approvals.Review
		var dec string
		var ttl, at int64
		if err := rows.Scan(&r.RequestID, &r.Approver, &dec, &r.Comment, &r.SignatureDigest, &ttl, &at, &r.KeySignatureDigest, &r.KeyFingerprint); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		r.Decision, r.GrantTTL, r.At = approvals.Decision(dec), msDur(ttl), fromMS(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// InsertReview records a review and, for an approval, bumps the request's
// approval count in the same transaction: ErrAlreadyReviewed when this
// approver already reviewed the request, ErrNotFound when the request or
// approver does not exist.
func (t *tx) InsertReview(r approvals.Review) error {
	_, err := t.exec(`INSERT INTO reviews (`+reviewCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RequestID, r.Approver, string(r.Decision), r.Comment, r.SignatureDigest, r.GrantTTL.Milliseconds(), ms(r.At), r.KeySignatureDigest, r.KeyFingerprint)
	if err != nil {
		return dbErr(fmt.Sprintf("insert review of %s by %s", r.RequestID, r.Approver), err, approvals.ErrAlreadyReviewed)
	}
	if rs, ok := t.reviews[r.RequestID]; ok {
		t.reviews[r.RequestID] = append(rs, r)
	}
	if r.Decision == approvals.DecisionApprove {
		if _, err := t.exec(`UPDATE requests SET approvals = approvals + 1 WHERE id = ?`, r.RequestID); err != nil {
			return fmt.Errorf("count approval of %s by %s: %w", r.RequestID, r.Approver, err)
		}
	}
	return nil
}

// Signatures returns a request's stored signatures, oldest first.
func (t *tx) Signatures(requestID string) ([]approvals.StoredSignature, error) {
	rows, err := t.query(`SELECT digest, request_id, approver, kind, canonical, signed_at FROM signatures WHERE request_id = ? ORDER BY signed_at, digest`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read signatures of %s: %w", requestID, err)
	}
	defer rows.Close()
	var out []approvals.StoredSignature
	for rows.Next() {
		var s approvals.StoredSignature
		var at int64
		if err := rows.Scan(&s.Digest, &s.RequestID, &s.Approver, &s.Kind, &s.Canonical, &at); err != nil {
			return nil, fmt.Errorf("read signatures of %s: %w", requestID, err)
		}
		s.SignedAt = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// InsertSignature stores a signature (append-only); ErrConflict when a
// signature with the same digest was already stored.
func (t *tx) InsertSignature(s approvals.StoredSignature) error {
	_, err := t.exec(`INSERT INTO signatures (digest, request_id, approver, kind, canonical, signed_at) VALUES (?, ?, ?, ?, ?, ?)`,
		s.Digest, s.RequestID, s.Approver, s.Kind, s.Canonical, ms(s.SignedAt))
	return dbErr(fmt.Sprintf("insert signature %s of %s by %s", s.Digest, s.RequestID, s.Approver), err, approvals.ErrConflict)
}

const grantCols = `id, request_id, app_id, subject, audience, scope, issued_at, expires_at, kid, token, revoked_at, revoked_by, revoke_reason,
	break_glass, reviewed_at, reviewed_by, review_comment`

func scanGrant(row interface{ Scan(...any) error }) (approvals.Grant, error) {
	var g approvals.Grant
	var issued, expires int64
	var revokedAt, reviewedAt sql.NullInt64
	var by, why, rby, rwhy sql.NullString
	err := row.Scan(&g.ID, &g.RequestID, &g.AppID, &g.Subject, &g.Audience, &g.Scope, &issued, &expires, &g.Kid, &g.Token, &revokedAt, &by, &why,
		&g.BreakGlass, &reviewedAt, &rby, &rwhy)
	g.IssuedAt, g.ExpiresAt, g.RevokedAt, g.ReviewedAt = fromMS(issued), fromMS(expires), fromNullMS(revokedAt), fromNullMS(reviewedAt)
	g.RevokedBy, g.RevokeReason, g.ReviewedBy, g.ReviewComment = by.String, why.String, rby.String, rwhy.String
	return g, err
}

// Grant returns the grant with this id (the access token's jti).
func (t *tx) Grant(id string) (approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return g, notFound("grant", id, err)
	}
	return g, nil
}

// GrantByRequest returns the grant issued for a request.
func (t *tx) GrantByRequest(requestID string) (approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE request_id = ?`, requestID))
	if err != nil {
		return g, notFound("grant of request", requestID, err)
	}
	return g, nil
}

// InsertGrant stores an unrevoked grant; ErrConflict on a duplicate id or
// a second grant for the same request.
func (t *tx) InsertGrant(g approvals.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, NULL, NULL, NULL)`,
		g.ID, g.RequestID, g.AppID, g.Subject, g.Audience, g.Scope, ms(g.IssuedAt), ms(g.ExpiresAt), g.Kid, g.Token, g.BreakGlass)
	return dbErr(fmt.Sprintf("insert grant %s for request %s", g.ID, g.RequestID), err, approvals.ErrConflict)
}

// RevokeGrant marks a grant revoked once: ErrRevoked when it already was,
// ErrNotFound when there is no such grant.
func (t *tx) RevokeGrant(id string, at time.Time, by, reason string) error {
	res, err := t.exec(`UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL`, ms(at), by, reason, id)
	if err != nil {
		return fmt.Errorf("revoke grant %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke grant %s: %w", id, err)
	} else if n == 0 {
		g, err := t.Grant(id)
		if err != nil {
			return err
		}
		return fmt.Errorf("grant %s was revoked by %s at %s: %w", id, g.RevokedBy, g.RevokedAt.Format(time.RFC3339), approvals.ErrRevoked)
	}
	return nil
}

// --- intake jtis

// jtiPrune bounds how many expired replay records one transaction removes
// (once per transaction: an intake batch shares it), so a backlog never
// makes a single commit slow; steady intake keeps up with expiry because a
// batch adds at most 128 and removes up to this many.
const jtiPrune = 300

// jtiKeep is how long past its exp a record is kept. It must exceed the
// clock-skew leeway intake verification allows on exp (30 s), or a token
// could be replayed inside the leeway after its record was pruned.
const jtiKeep = time.Minute

// UseIntakeJTI records that (appID, jti) was used; ErrReplay when it was
// already recorded. It also prunes a bounded number of expired records.
func (t *tx) UseIntakeJTI(appID, jti string, exp, now time.Time) error {
	_, err := t.exec(`INSERT INTO intake_jtis (app_id, jti, exp) VALUES (?, ?, ?)`, appID, jti, ms(exp))
	if err != nil {
		return dbErr(fmt.Sprintf("record intake jti %q of application %s", jti, appID), err, approvals.ErrReplay)
	}
	return t.pruneJTIs(now)
}

// pruneJTIs removes up to jtiPrune expired replay records, once per
// transaction.
func (t *tx) pruneJTIs(now time.Time) error {
	if t.jtisPruned {
		return nil
	}
	t.jtisPruned = true
	// rowid subquery because DELETE … LIMIT is a compile-time option of
	// SQLite (and absent from PostgreSQL); the exp index serves it.
	_, err := t.exec(`DELETE FROM intake_jtis WHERE rowid IN (SELECT rowid FROM intake_jtis WHERE exp < ? ORDER BY exp LIMIT ?)`, ms(now.Add(-jtiKeep)), jtiPrune)
	if err != nil {
		return fmt.Errorf("prune expired intake jtis: %w", err)
	}
	return nil
}

// --- signing keys

// SigningKeys lists all signing keys, newest first.
func (t *tx) SigningKeys() ([]approvals.SigningKey, error) {
	return t.cachedKeys(t.loadSigningKeys)
}

func (t *tx) loadSigningKeys() ([]approvals.SigningKey, error) {
	rows, err := t.query(`SELECT kid, alg, private, created_at, retired_at, publish_until, activates_at FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	defer rows.Close()
	var out []approvals.SigningKey
	for rows.Next() {
		var k approvals.SigningKey
		var created, until int64
		var retired, activates sql.NullInt64
		if err := rows.Scan(&k.Kid, &k.Alg, &k.Private, &created, &retired, &until, &activates); err != nil {
			return nil, fmt.Errorf("read signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt, k.ActivatesAt = fromMS(created), fromNullMS(retired), fromNullMS(activates)
		if until != 0 {
			k.PublishUntil = fromMS(until)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// zeroMS stores the zero time as 0 in publish_until, which is NOT NULL so
// that MAX(publish_until, ?) raises it (MAX with a NULL yields NULL).
func zeroMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// InsertSigningKey stores a key; ErrConflict on a duplicate kid.
func (t *tx) InsertSigningKey(k approvals.SigningKey) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO signing_keys (kid, alg, private, created_at, retired_at, publish_until, activates_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.Kid, k.Alg, k.Private, ms(k.CreatedAt), nullMS(k.RetiredAt), zeroMS(k.PublishUntil), nullMS(k.ActivatesAt))
	return dbErr(fmt.Sprintf("insert signing key %s", k.Kid), err, approvals.ErrConflict)
}

// RetireSigningKey retires kid at "at" (which may lie ahead: a staged
// rotation) and raises its publication to publishUntil: ErrNotFound when
// there is no such key, ErrConflict when it is retired already at or
// before "at" (a retirement may only be brought forward, never put off).
func (t *tx) RetireSigningKey(kid string, at, publishUntil time.Time) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	res, err := t.exec(`UPDATE signing_keys SET retired_at = ?, publish_until = MAX(publish_until, ?)
		WHERE kid = ? AND (retired_at IS NULL OR retired_at > ?)`, ms(at), zeroMS(publishUntil), kid, ms(at))
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", kid, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("retire signing key %s: %w", kid, err)
	} else if n == 0 {
		var retired sql.NullInt64
		if err := t.queryRow(`SELECT retired_at FROM signing_keys WHERE kid = ?`, kid).Scan(&retired); err != nil {
			return notFound("signing key", kid, err)
		}
		return fmt.Errorf("retire signing key %s: already retired at %s: %w", kid, fromNullMS(retired).Format(time.RFC3339), approvals.ErrConflict)
	}
	return nil
}

// ActivateSigningKey makes kid sign from "at" and retires at "at" every
// other key not retired by then (their publication is left as it is):
// ErrNotFound when there is no such key, ErrConflict when kid itself is
// retired at or before "at" (it could never sign).
func (t *tx) ActivateSigningKey(kid string, at time.Time) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	res, err := t.exec(`UPDATE signing_keys SET activates_at = ? WHERE kid = ? AND (retired_at IS NULL OR retired_at > ?)`, ms(at), kid, ms(at))
	if err != nil {
		return fmt.Errorf("activate signing key %s: %w", kid, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("activate signing key %s: %w", kid, err)
	} else if n == 0 {
		var retired sql.NullInt64
		if err := t.queryRow(`SELECT retired_at FROM signing_keys WHERE kid = ?`, kid).Scan(&retired); err != nil {
			return notFound("signing key", kid, err)
		}
		return fmt.Errorf("activate signing key %s: it was retired at %s: %w", kid, fromNullMS(retired).Format(time.RFC3339), approvals.ErrConflict)
	}
	if _, err := t.exec(`UPDATE signing_keys SET retired_at = ? WHERE kid <> ? AND (retired_at IS NULL OR retired_at > ?)`, ms(at), kid, ms(at)); err != nil {
		return fmt.Errorf("activate signing key %s: retire the others: %w", kid, err)
	}
	return nil
}

// ExtendKeyPublication makes the key published at least until need,
// raising publish_until to upTo when it has to write; ErrNotFound when
// there is no such key.
func (t *tx) ExtendKeyPublication(kid string, need, upTo time.Time) error {
	if have, ok := t.keyPublishedUntil(kid); ok && !have.Before(need) {
		return nil // already published long enough: no write
	}
	until := upTo
	if until.Before(need) {
		until = need
	}
	// A raised publication is a configuration change: it bumps the
	// version, so no process serves a key list that ends too early.
	if err := t.configChanged(); err != nil {
		return err
	}
	res, err := t.exec(`UPDATE signing_keys SET publish_until = MAX(publish_until, ?) WHERE kid = ?`, ms(until), kid)
	if err != nil {
		return fmt.Errorf("extend publication of signing key %s: %w", kid, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("extend publication of signing key %s: %w", kid, err)
	} else if n == 0 {
		return fmt.Errorf("extend publication of signing key %q: %w", kid, approvals.ErrNotFound)
	}
	return nil
}

// --- audit

// AuditHead returns the newest event's seq and hash (0, "" when empty).
func (t *tx) AuditHead() (int64, string, error) {
	var seq int64
	var hash string
	err := t.queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read audit head: %w", err)
	}
	return seq, hash, nil
}

// AppendAudit appends ev after the chain's head, read in this same
// transaction (which holds the write lock, so no other append interleaves).
// It fills Seq, PrevHash and Hash and returns the event exactly as stored.
func (t *tx) AppendAudit(ev approvals.AuditEvent) (approvals.AuditEvent, error) {
	if !t.headKnown {
		seq, head, err := t.AuditHead()
		if err != nil {
			return ev, err
		}
		t.headSeq, t.headHash, t.headKnown = seq, head, true
	}
	stored, err := t.appendAudit(ev, t.headSeq, t.headHash)
	if err != nil {
		t.headKnown = false
		return stored, err
	}
	t.headSeq, t.headHash = stored.Seq, stored.Hash
	return stored, nil
}

// appendAudit appends ev after the given head (the caller read it in this
// transaction), so batch loaders avoid re-reading the head per event.
func (t *tx) appendAudit(ev approvals.AuditEvent, seq int64, head string) (approvals.AuditEvent, error) {
	ev, args, err := chainAudit(ev, seq, head)
	if err != nil {
		return ev, err
	}
	if _, err := t.exec(insertAuditSQL, args...); err != nil {
		return ev, fmt.Errorf("append audit event %d %s %s: %w", ev.Seq, ev.Action, ev.Subject, err)
	}
	return ev, nil
}

const insertAuditSQL = `INSERT INTO audit_events (seq, at, actor, action, subject, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// chainAudit fills ev's Seq, PrevHash and Hash as the event after
// (seq, head) and returns the insert arguments for it.
func chainAudit(ev approvals.AuditEvent, seq int64, head string) (approvals.AuditEvent, []any, error) {
	// Store what is hashed: ChainHash turns an empty payload into {} and
	// compacts the JSON, and silently hashes nothing for invalid JSON, so
	// only a JSON object is accepted and it is stored compacted.
	if len(ev.Payload) == 0 {
		ev.Payload = json.RawMessage("{}")
	} else {
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev.Payload); err != nil || buf.Bytes()[0] != '{' {
			return ev, nil, fmt.Errorf("append audit event %s %s: %w: payload must be a JSON object", ev.Action, ev.Subject, approvals.ErrInvalid)
		}
		ev.Payload = json.RawMessage(buf.Bytes())
	}
	// Millisecond precision is what is stored, so hash what is stored.
	ev.At = fromMS(ms(ev.At))
	ev.Seq, ev.PrevHash = seq+1, head
	ev.Hash = approvals.ChainHash(head, ev)
	return ev, []any{ev.Seq, ms(ev.At), ev.Actor, ev.Action, ev.Subject, string(ev.Payload), ev.PrevHash, ev.Hash}, nil
}

const auditCols = `seq, at, actor, action, subject, payload, prev_hash, hash`

func (t *tx) auditRows(query string, args ...any) ([]approvals.AuditEvent, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	var out []approvals.AuditEvent
	for rows.Next() {
		var e approvals.AuditEvent
		var at int64
		var payload string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &payload, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read audit events: %w", err)
		}
		e.At, e.Payload = fromMS(at), json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditEvents returns up to limit events with seq > afterSeq, ascending.
// Unlike the other lists, limit is not capped: chain verification walks in
// whatever batch size it chooses.
func (t *tx) AuditEvents(afterSeq int64, limit int) ([]approvals.AuditEvent, error) {
	return t.auditRows(`SELECT `+auditCols+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, max(limit, 1))
}

// AuditEventsDesc returns up to limit events with seq < beforeSeq (0 means
// from the newest), descending.
func (t *tx) AuditEventsDesc(beforeSeq int64, limit int) ([]approvals.AuditEvent, error) {
	if beforeSeq <= 0 {
		return t.auditRows(`SELECT `+auditCols+` FROM audit_events ORDER BY seq DESC LIMIT ?`, max(limit, 1))
	}
	return t.auditRows(`SELECT `+auditCols+` FROM audit_events WHERE seq < ? ORDER BY seq DESC LIMIT ?`, beforeSeq, max(limit, 1))
}
