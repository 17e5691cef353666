package approvals

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhooks: an operator registers a URL (jitdesk webhook add) and jitdesk
// POSTs a signed JSON event to it whenever a request is created, escalated,
// decided or expires, a grant is revoked or break-glass is used.
//
// Events go through a transactional outbox: Service.audit enqueues them in
// the same store transaction as the change and its audit event, so an event
// is announced if and only if the change committed, and a pending delivery
// survives a crash or restart. The webhook package delivers them; delivery
// happens after the commit, outside any transaction, so a slow or dead
// receiver never delays a decision. Delivery is at least once: a receiver
// dedupes on the event id.
//
// Requests bulk-loaded through a store's batch path (demo and benchmark
// data, see PrepareRequests) do not go through Service.audit and are
// deliberately not announced: they are synthetic history, and a million-row
// demo must not flood a receiver.

// Webhook event types, as sent in the body's "type" and the Jitdesk-Event header.
const (
	EventRequestCreated   = "request.created"
	EventRequestEscalated = "request.escalated"
	// EventRequestDecided covers approved, denied and cancelled; the body's
	// data.outcome says which. A break-glass approval is EventBreakGlassUsed.
	EventRequestDecided = "request.decided"
	EventRequestExpired = "request.expired"
	EventGrantRevoked   = "grant.revoked"
	EventBreakGlassUsed = "breakglass.used"
)

// EventWebhookTest is sent by TestWebhook to one hook, whatever its filter;
// it is not a type one subscribes to. Receivers should answer 2xx to types
// they do not know.
const EventWebhookTest = "webhook.test"

// WebhookEvents lists every event type a webhook can subscribe to.
var WebhookEvents = []string{
	EventRequestCreated, EventRequestEscalated, EventRequestDecided,
	EventRequestExpired, EventGrantRevoked, EventBreakGlassUsed,
}

// webhookEventOf maps an audit action to the webhook event it announces and,
// for decisions, the outcome; "" for actions that are not announced.
func webhookEventOf(action string) (typ, outcome string) {
	switch action {
	case "request.created":
		return EventRequestCreated, ""
	case "request.escalated":
		return EventRequestEscalated, ""
	case "request.approved":
		return EventRequestDecided, "approved"
	case "request.denied":
		return EventRequestDecided, "denied"
	case "request.cancelled":
		return EventRequestDecided, "cancelled"
	case "request.expired":
		return EventRequestExpired, ""
	case "grant.revoked":
		return EventGrantRevoked, ""
	case "breakglass.used":
		return EventBreakGlassUsed, "approved"
	}
	return "", ""
}

// Limits on webhooks.
const (
	MaxWebhookURL = 2048
	// MaxWebhookError bounds the receiver error text kept per delivery; it
	// is hostile text and is shown through the usual sanitisers.
	MaxWebhookError = 512
	// WebhookSecretPrefix starts every webhook signing secret.
	WebhookSecretPrefix = "whsec_"
)

// Webhook is a registered receiver of events.
type Webhook struct {
	ID  string
	URL string
	// Events is the filter; empty means every event type (including types
	// added by later versions).
	Events []string
	// Secret is the signing secret as Standard Webhooks receivers take it:
	// whsec_ followed by the base64 of the HMAC-SHA256 key (older hooks:
	// 43 base64url characters). It is set only when the
	// hook is created and on deliveries; lists and lookups leave it empty.
	Secret     string
	CreatedAt  time.Time
	CreatedBy  string
	DisabledAt time.Time // zero while active
	DisabledBy string
}

// Active reports whether the hook still receives events.
func (w Webhook) Active() bool { return w.DisabledAt.IsZero() }

// Subscribed reports whether the hook wants events of type typ.
func (w Webhook) Subscribed(typ string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, typ)
}

// DeliveryState is where one delivery of one event to one hook stands.
type DeliveryState string

// Delivery states. Pending deliveries are retried until delivered or until
// the deliverer gives up (dead); removing the hook cancels them.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead"
	DeliveryCancelled DeliveryState = "cancelled"
)

// WebhookEvent is one announced event: its body is the same bytes for every hook.
type WebhookEvent struct {
	Seq       int64 // the audit event's seq
	Type      string
	RequestID string // the request it is about: deliveries keep order per request
	At        time.Time
	Body      []byte
}

