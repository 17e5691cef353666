// Package webhook delivers jitdesk's webhook events: it owns the HTTP side
// of the outbox that approvals.Service fills (in the same transaction as each
// change), namely claiming due deliveries in small batches, signing and
// POSTing them, retrying with capped exponential backoff and jitter, and
// giving up after a number of attempts or an age. It also owns the signature
// scheme (Sign, Verify) that receivers check.
//
// Guarantees. Delivery is at least once: a deliverer that dies after a
// receiver answered but before the outcome was recorded leaves a lease that
// lapses, and the event is sent again with the same event id (receivers
// dedupe on it). In normal operation an event is never in flight twice at
// once, even with several deliverers on one database: a delivery is claimed
// with a compare-and-set lease in one transaction. Order is kept per
// (hook, request): the next event of a request is not sent to a hook until
// the previous one was delivered or given up; events of other requests flow
// meanwhile. A Deliverer holds at most one batch in memory, however large
// the backlog, and never holds a database transaction while it waits on the
// network, so a slow or dead receiver cannot delay a decision.
//
// Signature. Deliveries follow the Standard Webhooks specification
// (https://www.standardwebhooks.com), so receivers can check them with the
// published standardwebhooks libraries or with Verify here. Each POST carries
//
//	webhook-id: evt_<audit seq>             (the body's "id"; the same on every retry)
//	webhook-timestamp: <unix seconds of this attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id "." timestamp "." body)>
//	Jitdesk-Event: request.decided          (the body's "type")
//	Jitdesk-Delivery: <hook id>.<audit seq> (this event to this hook)
//	Jitdesk-Attempt: <1, 2, ...>
//
// The key is the secret shown by `jitdesk webhook add` decoded as SecretKey
// says. A receiver recomputes the HMAC over the raw body, compares in
// constant time, refuses timestamps more than a few minutes from its clock
// (Verify does all three), so a captured request cannot be replayed later,
// and dedupes on webhook-id.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// Header names jitdesk sends beside the Standard Webhooks ones; they are
// informative and not signed (the body holds the same facts, and is).
const (
	HeaderEvent    = "Jitdesk-Event"
	HeaderDelivery = "Jitdesk-Delivery"
	HeaderAttempt  = "Jitdesk-Attempt"
)

// Options configure a Deliverer. Zero values take the defaults.
type Options struct {
	// Client sends the POSTs; by default one with Timeout that does not
	// follow redirects (a 3xx counts as a failure).
	Client *http.Client
	// Timeout bounds one POST, connection to last byte (default 10s).
	Timeout time.Duration
	// BatchSize is how many deliveries a Deliverer sends at once, and so
	// the most it holds in memory (default 16).
	BatchSize int
	// PerHook caps how many of those go to one hook (default BatchSize/2),
	// so a hook that hangs cannot hold every slot and delay the others.
	PerHook int
	// Lease is how long a claimed delivery stays invisible to other
	// deliverers (default Timeout + 30s); after it lapses the delivery is
	// retried.
	Lease time.Duration
	// BaseBackoff is the wait after the first failure; it doubles per
	// failure up to MaxBackoff, with jitter (defaults 10s and 1h).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxAttempts and MaxAge end retrying: the delivery is marked dead when
	// either is reached (defaults 25 attempts, 72h after the event).
	MaxAttempts int
	MaxAge      time.Duration
	// Jitter maps a backoff to the wait actually used; by default a uniform
	// pick in [d/2, d]. Tests pass the identity.
	Jitter func(time.Duration) time.Duration
	// Poll is the longest Run sleeps without a change notice (default 30s).
	Poll time.Duration
	// Name identifies this deliverer's claims (default random).
	Name   string
	Logger *slog.Logger
}

// Deliverer sends due outbox deliveries. Make one with New.
type Deliverer struct {
	svc  *approvals.Service
	opts Options
}

