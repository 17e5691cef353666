package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// tx implements approvals.Tx over one SQL transaction.
type tx struct {
	ctx context.Context
	q   *sql.Tx
}

var _ approvals.Tx = (*tx)(nil)

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.q.ExecContext(t.ctx, query, args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.q.QueryRowContext(t.ctx, query, args...)
}

func notFound(what, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, approvals.ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", what, id, err)
}

// --- applications

const appCols = `id, name, audience, secret, disabled, created_at`

func scanApp(s interface{ Scan(...any) error }) (approvals.Application, error) {
	var a approvals.Application
	var created int64
	err := s.Scan(&a.ID, &a.Name, &a.Audience, &a.Secret, &a.Disabled, &created)
	a.CreatedAt = fromMS(created)
	return a, err
}

func (t *tx) Application(id string) (approvals.Application, error) {
	a, err := scanApp(t.queryRow(`SELECT `+appCols+` FROM applications WHERE id = ?`, id))
	if err != nil {
		return a, notFound("application", id, err)
	}
	return a, nil
}

func (t *tx) ApplicationByName(name string) (approvals.Application, error) {
	a, err := scanApp(t.queryRow(`SELECT `+appCols+` FROM applications WHERE name = ?`, name))
	if err != nil {
		return a, notFound("application", name, err)
	}
	return a, nil
}

func (t *tx) Applications(afterName string, limit int) ([]approvals.Application, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+appCols+` FROM applications WHERE name > ? ORDER BY name LIMIT ?`, afterName, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []approvals.Application
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		a.Secret = nil
		out = append(out, a)
	}
	return out, rows.Err()
}