// WebhookDelivery is one event on its way to one hook.
type WebhookDelivery struct {
	ID        int64 // increases with enqueue order; the log's keyset
	HookID    string
	Seq       int64
	EventType string
	RequestID string
	State     DeliveryState
	Attempts  int
	// NextAttemptAt is when a pending delivery is next due (or, while a
	// deliverer holds it, when its claim lapses); zero while it waits for an
	// earlier event of the same request to the same hook.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	LastAttemptAt time.Time
	LastStatus    int    // HTTP status of the last attempt, 0 when none came back
	LastError     string // receiver or transport error of the last attempt (hostile text)
	DoneAt        time.Time

	// Set on claimed deliveries only.
	URL    string
	Secret string
	Body   []byte
	Claim  string
}

// EventID is the event's stable id, the same on every retry and for every
// hook: receivers dedupe on it.
func (d WebhookDelivery) EventID() string { return WebhookEventID(d.Seq) }

// DeliveryKey is the stable id of this event's delivery to this hook
// (the Jitdesk-Delivery header).
func (d WebhookDelivery) DeliveryKey() string { return fmt.Sprintf("%s.%d", d.HookID, d.Seq) }

// WebhookEventID is the public id of the event announcing audit event seq.
func WebhookEventID(seq int64) string { return fmt.Sprintf("evt_%d", seq) }

// WebhookLogQuery selects one page of the delivery log, newest first.
type WebhookLogQuery struct {
	HookID string // empty: every hook
	Before int64  // deliveries with ID < Before; 0 = from the newest
	Limit  int    // 1..500; 0 means 50
}

// WebhookAttempt is the outcome of one POST, recorded by the deliverer.
type WebhookAttempt struct {
	DeliveryID int64
	Claim      string // the claim the deliverer holds; a lapsed claim records nothing
	At         time.Time
	Status     int    // HTTP status, 0 when no response came back
	Error      string // why it failed; truncated to MaxWebhookError
	Delivered  bool
	// RetryAt is when to try again after a failure; zero gives up (dead).
	RetryAt time.Time
}