// New returns a Deliverer over svc. Time comes from svc's clock.
func New(svc *approvals.Service, opts Options) *Deliverer {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			Timeout:       opts.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 16
	}
	if opts.PerHook <= 0 {
		opts.PerHook = max(1, opts.BatchSize/2)
	}
	opts.PerHook = min(opts.PerHook, opts.BatchSize)
	if opts.Lease <= 0 {
		opts.Lease = opts.Timeout + 30*time.Second
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 10 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 25
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 72 * time.Hour
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1)) }
	}
	if opts.Poll <= 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Name == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		opts.Name = "deliverer-" + hex.EncodeToString(b)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{svc: svc, opts: opts}
}

// Backoff is the wait (before jitter) after the given number of failed attempts.
func (d *Deliverer) Backoff(failures int) time.Duration {
	f := float64(d.opts.BaseBackoff) * math.Pow(2, float64(max(failures-1, 0)))
	if f >= float64(d.opts.MaxBackoff) {
		return d.opts.MaxBackoff
	}
	return time.Duration(f)
}

// Round is what one DeliverNow did.
type Round struct {
	Attempted, Delivered, Retrying, Dead int
}

func (d *Deliverer) claim(ctx context.Context, limit int, busy map[string]int) ([]approvals.WebhookDelivery, error) {
	return d.svc.ClaimWebhookDeliveries(ctx, approvals.WebhookClaim{
		Name: d.opts.Name, Limit: limit, Lease: d.opts.Lease, PerHook: d.opts.PerHook, Busy: busy,
	})
}

// DeliverNow claims one batch of due deliveries (at most PerHook per hook),
// POSTs them in parallel, waits for all of them and records the outcomes:
// one synchronous round, for tests and tools (Run does not wait for a whole
// batch). It returns a zero Round when nothing was due. The POSTs and the
// recording run to completion even if ctx ends meanwhile (bounded by
// Timeout), so a shutdown does not leave claimed work unrecorded.
func (d *Deliverer) DeliverNow(ctx context.Context) (Round, error) {
	batch, err := d.claim(ctx, d.opts.BatchSize, nil)
	if err != nil || len(batch) == 0 {
		return Round{}, err
	}
	work := context.WithoutCancel(ctx)
	attempts := make([]approvals.WebhookAttempt, len(batch))
	var wg sync.WaitGroup
	for i, del := range batch {
		wg.Go(func() { attempts[i] = d.attempt(work, del) })
	}
	wg.Wait()
	var r Round
	for i, a := range attempts {
		d.count(&r, batch[i], a)
	}
	if err := d.svc.RecordWebhookAttempts(work, attempts); err != nil {
		return r, err
	}
	return r, nil
}

// count adds an attempt to r and logs failures (hook and event ids only:
// never the URL, which may carry a token, or the secret).
func (d *Deliverer) count(r *Round, del approvals.WebhookDelivery, a approvals.WebhookAttempt) {
	r.Attempted++
	switch {
	case a.Delivered:
		r.Delivered++
	case a.RetryAt.IsZero():
		r.Dead++
		d.opts.Logger.Warn("webhook delivery given up", "hook", del.HookID, "event", del.EventID(), "type", del.EventType, "attempts", del.Attempts+1, "status", a.Status)
	default:
		r.Retrying++
		d.opts.Logger.Info("webhook delivery failed; will retry", "hook", del.HookID, "event", del.EventID(), "attempt", del.Attempts+1, "status", a.Status, "retry_at", a.RetryAt)
	}
}

// attempt POSTs one delivery and decides what comes next.
func (d *Deliverer) attempt(ctx context.Context, del approvals.WebhookDelivery) approvals.WebhookAttempt {
	now := d.svc.Now()
	a := approvals.WebhookAttempt{DeliveryID: del.ID, Claim: del.Claim, At: now}
	sig, err := Sign(del.Secret, del.EventID(), now.Unix(), del.Body)
	if err != nil {
		// A stored secret that cannot sign never will: give up at once
		// rather than retry for days. The error names the problem only.
		a.Error = "cannot sign: " + err.Error()
		return a
	}
	a.Status, a.Error = d.post(ctx, del, now, sig)
	if a.Error == "" {
		a.Delivered = true
		return a
	}
	failures := del.Attempts + 1
	if failures >= d.opts.MaxAttempts {
		a.Error += fmt.Sprintf(" (gave up after %d attempts)", failures)
		return a
	}
	retry := now.Add(d.opts.Jitter(d.Backoff(failures)))
	if retry.Sub(del.CreatedAt) > d.opts.MaxAge {
		a.Error += fmt.Sprintf(" (gave up: next attempt would be more than %s after the event)", d.opts.MaxAge)
		return a
	}
	a.RetryAt = retry
	return a
}