func (t *tx) InsertApplication(a approvals.Application) error {
	_, err := t.exec(`INSERT INTO applications (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?)`, a.ID, a.Name, a.Audience, a.Secret, a.Disabled, ms(a.CreatedAt))
	if isConstraint(err) {
		return fmt.Errorf("application %q: %w", a.Name, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert application %s: %w", a.Name, err)
	}
	return nil
}

// --- approvers

func (t *tx) loadApprover(login string) (approvals.Approver, error) {
	var a approvals.Approver
	var created int64
	err := t.queryRow(`SELECT login, name, email, created_at FROM approvers WHERE login = ?`, login).Scan(&a.Login, &a.Name, &a.Email, &created)
	if err != nil {
		return a, notFound("approver", login, err)
	}
	a.CreatedAt = fromMS(created)
	if a.Groups, err = t.strings(`SELECT group_name FROM approver_groups WHERE login = ? ORDER BY group_name`, login); err != nil {
		return a, err
	}
	rows, err := t.q.QueryContext(t.ctx, `SELECT fingerprint, authorized_key FROM approver_ssh_keys WHERE login = ? ORDER BY fingerprint`, login)
	if err != nil {
		return a, err
	}
	defer rows.Close()
	for rows.Next() {
		var k approvals.SSHKey
		if err := rows.Scan(&k.Fingerprint, &k.AuthorizedKey); err != nil {
			return a, err
		}
		a.SSHKeys = append(a.SSHKeys, k)
	}
	return a, rows.Err()
}

func (t *tx) strings(query string, args ...any) ([]string, error) {
	rows, err := t.q.QueryContext(t.ctx, query, args...)
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

func (t *tx) Approver(login string) (approvals.Approver, error) { return t.loadApprover(login) }

func (t *tx) ApproverBySSHKey(fingerprint string) (approvals.Approver, error) {
	var login string
	if err := t.queryRow(`SELECT login FROM approver_ssh_keys WHERE fingerprint = ?`, fingerprint).Scan(&login); err != nil {
		return approvals.Approver{}, notFound("ssh key", fingerprint, err)
	}
	return t.loadApprover(login)
}

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

func (t *tx) InsertApprover(a approvals.Approver) error {
	_, err := t.exec(`INSERT INTO approvers (login, name, email, created_at) VALUES (?, ?, ?, ?)`, a.Login, a.Name, a.Email, ms(a.CreatedAt))
	if isConstraint(err) {
		return fmt.Errorf("approver %q: %w", a.Login, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert approver %s: %w", a.Login, err)
	}
	for _, g := range a.Groups {
		if _, err := t.exec(`INSERT INTO approver_groups (login, group_name) VALUES (?, ?)`, a.Login, g); err != nil {
			return fmt.Errorf("insert approver %s group %s: %w", a.Login, g, err)
		}
	}
	for _, k := range a.SSHKeys {
		_, err := t.exec(`INSERT INTO approver_ssh_keys (fingerprint, login, authorized_key) VALUES (?, ?, ?)`, k.Fingerprint, a.Login, k.AuthorizedKey)
		if isConstraint(err) {
			return fmt.Errorf("ssh key %s is already registered: %w", k.Fingerprint, approvals.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert approver %s key: %w", a.Login, err)
		}
	}
	return nil
}

// --- templates

func (t *tx) Template(key string) (approvals.Template, error) {
	var tm approvals.Template
	var typ string
	var ttl, maxTTL, pending, created int64
	err := t.queryRow(`SELECT key, app_id, name, title, type, quorum, default_ttl_ms, max_ttl_ms, pending_timeout_ms, min_reason, created_at
		FROM templates WHERE key = ?`, key).Scan(&tm.Key, &tm.AppID, &tm.Name, &tm.Title, &typ, &tm.Quorum, &ttl, &maxTTL, &pending, &tm.MinReason, &created)
	if err != nil {
		return tm, notFound("template", key, err)
	}
	tm.Type = approvals.TemplateType(typ)
	tm.DefaultTTL, tm.MaxTTL, tm.PendingTimeout = msDur(ttl), msDur(maxTTL), msDur(pending)
	tm.CreatedAt = fromMS(created)
	rows, err := t.q.QueryContext(t.ctx, `SELECT name, default_value, required FROM template_fields WHERE template_key = ? ORDER BY position`, key)
	if err != nil {
		return tm, err
	}
	defer rows.Close()
	for rows.Next() {
		var f approvals.MetadataField
		if err := rows.Scan(&f.Name, &f.Default, &f.Required); err != nil {
			return tm, err
		}
		tm.Fields = append(tm.Fields, f)
	}
	if err := rows.Err(); err != nil {
		return tm, err
	}
	if tm.Approvers, err = t.strings(`SELECT login FROM template_approvers WHERE template_key = ? ORDER BY login`, key); err != nil {
		return tm, err
	}
	if tm.Groups, err = t.strings(`SELECT group_name FROM template_groups WHERE template_key = ? ORDER BY group_name`, key); err != nil {
		return tm, err
	}
	if tm.OnCall, err = t.strings(`SELECT rotation FROM template_oncall WHERE template_key = ? ORDER BY rotation`, key); err != nil {
		return tm, err
	}
	return tm, nil
}

func msDur(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

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

func (t *tx) InsertTemplate(tm approvals.Template) error {
	_, err := t.exec(`INSERT INTO templates (key, app_id, name, title, type, quorum, default_ttl_ms, max_ttl_ms, pending_timeout_ms, min_reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tm.Key, tm.AppID, tm.Name, tm.Title, string(tm.Type), tm.Quorum, tm.DefaultTTL.Milliseconds(), tm.MaxTTL.Milliseconds(), tm.PendingTimeout.Milliseconds(), tm.MinReason, ms(tm.CreatedAt))
	if isConstraint(err) {
		return fmt.Errorf("template %q (or its application is unknown): %w", tm.Key, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert template %s: %w", tm.Key, err)
	}
	for i, f := range tm.Fields {
		if _, err := t.exec(`INSERT INTO template_fields (template_key, position, name, default_value, required) VALUES (?, ?, ?, ?, ?)`, tm.Key, i, f.Name, f.Default, f.Required); err != nil {
			return fmt.Errorf("insert template %s field %s: %w", tm.Key, f.Name, err)
		}
	}
	for _, l := range tm.Approvers {
		if _, err := t.exec(`INSERT INTO template_approvers (template_key, login) VALUES (?, ?)`, tm.Key, l); err != nil {
			return fmt.Errorf("insert template %s approver %s: %w", tm.Key, l, err)
		}
	}
	for _, g := range tm.Groups {
		if _, err := t.exec(`INSERT INTO template_groups (template_key, group_name) VALUES (?, ?)`, tm.Key, g); err != nil {
			return fmt.Errorf("insert template %s group %s: %w", tm.Key, g, err)
		}
	}
	for _, r := range tm.OnCall {
		if _, err := t.exec(`INSERT INTO template_oncall (template_key, rotation) VALUES (?, ?)`, tm.Key, r); err != nil {
			return fmt.Errorf("insert template %s rotation %s: %w", tm.Key, r, err)
		}
	}
	return nil
}

// --- reviews, signatures, grants

func (t *tx) Reviews(requestID string) ([]approvals.Review, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT request_id, approver, decision, comment, signature_digest, grant_ttl_ms, at
		FROM reviews WHERE request_id = ? ORDER BY at, approver`, requestID)
	if err != nil {
		return nil, fmt.Errorf("reviews of %s: %w", requestID, err)
	}
	defer rows.Close()
	var out []approvals.Review
	for rows.Next() {
		var r approvals.Review
		var dec string
		var ttl, at int64
		if err := rows.Scan(&r.RequestID, &r.Approver, &dec, &r.Comment, &r.SignatureDigest, &ttl, &at); err != nil {
			return nil, err
		}
		r.Decision, r.GrantTTL, r.At = approvals.Decision(dec), msDur(ttl), fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *tx) InsertReview(r approvals.Review) error {
	_, err := t.exec(`INSERT INTO reviews (request_id, approver, decision, comment, signature_digest, grant_ttl_ms, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.RequestID, r.Approver, string(r.Decision), r.Comment, r.SignatureDigest, r.GrantTTL.Milliseconds(), ms(r.At))
	if isConstraint(err) {
		return fmt.Errorf("%s on %s: %w", r.Approver, r.RequestID, approvals.ErrAlreadyReviewed)
	}
	if err != nil {
		return fmt.Errorf("insert review: %w", err)
	}
	if r.Decision == approvals.DecisionApprove {
		if _, err := t.exec(`UPDATE requests SET approvals = approvals + 1 WHERE id = ?`, r.RequestID); err != nil {
			return fmt.Errorf("count approval: %w", err)
		}
	}
	return nil
}

func (t *tx) Signatures(requestID string) ([]approvals.StoredSignature, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT digest, request_id, approver, kind, canonical, signed_at FROM signatures WHERE request_id = ? ORDER BY signed_at, digest`, requestID)
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", requestID, err)
	}
	defer rows.Close()
	var out []approvals.StoredSignature
	for rows.Next() {
		var s approvals.StoredSignature
		var at int64
		if err := rows.Scan(&s.Digest, &s.RequestID, &s.Approver, &s.Kind, &s.Canonical, &at); err != nil {
			return nil, err
		}
		s.SignedAt = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *tx) InsertSignature(s approvals.StoredSignature) error {
	_, err := t.exec(`INSERT INTO signatures (digest, request_id, approver, kind, canonical, signed_at) VALUES (?, ?, ?, ?, ?, ?)`,
		s.Digest, s.RequestID, s.Approver, s.Kind, s.Canonical, ms(s.SignedAt))
	if isConstraint(err) {
		return fmt.Errorf("signature %s was already used: %w", s.Digest, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert signature: %w", err)
	}
	return nil
}

const grantCols = `id, request_id, app_id, subject, audience, scope, issued_at, expires_at, kid, token, revoked_at, revoked_by, revoke_reason`

func scanGrant(row *sql.Row) (approvals.Grant, error) {
	var g approvals.Grant
	var issued, expires int64
	var revokedAt sql.NullInt64
	var by, why sql.NullString
	err := row.Scan(&g.ID, &g.RequestID, &g.AppID, &g.Subject, &g.Audience, &g.Scope, &issued, &expires, &g.Kid, &g.Token, &revokedAt, &by, &why)
	g.IssuedAt, g.ExpiresAt, g.RevokedAt = fromMS(issued), fromMS(expires), fromNullMS(revokedAt)
	g.RevokedBy, g.RevokeReason = by.String, why.String
	return g, err
}

func (t *tx) Grant(id string) (approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return g, notFound("grant", id, err)
	}
	return g, nil
}

func (t *tx) GrantByRequest(requestID string) (approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE request_id = ?`, requestID))
	if err != nil {
		return g, notFound("grant of request", requestID, err)
	}
	return g, nil
}

func (t *tx) InsertGrant(g approvals.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)`,
		g.ID, g.RequestID, g.AppID, g.Subject, g.Audience, g.Scope, ms(g.IssuedAt), ms(g.ExpiresAt), g.Kid, g.Token)
	if isConstraint(err) {
		return fmt.Errorf("grant for request %s: %w", g.RequestID, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert grant: %w", err)
	}
	return nil
}

func (t *tx) RevokeGrant(id string, at time.Time, by, reason string) error {
	res, err := t.exec(`UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL`, ms(at), by, reason, id)
	if err != nil {
		return fmt.Errorf("revoke grant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := t.Grant(id); err != nil {
			return err
		}
		return fmt.Errorf("grant %s: %w", id, approvals.ErrRevoked)
	}
	return nil
}

// --- intake jtis

// jtiPrune bounds how many expired replay records one intake removes, so a
// backlog never makes a single request slow.
const jtiPrune = 100

func (t *tx) UseIntakeJTI(appID, jti string, exp, now time.Time) error {
	_, err := t.exec(`INSERT INTO intake_jtis (app_id, jti, exp) VALUES (?, ?, ?)`, appID, jti, ms(exp))
	if isConstraint(err) {
		return fmt.Errorf("jti %q of %s: %w", jti, appID, approvals.ErrReplay)
	}
	if err != nil {
		return fmt.Errorf("record intake jti: %w", err)
	}
	// A record may go once its token could no longer be accepted anyway.
	_, err = t.exec(`DELETE FROM intake_jtis WHERE rowid IN (SELECT rowid FROM intake_jtis WHERE exp < ? ORDER BY exp LIMIT ?)`, ms(now.Add(-time.Minute)), jtiPrune)
	if err != nil {
		return fmt.Errorf("prune intake jtis: %w", err)
	}
	return nil
}

// --- signing keys

func (t *tx) SigningKeys() ([]approvals.SigningKey, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT kid, alg, private, created_at, retired_at, publish_until FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	var out []approvals.SigningKey
	for rows.Next() {
		var k approvals.SigningKey
		var created, until int64
		var retired sql.NullInt64
		if err := rows.Scan(&k.Kid, &k.Alg, &k.Private, &created, &retired, &until); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetiredAt, k.PublishUntil = fromMS(created), fromNullMS(retired), fromMS(until)
		if until == 0 {
			k.PublishUntil = time.Time{}
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (t *tx) InsertSigningKey(k approvals.SigningKey) error {
	_, err := t.exec(`INSERT INTO signing_keys (kid, alg, private, created_at, retired_at, publish_until) VALUES (?, ?, ?, ?, ?, ?)`,
		k.Kid, k.Alg, k.Private, ms(k.CreatedAt), nullMS(k.RetiredAt), zeroMS(k.PublishUntil))
	if isConstraint(err) {
		return fmt.Errorf("signing key %s: %w", k.Kid, approvals.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert signing key: %w", err)
	}
	return nil
}

func zeroMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (t *tx) RetireSigningKey(kid string, at, publishUntil time.Time) error {
	res, err := t.exec(`UPDATE signing_keys SET retired_at = ?, publish_until = MAX(publish_until, ?) WHERE kid = ? AND retired_at IS NULL`, ms(at), zeroMS(publishUntil), kid)
	if err != nil {
		return fmt.Errorf("retire key %s: %w", kid, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("retire key %s: %w", kid, approvals.ErrNotFound)
	}
	return nil
}

func (t *tx) ExtendKeyPublication(kid string, until time.Time) error {
	_, err := t.exec(`UPDATE signing_keys SET publish_until = MAX(publish_until, ?) WHERE kid = ?`, ms(until), kid)
	if err != nil {
		return fmt.Errorf("extend key %s: %w", kid, err)
	}
	return nil
}

// --- audit

func (t *tx) AuditHead() (int64, string, error) {
	var seq int64
	var hash string
	err := t.queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

func (t *tx) AppendAudit(ev approvals.AuditEvent) (approvals.AuditEvent, error) {
	seq, head, err := t.AuditHead()
	if err != nil {
		return ev, err
	}
	return t.appendAudit(ev, seq, head)
}

// appendAudit appends ev after the given head (the caller read it in this
// transaction), so batch loaders avoid re-reading the head per event.
func (t *tx) appendAudit(ev approvals.AuditEvent, seq int64, head string) (approvals.AuditEvent, error) {
	if len(ev.Payload) == 0 {
		ev.Payload = json.RawMessage("{}")
	}
	// Millisecond precision is what is stored, so hash what is stored.
	ev.At = fromMS(ms(ev.At))
	ev.Seq, ev.PrevHash = seq+1, head
	ev.Hash = approvals.ChainHash(head, ev)
	_, err := t.exec(`INSERT INTO audit_events (seq, at, actor, action, subject, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Seq, ms(ev.At), ev.Actor, ev.Action, ev.Subject, string(ev.Payload), ev.PrevHash, ev.Hash)
	if err != nil {
		return ev, fmt.Errorf("append audit event: %w", err)
	}
	return ev, nil
}

func (t *tx) auditRows(query string, args ...any) ([]approvals.AuditEvent, error) {
	rows, err := t.q.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	defer rows.Close()
	var out []approvals.AuditEvent
	for rows.Next() {
		var e approvals.AuditEvent
		var at int64
		var payload string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &payload, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.Payload = fromMS(at), json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

const auditCols = `seq, at, actor, action, subject, payload, prev_hash, hash`

func (t *tx) AuditEvents(afterSeq int64, limit int) ([]approvals.AuditEvent, error) {
	return t.auditRows(`SELECT `+auditCols+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, max(limit, 1))
}

func (t *tx) AuditEventsDesc(beforeSeq int64, limit int) ([]approvals.AuditEvent, error) {
	if beforeSeq <= 0 {
		return t.auditRows(`SELECT `+auditCols+` FROM audit_events ORDER BY seq DESC LIMIT ?`, max(limit, 1))
	}
	return t.auditRows(`SELECT `+auditCols+` FROM audit_events WHERE seq < ? ORDER BY seq DESC LIMIT ?`, beforeSeq, max(limit, 1))
}

func pageLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, 500)
}
