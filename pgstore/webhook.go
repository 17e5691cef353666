package pgstore

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/approvals"
)

// --- webhooks and their outbox (migration 0007)

// enqueueWebhookSQL needs no DISTINCT: InsertWebhook subscribes a hook
// either to '*' or to named types, never both. The parameters in the select
// list are cast because PostgreSQL types them before it sees the target
// columns. pgx prepares it once per connection (its statement cache), as
// the SQLite store prepares its statements.
const enqueueWebhookSQL = `INSERT INTO webhook_deliveries (hook_id, seq, request_id, state, next_attempt_at, created_at)
	SELECT s.hook_id, ?::bigint, ?::text, 'pending',
		CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries p
			WHERE p.hook_id = s.hook_id AND p.request_id = ?::text AND p.state = 'pending') THEN NULL ELSE ?::bigint END, ?::bigint
	FROM webhook_subscriptions s WHERE s.event IN (?::text, '*')`

const insertWebhookEventSQL = `INSERT INTO webhook_events (seq, type, request_id, at, body) VALUES (?, ?, ?, ?, ?)`

const webhookCols = `id, url, secret, events, created_at, created_by, disabled_at, disabled_by`

func scanWebhook(s interface{ Scan(...any) error }) (approvals.Webhook, error) {
	var w approvals.Webhook
	var events string
	var created int64
	var disabled sql.NullInt64
	var disabledBy sql.NullString
	if err := s.Scan(&w.ID, &w.URL, &w.Secret, &events, &created, &w.CreatedBy, &disabled, &disabledBy); err != nil {
		return w, err
	}
	if events != "" {
		w.Events = strings.Split(events, ",")
	}
	w.CreatedAt, w.DisabledAt, w.DisabledBy = fromMS(created), fromNullMS(disabled), disabledBy.String
	return w, nil
}