// post sends del signed with sig at now and returns the HTTP status and an
// error text ("" on 2xx).
func (d *Deliverer) post(ctx context.Context, del approvals.WebhookDelivery, now time.Time, sig string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.URL, strings.NewReader(string(del.Body)))
	if err != nil {
		return 0, "build request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jitdesk-webhook/1")
	req.Header.Set(HeaderID, del.EventID())
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set(HeaderEvent, del.EventType)
	req.Header.Set(HeaderDelivery, del.DeliveryKey())
	req.Header.Set(HeaderAttempt, strconv.Itoa(del.Attempts+1))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may carry a token in its
		// path or query; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Sprintf("no response within %s", d.opts.Timeout)
		}
		return 0, err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
		return resp.StatusCode, ""
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, approvals.MaxWebhookError))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	msg := "HTTP " + resp.Status
	if s := strings.TrimSpace(string(snippet)); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, msg
}

// Run delivers until ctx ends. It keeps up to BatchSize POSTs in flight (at
// most PerHook to one hook) and claims more as each finishes, so a hook that
// hangs holds its own slots and nobody else's. Between claims it sleeps until
// a POST finishes, the store reports a change (Service.Subscribe), the next
// delivery is due, or Poll passes. Errors are logged and retried on the next
// wake-up. When ctx ends it stops claiming, lets the POSTs in flight finish
// (bounded by Timeout), records them and returns.
func (d *Deliverer) Run(ctx context.Context) {
	changes, stop := d.svc.Subscribe()
	defer stop()
	work := context.WithoutCancel(ctx)
	// Buffered for every slot: a finishing POST never waits for the loop.
	done := make(chan approvals.WebhookAttempt, d.opts.BatchSize)
	inflight := map[int64]approvals.WebhookDelivery{}
	busy := map[string]int{}
	finish := func(first approvals.WebhookAttempt) {
		attempts := []approvals.WebhookAttempt{first}
	more:
		for {
			select {
			case a := <-done:
				attempts = append(attempts, a)
			default:
				break more
			}
		}
		var r Round
		for _, a := range attempts {
			del := inflight[a.DeliveryID]
			delete(inflight, a.DeliveryID)
			if busy[del.HookID]--; busy[del.HookID] <= 0 {
				delete(busy, del.HookID)
			}
			d.count(&r, del, a)
		}
		if err := d.svc.RecordWebhookAttempts(work, attempts); err != nil {
			d.opts.Logger.Error("webhook deliverer: record attempts", "err", err)
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			for len(inflight) > 0 {
				finish(<-done)
			}
			return
		}
		if free := d.opts.BatchSize - len(inflight); free > 0 {
			batch, err := d.claim(ctx, free, busy)
			if err != nil && ctx.Err() == nil {
				d.opts.Logger.Error("webhook deliverer: claim", "err", err)
			}
			for _, del := range batch {
				inflight[del.ID] = del
				busy[del.HookID]++
				go func() { done <- d.attempt(work, del) }()
			}
		}
		wait := d.opts.Poll
		if len(inflight) < d.opts.BatchSize {
			full := map[string]bool{}
			for h, n := range busy {
				full[h] = n >= d.opts.PerHook
			}
			if next, ok, err := d.svc.NextWebhookDue(ctx, full); err == nil && ok {
				// Wall time: the service clock is the system clock in production.
				wait = min(wait, max(next.Sub(d.svc.Now()), 10*time.Millisecond))
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case a := <-done:
			finish(a)
		case <-changes:
		case <-timer.C:
		}
	}
}