// ParseWebhookEvents validates an event filter (names may also be given
// comma-separated) and returns it deduplicated in canonical order; empty
// means every event.
func ParseWebhookEvents(in []string) ([]string, error) {
	want := map[string]bool{}
	for _, v := range in {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !slices.Contains(WebhookEvents, e) {
				return nil, invalidf("event %q is not one of %s", e, strings.Join(WebhookEvents, ", "))
			}
			want[e] = true
		}
	}
	var out []string
	for _, e := range WebhookEvents {
		if want[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

// ValidateWebhookURL accepts absolute http and https URLs without
// credentials or a fragment.
func ValidateWebhookURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxWebhookURL || hasControl(raw) {
		return "", invalidf("webhook url: give an absolute http(s) URL of at most %d printable characters", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalidf("webhook url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", invalidf("webhook url %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", invalidf("webhook url %q: an absolute URL with a host is required", raw)
	}
	if u.User != nil {
		return "", invalidf("webhook url %q: credentials in the URL are not allowed (the receiver checks the signature instead)", u.Redacted())
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", invalidf("webhook url %q: a fragment (#…) is never sent; remove it", raw)
	}
	return u.String(), nil
}

// newWebhookSecret returns whsec_ and 32 random bytes in standard base64,
// the Standard Webhooks form its libraries read (the key is the decoded
// bytes). Secrets made before were base64url; the deliverer reads both.
func newWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// AddWebhook registers a receiver for the given event types (all when
// empty) and returns it with its signing secret, shown this once.
func (s *Service) AddWebhook(ctx context.Context, actor, rawURL string, events []string) (Webhook, error) {
	u, err := ValidateWebhookURL(rawURL)
	if err != nil {
		return Webhook{}, err
	}
	evs, err := ParseWebhookEvents(events)
	if err != nil {
		return Webhook{}, err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return Webhook{}, err
	}
	now := s.Now()
	w := Webhook{ID: "wh_" + strings.ToLower(s.newID()), URL: u, Events: evs, Secret: secret, CreatedAt: now, CreatedBy: actor}
	err = s.store.Update(ctx, func(tx Tx) error {
		stored := w
		sealed, err := s.seal(sealWebhookSecret, w.ID, []byte(w.Secret))
		if err != nil {
			return err
		}
		stored.Secret = string(sealed)
		if err := tx.InsertWebhook(stored); err != nil {
			return err
		}
		// The URL is audited (an added hook receives every request's
		// reason: adding one is security relevant); the secret never is.
		return s.audit(tx, now, actor, NewConfigChange(ActionWebhookAdded, w.ID, map[string]any{"url": u, "events": nonNil(evs), "disabled": false}, nil))
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("add webhook %s: %w", u, err)
	}
	return w, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// RemoveWebhook stops a hook: it receives nothing more and its pending
// deliveries are cancelled. Its log is kept.
func (s *Service) RemoveWebhook(ctx context.Context, actor, id string) (Webhook, error) {
	var out Webhook
	err := s.store.Update(ctx, func(tx Tx) error {
		w, err := tx.Webhook(id)
		if err != nil {
			return err
		}
		if !w.Active() {
			return fmt.Errorf("%w: webhook %s was already removed by %s at %s", ErrNotFound, id, w.DisabledBy, w.DisabledAt.Format(time.RFC3339))
		}
		now := s.Now()
		cancelled, err := tx.DisableWebhook(id, now, actor)
		if err != nil {
			return err
		}
		w.DisabledAt, w.DisabledBy = now, actor
		out = w
		return s.audit(tx, now, actor, NewConfigChange(ActionWebhookRemoved, id, map[string]any{"url": w.URL, "events": nonNil(w.Events), "disabled": true}, map[string]any{"cancelled": cancelled}))
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("remove webhook %s: %w", id, err)
	}
	return out, nil
}

// TestWebhook queues a webhook.test event for one active hook (regardless
// of its event filter), so an operator can check the receiver and its
// signature check end to end; the deliverer sends it like any other event.
// It returns the event id.
func (s *Service) TestWebhook(ctx context.Context, actor, id string) (string, error) {
	var evID string
	err := s.store.Update(ctx, func(tx Tx) error {
		w, err := tx.Webhook(id)
		if err != nil {
			return err
		}
		if !w.Active() {
			return fmt.Errorf("%w: webhook %s was removed", ErrNotFound, id)
		}
		now := s.Now()
		// Appended directly rather than through audit: the event goes to
		// this hook alone, not to every hook subscribed to everything.
		ev, err := tx.AppendAudit(AuditEvent{At: now, Actor: actor, Action: "webhook.tested", Subject: id, Payload: json.RawMessage("{}")})
		if err != nil {
			return err
		}
		body, err := json.Marshal(map[string]any{
			"id": WebhookEventID(ev.Seq), "type": EventWebhookTest, "created_at": rfc3339(ev.At), "actor": actor, "audit_seq": ev.Seq,
			"data": map[string]any{"hook": id},
		})
		if err != nil {
			return err
		}
		if err := tx.EnqueueWebhookDelivery(id, ev.Seq, "", ev.At); err != nil {
			return err
		}
		evID = WebhookEventID(ev.Seq)
		return tx.InsertWebhookEvent(WebhookEvent{Seq: ev.Seq, Type: EventWebhookTest, At: ev.At, Body: body})
	})
	if err != nil {
		return "", fmt.Errorf("test webhook %s: %w", id, err)
	}
	return evID, nil
}

// Webhook returns a hook by id, without its secret.
func (s *Service) Webhook(ctx context.Context, id string) (Webhook, error) {
	var w Webhook
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		w, err = tx.Webhook(id)
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook %s: %w", id, err)
	}
	w.Secret = ""
	return w, nil
}

// Webhooks lists hooks (removed ones too) by id after afterID, without secrets.
func (s *Service) Webhooks(ctx context.Context, afterID string, limit int) ([]Webhook, error) {
	var ws []Webhook
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		ws, err = tx.Webhooks(afterID, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	for i := range ws {
		ws[i].Secret = ""
	}
	return ws, nil
}

// WebhookLog returns one page of deliveries, newest first.
func (s *Service) WebhookLog(ctx context.Context, q WebhookLogQuery) ([]WebhookDelivery, error) {
	var ds []WebhookDelivery
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		ds, err = tx.WebhookDeliveries(q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook log: %w", err)
	}
	return ds, nil
}

// WebhookClaim says what a deliverer asks ClaimWebhookDeliveries for.
type WebhookClaim struct {
	Name  string        // the deliverer's claim name
	Limit int           // at most this many in all
	Lease time.Duration // how long the claimed deliveries stay invisible to other deliverers
	// PerHook caps how many deliveries to one hook the deliverer holds at
	// once, counting Busy (what it already holds, by hook id), so a slow or
	// dead hook with a large backlog cannot take every slot from the others.
	PerHook int
	Busy    map[string]int
}

// ClaimWebhookDeliveries takes due deliveries for the deliverer named in c,
// a few per hook (starting from a different hook each call), leasing each
// until now+lease: another deliverer does not see them until the lease lapses
// (a deliverer that died mid-POST is retried, so delivery is at least once).
// The claimed deliveries carry the hook's URL and secret and the body. When
// nothing is due it writes nothing.
func (s *Service) ClaimWebhookDeliveries(ctx context.Context, c WebhookClaim) ([]WebhookDelivery, error) {
	if c.Name == "" || c.Lease <= 0 || c.Limit <= 0 || c.PerHook <= 0 {
		return nil, invalidf("claim webhook deliveries: a claim name, a positive lease, limit and per-hook cap are required")
	}
	// Choose on a read snapshot: an empty write transaction still wakes
	// every subscriber, and the deliverer is one of them.
	var due []WebhookDelivery
	err := s.store.View(ctx, func(tx ReadTx) error {
		ids, err := tx.ActiveWebhookIDs()
		if err != nil || len(ids) == 0 {
			return err
		}
		now := s.Now()
		start := int(s.hookRound.Add(1) % uint64(len(ids)))
		for k := 0; k < len(ids) && len(due) < c.Limit; k++ {
			id := ids[(start+k)%len(ids)]
			room := min(c.PerHook-c.Busy[id], c.Limit-len(due))
			if room <= 0 {
				continue
			}
			ds, err := tx.DueWebhookDeliveries(id, now, room)
			if err != nil {
				return err
			}
			for i := range ds {
				secret, err := s.unseal(sealWebhookSecret, ds[i].HookID, []byte(ds[i].Secret))
				if err != nil {
					return err
				}
				ds[i].Secret = string(secret)
			}
			due = append(due, ds...)
		}
		return nil
	})
	if err != nil || len(due) == 0 {
		if err != nil {
			err = fmt.Errorf("claim webhook deliveries: %w", err)
		}
		return nil, err
	}
	var out []WebhookDelivery
	err = s.store.Update(ctx, func(tx Tx) error {
		out = out[:0]
		now := s.Now()
		for _, d := range due {
			// Compare-and-set: still pending and due (not cancelled, not
			// taken by another deliverer since the snapshot).
			ok, err := tx.ClaimWebhookDelivery(d.ID, c.Name, now, now.Add(c.Lease))
			if err != nil {
				return err
			}
			if ok {
				d.Claim, d.NextAttemptAt = c.Name, now.Add(c.Lease)
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return out, nil
}

// RecordWebhookAttempts records the outcomes of POSTs in one transaction.
// A delivery whose claim lapsed (another deliverer took it) or that was
// cancelled meanwhile is skipped. When a delivery ends (delivered or
// given up), the next event of the same request to the same hook becomes due.
func (s *Service) RecordWebhookAttempts(ctx context.Context, attempts []WebhookAttempt) error {
	if len(attempts) == 0 {
		return nil
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		for _, a := range attempts {
			a.Error = truncateUTF8(strings.ToValidUTF8(a.Error, "\uFFFD"), MaxWebhookError)
			state, next := DeliveryPending, a.RetryAt
			switch {
			case a.Delivered:
				state, next = DeliveryDelivered, time.Time{}
			case a.RetryAt.IsZero():
				state = DeliveryDead
			}
			hook, req, ok, err := tx.RecordWebhookAttempt(a, state, next)
			if err != nil {
				return err
			}
			if ok && state != DeliveryPending {
				if err := tx.ReleaseNextWebhookDelivery(hook, req, a.At); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record webhook attempts: %w", err)
	}
	s.observeWebhookAttempts(attempts)
	return nil
}

// NextWebhookDue is when the soonest pending delivery to an active hook
// not in skip is due (or its claim lapses); ok is false when none is scheduled.
func (s *Service) NextWebhookDue(ctx context.Context, skip map[string]bool) (at time.Time, ok bool, err error) {
	err = s.store.View(ctx, func(tx ReadTx) error {
		ids, err := tx.ActiveWebhookIDs()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if skip[id] {
				continue
			}
			t, err := tx.NextWebhookDue(id)
			if err != nil {
				return err
			}
			if !t.IsZero() && (at.IsZero() || t.Before(at)) {
				at = t
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next webhook due: %w", err)
	}
	return at, !at.IsZero(), nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// enqueueWebhooks puts the event announcing ev (if its action is announced)
// in the outbox of every hook subscribed to its type, inside tx. With no
// subscribed hook this is one indexed INSERT … SELECT that inserts nothing.
func (s *Service) enqueueWebhooks(tx Tx, ev AuditEvent, rec AuditRecord) error {
	typ, outcome := webhookEventOf(ev.Action)
	if typ == "" {
		return nil
	}
	requestID := ev.Subject
	if typ == EventGrantRevoked {
		rv, _ := rec.(GrantRevocation)
		id := rv.Request
		if id == "" {
			return fmt.Errorf("webhook %s: grant %s names no request", typ, ev.Subject)
		}
		requestID = id
	}
	n, err := tx.EnqueueWebhookDeliveries(typ, ev.Seq, requestID, ev.At)
	if err != nil || n == 0 {
		return err
	}
	body, err := s.webhookBody(tx, ev, typ, outcome, requestID, rec)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", typ, err)
	}
	return tx.InsertWebhookEvent(WebhookEvent{Seq: ev.Seq, Type: typ, RequestID: requestID, At: ev.At, Body: body})
}

// webhookRequest is the request as a receiver sees it.
type webhookRequest struct {
	ID            string            `json:"id"`
	Application   string            `json:"application"`
	AppName       string            `json:"application_name,omitempty"`
	Template      string            `json:"template"`
	TemplateTitle string            `json:"template_title,omitempty"`
	Requester     string            `json:"requester"`
	Reason        string            `json:"reason"`
	Metadata      map[string]string `json:"metadata"`
	TTL           string            `json:"ttl"`
	Status        Status            `json:"status"`
	CreatedAt     string            `json:"created_at"`
	ExpiresAt     string            `json:"expires_at"`
	DecidedAt     string            `json:"decided_at,omitempty"`
	DecidedBy     string            `json:"decided_by,omitempty"`
	Approvals     int               `json:"approvals"`
	Escalation    int               `json:"escalation"`
}

// webhookGrant is a grant as a receiver sees it: never its token.
type webhookGrant struct {
	ID           string `json:"id"`
	Subject      string `json:"subject"`
	Audience     string `json:"audience"`
	Scope        string `json:"scope"`
	IssuedAt     string `json:"issued_at"`
	ExpiresAt    string `json:"expires_at"`
	BreakGlass   bool   `json:"break_glass"`
	RevokedAt    string `json:"revoked_at,omitempty"`
	RevokedBy    string `json:"revoked_by,omitempty"`
	RevokeReason string `json:"revoke_reason,omitempty"`
}

type webhookData struct {
	Request *webhookRequest `json:"request"`
	Outcome string          `json:"outcome,omitempty"`
	Grant   *webhookGrant   `json:"grant,omitempty"`
	// Decision says how the request ended, as the requester should hear
	// it (request.decided): outcome, who, when and the comment.
	Decision *webhookDecision `json:"decision,omitempty"`
	// BreakGlassReason is the requester's emergency justification.
	BreakGlassReason string `json:"break_glass_reason,omitempty"`
	Level            int    `json:"level,omitempty"` // escalation level reached
}

// webhookDecision is the decision a requester hears back.
type webhookDecision struct {
	Outcome Status `json:"outcome"`
	By      string `json:"by"`
	At      string `json:"at"`
	Comment string `json:"comment,omitempty"`
}

type webhookBody struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	CreatedAt string      `json:"created_at"`
	Actor     string      `json:"actor"`
	AuditSeq  int64       `json:"audit_seq"`
	Data      webhookData `json:"data"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// webhookBody renders the event as of this transaction (the state the
// change produced), from fields chosen one by one: nothing secret can slip in.
func (s *Service) webhookBody(tx Tx, ev AuditEvent, typ, outcome, requestID string, rec AuditRecord) ([]byte, error) {
	r, err := tx.Request(requestID)
	if err != nil {
		return nil, err
	}
	md := r.Metadata
	if md == nil {
		md = map[string]string{}
	}
	data := webhookData{Outcome: outcome, Request: &webhookRequest{
		ID: r.ID, Application: r.AppID, AppName: r.AppName, Template: r.TemplateKey, TemplateTitle: r.TemplateTitle,
		Requester: r.Requester, Reason: r.Reason, Metadata: md, TTL: r.TTL.String(), Status: r.Status,
		CreatedAt: rfc3339(r.CreatedAt), ExpiresAt: rfc3339(r.ExpiresAt), DecidedAt: rfc3339(r.DecidedAt), DecidedBy: r.DecidedBy,
		Approvals: r.Approvals, Escalation: r.Escalation,
	}}
	if typ == EventRequestDecided {
		d := &webhookDecision{Outcome: r.Status, By: r.DecidedBy, At: rfc3339(r.DecidedAt)}
		switch e := rec.(type) {
		case RequestDenied:
			d.Comment = e.Comment
		case RequestCancelled:
			d.Comment = e.Reason
		}
		data.Decision = d
	}
	switch typ {
	case EventRequestEscalated:
		if e, ok := rec.(RequestEscalated); ok {
			data.Level = e.Level
		}
	case EventBreakGlassUsed:
		if e, ok := rec.(BreakGlassUsed); ok {
			data.BreakGlassReason = e.Reason
		}
	}
	if typ == EventGrantRevoked || typ == EventBreakGlassUsed || (typ == EventRequestDecided && outcome == "approved") {
		var g Grant
		if typ == EventGrantRevoked {
			g, err = tx.Grant(ev.Subject)
		} else {
			g, err = tx.GrantByRequest(requestID)
		}
		if err != nil {
			return nil, err
		}
		data.Grant = &webhookGrant{
			ID: g.ID, Subject: g.Subject, Audience: g.Audience, Scope: g.Scope,
			IssuedAt: rfc3339(g.IssuedAt), ExpiresAt: rfc3339(g.ExpiresAt), BreakGlass: g.BreakGlass,
			RevokedAt: rfc3339(g.RevokedAt), RevokedBy: g.RevokedBy, RevokeReason: g.RevokeReason,
		}
	}
	return json.Marshal(webhookBody{
		ID: WebhookEventID(ev.Seq), Type: typ, CreatedAt: rfc3339(ev.At), Actor: ev.Actor, AuditSeq: ev.Seq, Data: data,
	})
}

// pruneBatch is how many finished deliveries one prune transaction
// deletes, so pruning a large backlog never holds the writer for long.
const pruneBatch = 1000

// PruneReport says what a prune deleted.
type PruneReport struct {
	Deliveries, Bodies int
	Before             time.Time
}

// PruneWebhookDeliveries deletes webhook deliveries that were delivered,
// given up on or cancelled before olderThan ago, and the event bodies no
// delivery needs any more, in batches, each with an audit event saying how
// many went. Pending deliveries are never pruned; requests, reviews,
// grants and the audit log are never pruned at all.
func (s *Service) PruneWebhookDeliveries(ctx context.Context, actor string, olderThan time.Duration) (PruneReport, error) {
	if olderThan < time.Hour {
		return PruneReport{}, invalidf("prune: keep webhook deliveries at least 1h (asked %s)", FormatDuration(olderThan))
	}
	rep := PruneReport{Before: s.Now().Add(-olderThan)}
	for {
		var d, b int
		err := s.store.Update(ctx, func(tx Tx) error {
			var err error
			if d, b, err = tx.PruneWebhookDeliveries(rep.Before, pruneBatch); err != nil || d == 0 {
				return err
			}
			return s.audit(tx, s.Now(), actor, NewConfigChange(ActionWebhookPruned, "deliveries", nil,
				map[string]any{"deliveries": d, "bodies": b, "finished_before": auditTime(rep.Before)}))
		})
		if err != nil {
			return rep, fmt.Errorf("prune webhook deliveries: %w", err)
		}
		rep.Deliveries += d
		rep.Bodies += b
		if d < pruneBatch {
			return rep, nil
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
}