// Webhook returns a hook by id, with its secret.
func (t *tx) Webhook(id string) (approvals.Webhook, error) {
	w, err := scanWebhook(t.queryRow(`SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return w, notFound("webhook", id, err)
	}
	return w, nil
}

// Webhooks lists hooks by id after afterID.
func (t *tx) Webhooks(afterID string, limit int) ([]approvals.Webhook, error) {
	rows, err := t.query(`SELECT `+webhookCols+` FROM webhooks WHERE id > ? ORDER BY id LIMIT ?`, afterID, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []approvals.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// InsertWebhook adds a hook and one subscription per event type ('*' for all).
func (t *tx) InsertWebhook(w approvals.Webhook) error {
	res, err := t.exec(`INSERT INTO webhooks (id, url, secret, events, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		w.ID, w.URL, w.Secret, strings.Join(w.Events, ","), ms(w.CreatedAt), w.CreatedBy)
	if err := inserted(res, err, fmt.Sprintf("insert webhook %s", w.ID), approvals.ErrConflict); err != nil {
		return err
	}
	events := w.Events
	if len(events) == 0 {
		events = []string{"*"}
	}
	for _, e := range events {
		res, err := t.exec(`INSERT INTO webhook_subscriptions (event, hook_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, e, w.ID)
		if err := inserted(res, err, fmt.Sprintf("subscribe webhook %s to %s", w.ID, e), approvals.ErrConflict); err != nil {
			return err
		}
	}
	return nil
}

// DisableWebhook marks the hook removed, drops its subscriptions and cancels
// its pending deliveries (through the chain index).
func (t *tx) DisableWebhook(id string, at time.Time, by string) (int, error) {
	res, err := t.exec(`UPDATE webhooks SET disabled_at = ?, disabled_by = ? WHERE id = ? AND disabled_at IS NULL`, ms(at), by, id)
	if err != nil {
		return 0, fmt.Errorf("disable webhook %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("disable webhook %s: %w", id, err)
	} else if n == 0 {
		return 0, fmt.Errorf("webhook %q (active): %w", id, approvals.ErrNotFound)
	}
	if _, err := t.exec(`DELETE FROM webhook_subscriptions WHERE hook_id = ?`, id); err != nil {
		return 0, fmt.Errorf("unsubscribe webhook %s: %w", id, err)
	}
	res, err = t.exec(`UPDATE webhook_deliveries SET state = 'cancelled', next_attempt_at = NULL, claim = '', done_at = ?
		WHERE hook_id = ? AND state = 'pending'`, ms(at), id)
	if err != nil {
		return 0, fmt.Errorf("cancel deliveries of webhook %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// EnqueueWebhookDeliveries is one INSERT … SELECT over the subscription
// primary key: with no hook subscribed it reads one index page and writes
// nothing. A delivery is scheduled (next_attempt_at set) only when no earlier
// one of the same request to the same hook is pending; otherwise it waits.
func (t *tx) EnqueueWebhookDeliveries(typ string, seq int64, requestID string, at time.Time) (int, error) {
	res, err := t.exec(enqueueWebhookSQL, seq, requestID, requestID, ms(at), ms(at), typ)
	if err != nil {
		return 0, fmt.Errorf("enqueue webhook %s for %s: %w", typ, requestID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// EnqueueWebhookDelivery adds one delivery to one hook (a test event).
func (t *tx) EnqueueWebhookDelivery(hookID string, seq int64, requestID string, at time.Time) error {
	res, err := t.exec(`INSERT INTO webhook_deliveries (hook_id, seq, request_id, state, next_attempt_at, created_at)
		SELECT ?::text, ?::bigint, ?::text, 'pending',
			CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries p
				WHERE p.hook_id = ?::text AND p.request_id = ?::text AND p.state = 'pending') THEN NULL ELSE ?::bigint END, ?::bigint
		ON CONFLICT DO NOTHING`,
		hookID, seq, requestID, hookID, requestID, ms(at), ms(at))
	return inserted(res, err, fmt.Sprintf("enqueue webhook event %d for %s", seq, hookID), approvals.ErrConflict)
}

// InsertWebhookEvent stores an announced event's body.
func (t *tx) InsertWebhookEvent(ev approvals.WebhookEvent) error {
	res, err := t.exec(insertWebhookEventSQL+` ON CONFLICT DO NOTHING`, ev.Seq, ev.Type, ev.RequestID, ms(ev.At), string(ev.Body))
	return inserted(res, err, fmt.Sprintf("insert webhook event %d", ev.Seq), approvals.ErrConflict)
}

const deliveryCols = `d.id, d.hook_id, d.seq, e.type, d.request_id, d.state, d.attempts, d.next_attempt_at, d.created_at,
	d.last_attempt_at, d.last_status, d.last_error, d.done_at`

func scanDelivery(s interface{ Scan(...any) error }, extra ...any) (approvals.WebhookDelivery, error) {
	var d approvals.WebhookDelivery
	var next, last, done sql.NullInt64
	var created int64
	dest := append([]any{&d.ID, &d.HookID, &d.Seq, &d.EventType, &d.RequestID, &d.State, &d.Attempts, &next, &created,
		&last, &d.LastStatus, &d.LastError, &done}, extra...)
	if err := s.Scan(dest...); err != nil {
		return d, err
	}
	d.NextAttemptAt, d.CreatedAt, d.LastAttemptAt, d.DoneAt = fromNullMS(next), fromMS(created), fromNullMS(last), fromNullMS(done)
	return d, nil
}

// WebhookDeliveries pages the log newest first by id: the primary key, or
// (hook_id, id) for one hook.
func (t *tx) WebhookDeliveries(q approvals.WebhookLogQuery) ([]approvals.WebhookDelivery, error) {
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	query := `SELECT ` + deliveryCols + ` FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.seq WHERE d.id < ?`
	args := []any{before}
	if q.HookID != "" {
		query += ` AND d.hook_id = ?`
		args = append(args, q.HookID)
	}
	query += ` ORDER BY d.id DESC LIMIT ?`
	args = append(args, pageLimit(q.Limit))
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("read webhook log: %w", err)
	}
	defer rows.Close()
	var out []approvals.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("read webhook log: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ActiveWebhookIDs lists the hooks not removed.
func (t *tx) ActiveWebhookIDs() ([]string, error) {
	ids, err := t.strings(`SELECT id FROM webhooks WHERE disabled_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("active webhooks: %w", err)
	}
	return ids, nil
}

// DueWebhookDeliveries reads one hook's range of the due index (scheduled
// heads only, so a backlog of waiting events costs nothing here), joined to
// the hook and the body.
func (t *tx) DueWebhookDeliveries(hookID string, now time.Time, limit int) ([]approvals.WebhookDelivery, error) {
	rows, err := t.query(`SELECT `+deliveryCols+`, h.url, h.secret, e.body
		FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.seq JOIN webhooks h ON h.id = d.hook_id
		WHERE d.hook_id = ? AND d.state = 'pending' AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= ? AND h.disabled_at IS NULL
		ORDER BY d.next_attempt_at, d.id LIMIT ?`, hookID, ms(now), pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due webhook deliveries of %s: %w", hookID, err)
	}
	defer rows.Close()
	var out []approvals.WebhookDelivery
	for rows.Next() {
		var url, secret, body string
		d, err := scanDelivery(rows, &url, &secret, &body)
		if err != nil {
			return nil, fmt.Errorf("due webhook deliveries of %s: %w", hookID, err)
		}
		d.URL, d.Secret, d.Body = url, secret, []byte(body)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due webhook deliveries of %s: %w", hookID, err)
	}
	return out, nil
}

// NextWebhookDue is the first entry of the hook's due index range.
func (t *tx) NextWebhookDue(hookID string) (time.Time, error) {
	var at int64
	err := t.queryRow(`SELECT next_attempt_at FROM webhook_deliveries
		WHERE hook_id = ? AND state = 'pending' AND next_attempt_at IS NOT NULL ORDER BY next_attempt_at, id LIMIT 1`, hookID).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("next webhook due of %s: %w", hookID, err)
	}
	return fromMS(at), nil
}

// ClaimWebhookDelivery leases a due delivery (compare-and-set on its due time).
func (t *tx) ClaimWebhookDelivery(id int64, claim string, now, leaseUntil time.Time) (bool, error) {
	res, err := t.exec(`UPDATE webhook_deliveries SET claim = ?, next_attempt_at = ?
		WHERE id = ? AND state = 'pending' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?`,
		claim, ms(leaseUntil), id, ms(now))
	if err != nil {
		return false, fmt.Errorf("claim webhook delivery %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecordWebhookAttempt records one attempt if the claim still holds.
func (t *tx) RecordWebhookAttempt(a approvals.WebhookAttempt, state approvals.DeliveryState, next time.Time) (string, string, bool, error) {
	var done any
	if state != approvals.DeliveryPending {
		done = ms(a.At)
	}
	var hook, req string
	err := t.queryRow(`UPDATE webhook_deliveries
		SET attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ?, state = ?, next_attempt_at = ?, claim = '', done_at = ?
		WHERE id = ? AND claim = ? AND state = 'pending'
		RETURNING hook_id, request_id`,
		ms(a.At), a.Status, a.Error, string(state), nullMS(next), done, a.DeliveryID, a.Claim).Scan(&hook, &req)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("record webhook attempt %d: %w", a.DeliveryID, err)
	}
	return hook, req, true, nil
}

// ReleaseNextWebhookDelivery schedules the earliest waiting delivery of the chain.
func (t *tx) ReleaseNextWebhookDelivery(hookID, requestID string, at time.Time) error {
	_, err := t.exec(`UPDATE webhook_deliveries SET next_attempt_at = ?
		WHERE id = (SELECT id FROM webhook_deliveries WHERE hook_id = ? AND request_id = ? AND state = 'pending' ORDER BY seq LIMIT 1)
		  AND next_attempt_at IS NULL`, ms(at), hookID, requestID)
	if err != nil {
		return fmt.Errorf("release next webhook delivery of %s to %s: %w", requestID, hookID, err)
	}
	return nil
}

// WebhookQueueDepth counts pending deliveries (through the partial chain
// index) and dead ones kept (through the partial dead index): neither reads
// delivered history.
func (t *tx) WebhookQueueDepth() (queued, dead int, err error) {
	err = t.queryRow(`SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'),
		(SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'dead')`).Scan(&queued, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook queue depth: %w", err)
	}
	return queued, dead, nil
}

// maxPrune bounds one PruneWebhookDeliveries call, so a retention backlog
// is worked off in transactions that each stay short.
const maxPrune = 10000

// PruneWebhookDeliveries deletes up to limit (at most maxPrune; nothing
// when limit ≤ 0) finished deliveries whose done_at is before doneBefore,
// oldest first through the finished-deliveries index, then those of their
// events' bodies that no delivery refers to any more. Only the pruned
// deliveries' seqs are looked at, each through the seq index, so the cost
// is linear in what is pruned, not in what is kept. The deliveries' foreign
// key to the bodies is deferred, and checked at commit: nothing is left
// pointing at a deleted body, since only bodies without deliveries go.
func (t *tx) PruneWebhookDeliveries(doneBefore time.Time, limit int) (deliveries, bodies int, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	rows, err := t.query(`DELETE FROM webhook_deliveries WHERE id IN (
		SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND done_at < ? ORDER BY done_at LIMIT ?)
		RETURNING seq`, ms(doneBefore), min(limit, maxPrune))
	if err != nil {
		return 0, 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	seen := map[int64]bool{}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("prune webhook deliveries: %w", err)
		}
		deliveries++
		if !seen[seq] {
			seen[seq] = true
			seqs = append(seqs, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	if len(seqs) == 0 {
		return 0, 0, nil
	}
	res, err := t.exec(`DELETE FROM webhook_events e WHERE e.seq = ANY(?)
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.seq = e.seq)`, seqs)
	if err != nil {
		return 0, 0, fmt.Errorf("prune webhook events: %w", err)
	}
	n, _ := res.RowsAffected()
	return deliveries, int(n), nil
}
