package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/webhook"
)

var t0 = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

// received is one POST as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	event  struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Request struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"request"`
			Outcome string          `json:"outcome"`
			Grant   json.RawMessage `json:"grant"`
		} `json:"data"`
	}
}

// receiver is a real local HTTP endpoint that records what it accepts.
// respond decides each answer (nil: 204).
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received // accepted (2xx) only
	hits    atomic.Int64
	respond func(r received) int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		rv := received{header: r.Header.Clone(), body: b}
		if err := json.Unmarshal(b, &rv.event); err != nil {
			t.Errorf("receiver: body is not JSON: %v", err)
		}
		rc.mu.Lock()
		respond := rc.respond
		rc.mu.Unlock()
		code := http.StatusNoContent
		if respond != nil {
			code = respond(rv)
		}
		if code < 300 {
			rc.mu.Lock()
			rc.got = append(rc.got, rv)
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
		io.WriteString(w, "receiver says \x1b[31mno\x1b[0m")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setRespond(f func(received) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// types lists the accepted events as "type/outcome@request".
func (rc *receiver) types() []string {
	var out []string
	for _, r := range rc.accepted() {
		s := r.event.Type
		if r.event.Data.Outcome != "" {
			s += "/" + r.event.Data.Outcome
		}
		out = append(out, s+"@"+r.event.Data.Request.ID)
	}
	return out
}

type fixture struct {
	t     testing.TB
	ctx   context.Context
	path  string
	db    *store.DB
	svc   *approvals.Service
	clock *approvals.ManualClock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "j.db"), clock: approvals.NewManualClock(t0)}
	f.open()
	if _, err := f.svc.Init(f.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateApplication(f.ctx, "test", "payments", "https://payments.test"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []approvals.Approver{
		{Login: "alice", Name: "Alice Example", Groups: []string{"sre"}},
		{Login: "bob", Name: "Bob Builder", Groups: []string{"sre"}},
	} {
		if err := f.svc.AddApprover(f.ctx, "test", a); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.AddTemplate(f.ctx, "test", approvals.Template{Key: "k8s", AppID: "payments", Title: "K8s exec", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, DefaultTTL: 30 * time.Minute, PendingTimeout: time.Hour, BreakGlassMaxTTL: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	return f
}

// open (re)opens the database and a Service over it, as a process start does.
func (f *fixture) open() {
	f.t.Helper()
	db, err := store.Open(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
	f.t.Cleanup(func() { db.Close() })
	f.svc = approvals.New(db, approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test"})
}

func (f *fixture) hook(url string, events ...string) approvals.Webhook {
	f.t.Helper()
	w, err := f.svc.AddWebhook(f.ctx, "test", url, events)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *fixture) submit(requester string) approvals.Request {
	f.t.Helper()
	r, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: requester, Reason: "investigate INC-1"})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) approve(id, login string) approvals.Outcome {
	f.t.Helper()
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: id, Approver: login, Digest: d.Digest})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) deny(id, login string) {
	f.t.Helper()
	d, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: id, Approver: login, Digest: d.Digest, Comment: "not now"}); err != nil {
		f.t.Fatal(err)
	}
}

// deliverer has no jitter and a short timeout, so backoff is exact.
func (f *fixture) deliverer(opts webhook.Options) *webhook.Deliverer {
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return d }
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return webhook.New(f.svc, opts)
}

// drain runs rounds until nothing is due at the current (manual) time.
func (f *fixture) drain(d *webhook.Deliverer) webhook.Round {
	f.t.Helper()
	var total webhook.Round
	for i := 0; ; i++ {
		r, err := d.DeliverNow(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if r.Attempted == 0 {
			return total
		}
		if i > 1000 {
			f.t.Fatal("drain does not end")
		}
		total.Attempted += r.Attempted
		total.Delivered += r.Delivered
		total.Retrying += r.Retrying
		total.Dead += r.Dead
	}
}

func (f *fixture) log(hook string) []approvals.WebhookDelivery {
	f.t.Helper()
	ds, err := f.svc.WebhookLog(f.ctx, approvals.WebhookLogQuery{HookID: hook, Limit: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func count(ds []approvals.WebhookDelivery, s approvals.DeliveryState) int {
	n := 0
	for _, d := range ds {
		if d.State == s {
			n++
		}
	}
	return n
}

func TestDeliveryCarriesStandardWebhooksHeadersThatVerifyAndTamperingFails(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	h := f.hook(rc.srv.URL)
	if key, err := webhook.SecretKey(h.Secret); err != nil || len(key) != 32 {
		t.Fatalf("a new hook's secret: %d key bytes, %v; want whsec_ and 32 random bytes", len(key), err)
	}
	r := f.submit("mallory")
	if got := f.drain(f.deliverer(webhook.Options{})); got.Delivered != 1 {
		t.Fatalf("round %+v", got)
	}
	rv := rc.accepted()[0]
	if err := webhook.Verify(h.Secret, rv.header, rv.body, f.clock.Now(), webhook.DefaultTolerance); err != nil {
		t.Fatalf("signature does not verify: %v (headers %v)", err, rv.header)
	}
	if rv.header.Get(webhook.HeaderEvent) != approvals.EventRequestCreated || rv.event.Type != approvals.EventRequestCreated || rv.event.Data.Request.ID != r.ID {
		t.Fatalf("event headers/body: %v %s", rv.header, rv.body)
	}
	if id := rv.header.Get(webhook.HeaderID); id != rv.event.ID || !strings.HasPrefix(id, "evt_") || rv.header.Get(webhook.HeaderDelivery) == "" {
		t.Fatalf("ids: webhook-id %q, body id %q, delivery %q", id, rv.event.ID, rv.header.Get(webhook.HeaderDelivery))
	}
	if ts := rv.header.Get(webhook.HeaderTimestamp); ts != fmt.Sprint(f.clock.Now().Unix()) {
		t.Fatalf("webhook-timestamp %q, want the attempt's unix seconds %d", ts, f.clock.Now().Unix())
	}
	if got := rv.header.Get("Jitdesk-Signature") + rv.header.Get("Jitdesk-Timestamp"); got != "" {
		t.Fatalf("the pre-Standard-Webhooks headers are still sent: %q", got)
	}
	tampered := []byte(strings.Replace(string(rv.body), "mallory", "mallorx", 1))
	if err := webhook.Verify(h.Secret, rv.header, tampered, f.clock.Now(), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	other := f.hook(rc.srv.URL + "/other")
	if err := webhook.Verify(other.Secret, rv.header, rv.body, f.clock.Now(), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("another hook's secret: %v", err)
	}
	if err := webhook.Verify(h.Secret, rv.header, rv.body, f.clock.Now().Add(10*time.Minute), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrStale) {
		t.Fatalf("replayed 10 minutes later: %v", err)
	}
}

func TestRetriesKeepTheWebhookIDAndSignEachAttemptsOwnTimestamp(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	var mu sync.Mutex
	var seen []received
	rc.setRespond(func(r received) int {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r)
		if len(seen) < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h := f.hook(rc.srv.URL)
	f.submit("mallory")
	d := f.deliverer(webhook.Options{BaseBackoff: 10 * time.Second})
	for range 3 {
		f.drain(d)
		f.clock.Advance(time.Minute)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d attempts, want 3", len(seen))
	}
	id := seen[0].header.Get(webhook.HeaderID)
	for i, r := range seen {
		if got := r.header.Get(webhook.HeaderID); got != id || got != r.event.ID {
			t.Fatalf("attempt %d: webhook-id %q, first attempt's %q, body id %q", i+1, got, id, r.event.ID)
		}
		at := time.Unix(mustUnix(t, r.header.Get(webhook.HeaderTimestamp)), 0)
		if err := webhook.Verify(h.Secret, r.header, r.body, at, 0); err != nil {
			t.Fatalf("attempt %d does not verify at its own timestamp: %v", i+1, err)
		}
	}
	if seen[0].header.Get(webhook.HeaderTimestamp) == seen[2].header.Get(webhook.HeaderTimestamp) {
		t.Fatal("a retry reuses the first attempt's timestamp (and so could not pass a receiver's tolerance later)")
	}
}

func mustUnix(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return n
}

func TestServerErrorsAreRetriedWithBackoffThenDelivered(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	fails := 3
	rc.setRespond(func(received) int {
		if fails > 0 {
			fails--
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h := f.hook(rc.srv.URL)
	f.submit("mallory")
	d := f.deliverer(webhook.Options{BaseBackoff: 10 * time.Second, MaxBackoff: time.Minute})
	if r := f.drain(d); r.Retrying != 1 || r.Delivered != 0 {
		t.Fatalf("first attempt: %+v", r)
	}
	l := f.log(h.ID)[0]
	if l.State != approvals.DeliveryPending || l.Attempts != 1 || l.LastStatus != 500 || !l.NextAttemptAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("after one 500: %+v", l)
	}
	if !strings.Contains(l.LastError, "500") || !strings.Contains(l.LastError, "receiver says") {
		t.Fatalf("last error %q", l.LastError)
	}
	// Not due before the backoff has passed.
	f.clock.Advance(9 * time.Second)
	if r := f.drain(d); r.Attempted != 0 {
		t.Fatalf("retried before its backoff: %+v", r)
	}
	// 10s, then 20s, then 40s.
	for i, wait := range []time.Duration{time.Second, 20 * time.Second, 40 * time.Second} {
		f.clock.Advance(wait)
		r := f.drain(d)
		if r.Attempted != 1 {
			t.Fatalf("retry %d: %+v", i+1, r)
		}
	}
	l = f.log(h.ID)[0]
	if l.State != approvals.DeliveryDelivered || l.Attempts != 4 || l.LastStatus != 200 || l.LastError != "" || len(rc.accepted()) != 1 {
		t.Fatalf("after 3 failures and a success: %+v, accepted %d", l, len(rc.accepted()))
	}
	if got := rc.accepted()[0].header.Get(webhook.HeaderAttempt); got != "4" {
		t.Fatalf("attempt header %q", got)
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	f := newFixture(t)
	d := f.deliverer(webhook.Options{BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour})
	want := map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 9: 2560 * time.Second, 10: time.Hour, 60: time.Hour}
	for n, w := range want {
		if got := d.Backoff(n); got != w {
			t.Errorf("backoff after %d failures: %s, want %s", n, got, w)
		}
	}
}

func TestDownReceiverKeepsEventsInTheOutboxAndTheDelivererHoldsAtMostABatch(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	url := rc.srv.URL
	rc.srv.Close() // connection refused from now on
	h := f.hook(url)
	const n = 40
	for i := 0; i < n; i++ {
		f.submit("user" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	d := f.deliverer(webhook.Options{BatchSize: 8, PerHook: 8, MaxAttempts: 3})
	r, err := d.DeliverNow(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempted != 8 || r.Retrying != 8 {
		t.Fatalf("one round must take exactly one batch of 8: %+v", r)
	}
	f.drain(d)
	ds := f.log(h.ID)
	if len(ds) != n || count(ds, approvals.DeliveryPending) != n {
		t.Fatalf("outbox after the receiver went down: %d rows, %d pending", len(ds), count(ds, approvals.DeliveryPending))
	}
	for _, x := range ds {
		if x.Attempts != 1 || x.LastStatus != 0 || !strings.Contains(x.LastError, "refused") {
			t.Fatalf("delivery %+v", x)
		}
		if strings.Contains(x.LastError, url) {
			t.Fatalf("error repeats the URL: %q", x.LastError)
		}
	}
	// After MaxAttempts every one is given up, not kept forever.
	for i := 0; i < 3; i++ {
		f.clock.Advance(time.Hour)
		f.drain(d)
	}
	if ds := f.log(h.ID); count(ds, approvals.DeliveryDead) != n {
		t.Fatalf("after max attempts: %d dead of %d", count(ds, approvals.DeliveryDead), n)
	}
	if _, ok, _ := f.svc.NextWebhookDue(f.ctx, nil); ok {
		t.Fatal("nothing should be scheduled after giving up")
	}
}

func TestOutboxSurvivesARestartAndIsDeliveredAfterwards(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	h := f.hook(rc.srv.URL)
	r := f.submit("mallory")
	f.approve(r.ID, "alice")
	// The process stops before any deliverer ran.
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	if got := f.drain(f.deliverer(webhook.Options{})); got.Delivered != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	want := []string{"request.created@" + r.ID, "request.decided/approved@" + r.ID}
	if got := rc.types(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("received %v, want %v", got, want)
	}
	if ds := f.log(h.ID); count(ds, approvals.DeliveryDelivered) != 2 {
		t.Fatalf("log %+v", ds)
	}
}

func TestClaimedButUnrecordedDeliveryIsRetriedAfterItsLeaseLapses(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.hook(rc.srv.URL)
	f.submit("mallory")
	// A deliverer claims the event and dies before posting it.
	claimed, err := f.svc.ClaimWebhookDeliveries(f.ctx, approvals.WebhookClaim{Name: "crashed", Limit: 10, PerHook: 10, Lease: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	d := f.deliverer(webhook.Options{})
	if r := f.drain(d); r.Attempted != 0 {
		t.Fatalf("taken while leased: %+v", r)
	}
	f.clock.Advance(time.Minute)
	if r := f.drain(d); r.Delivered != 1 {
		t.Fatalf("after the lease lapsed: %+v", r)
	}
	// The dead deliverer's late report changes nothing.
	err = f.svc.RecordWebhookAttempts(f.ctx, []approvals.WebhookAttempt{{DeliveryID: claimed[0].ID, Claim: "crashed", At: f.clock.Now(), Status: 500, Error: "late", RetryAt: f.clock.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if l := f.log("")[0]; l.State != approvals.DeliveryDelivered || l.LastError != "" {
		t.Fatalf("late report overwrote the outcome: %+v", l)
	}
}

func TestOrderPerRequestIsKeptWhileOtherRequestsFlow(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.submit("before-the-hook") // not announced to a hook added later
	h := f.hook(rc.srv.URL)
	a := f.submit("mallory")
	b := f.submit("trudy")
	// a's first event fails twice; everything else is accepted.
	failA := 2
	rc.setRespond(func(r received) int {
		if r.event.Data.Request.ID == a.ID && r.event.Type == approvals.EventRequestCreated && failA > 0 {
			failA--
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	f.approve(a.ID, "alice")
	f.deny(b.ID, "bob")
	f.approve(f.submit("trudy").ID, "alice")
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: a.ID, Approver: "bob", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	d := f.deliverer(webhook.Options{BaseBackoff: time.Second})
	f.drain(d)
	for _, got := range rc.types() {
		if strings.HasSuffix(got, "@"+a.ID) {
			t.Fatalf("an event of a was delivered while its first one failed: %v", rc.types())
		}
	}
	if n := len(rc.types()); n != 4 { // b created+denied, the third request created+approved
		t.Fatalf("other requests did not flow while a was stuck: %v", rc.types())
	}
	for i := 0; i < 3; i++ {
		f.clock.Advance(time.Minute)
		f.drain(d)
	}
	var gotA []string
	for _, got := range rc.types() {
		if strings.HasSuffix(got, "@"+a.ID) {
			gotA = append(gotA, strings.TrimSuffix(got, "@"+a.ID))
		}
	}
	if strings.Join(gotA, " ") != "request.created request.decided/approved grant.revoked" {
		t.Fatalf("a's events arrived as %v", gotA)
	}
	if ds := f.log(h.ID); count(ds, approvals.DeliveryDelivered) != 7 {
		t.Fatalf("log: %d delivered of %d", count(ds, approvals.DeliveryDelivered), len(ds))
	}
}

func TestGivingUpOnAnEventLetsTheNextEventOfItsRequestFlow(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	h := f.hook(rc.srv.URL)
	r := f.submit("mallory")
	f.approve(r.ID, "alice")
	rc.setRespond(func(rv received) int {
		if rv.event.Type == approvals.EventRequestCreated {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	d := f.deliverer(webhook.Options{MaxAttempts: 2, BaseBackoff: time.Second})
	f.drain(d)
	f.clock.Advance(time.Second)
	f.drain(d)
	if got := rc.types(); len(got) != 1 || got[0] != "request.decided/approved@"+r.ID {
		t.Fatalf("after giving up on created: %v", got)
	}
	ds := f.log(h.ID)
	if count(ds, approvals.DeliveryDead) != 1 || !strings.Contains(ds[1].LastError, "gave up after 2 attempts") {
		t.Fatalf("log %+v", ds)
	}
}

func TestEventFilterIsRespected(t *testing.T) {
	f := newFixture(t)
	all, decided := newReceiver(t), newReceiver(t)
	f.hook(all.srv.URL)
	f.hook(decided.srv.URL, "request.decided,breakglass.used")
	r := f.submit("mallory")
	f.approve(r.ID, "alice")
	f.drain(f.deliverer(webhook.Options{}))
	if got := decided.types(); len(got) != 1 || got[0] != "request.decided/approved@"+r.ID {
		t.Fatalf("filtered hook got %v", got)
	}
	if got := all.types(); len(got) != 2 {
		t.Fatalf("unfiltered hook got %v", got)
	}
	// Both hooks receive the same event id for the same event.
	if all.accepted()[1].event.ID != decided.accepted()[0].event.ID {
		t.Fatal("event ids differ between hooks")
	}
	if _, err := f.svc.AddWebhook(f.ctx, "test", all.srv.URL, []string{"request.approved"}); !errors.Is(err, approvals.ErrInvalid) || !strings.Contains(err.Error(), "request.decided") {
		t.Fatalf("unknown event name: %v", err)
	}
}

func TestRemovedHookReceivesNothingMore(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	h := f.hook(rc.srv.URL)
	r := f.submit("mallory")
	f.approve(r.ID, "alice")
	if _, err := f.svc.RemoveWebhook(f.ctx, "test", h.ID); err != nil {
		t.Fatal(err)
	}
	f.submit("trudy")
	if got := f.drain(f.deliverer(webhook.Options{})); got.Attempted != 0 || rc.hits.Load() != 0 {
		t.Fatalf("removed hook was called: %+v, %d hits", got, rc.hits.Load())
	}
	ds := f.log(h.ID)
	if len(ds) != 2 || count(ds, approvals.DeliveryCancelled) != 2 {
		t.Fatalf("pending deliveries must be cancelled and kept in the log: %+v", ds)
	}
	if _, err := f.svc.RemoveWebhook(f.ctx, "test", h.ID); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if ws, _ := f.svc.Webhooks(f.ctx, "", 10); len(ws) != 1 || ws[0].Active() || ws[0].Secret != "" {
		t.Fatalf("list after remove: %+v", ws)
	}
}

func TestDecisionsSucceedWhileTheEndpointHangs(t *testing.T) {
	f := newFixture(t)
	hang := make(chan struct{})
	var hung atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	f.hook(srv.URL)
	f.submit("warmup")
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	d := f.deliverer(webhook.Options{Timeout: time.Minute})
	go func() { d.Run(ctx); close(done) }()
	var release sync.Once
	stop := func() { cancel(); release.Do(func() { close(hang) }); <-done; srv.Close() }
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for hung.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if hung.Load() == 0 {
		t.Fatal("deliverer never reached the endpoint")
	}
	// The deliverer is stuck in a POST; decisions go through at full speed.
	for i := 0; i < 5; i++ {
		start := time.Now()
		r := f.submit("mallory")
		f.approve(r.ID, "alice")
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("submit+approve took %s while the endpoint hangs", took)
		}
	}
	if ds := f.log(""); count(ds, approvals.DeliveryPending) != 11 {
		t.Fatalf("all events must wait in the outbox: %d pending", count(ds, approvals.DeliveryPending))
	}
}

func TestRunDeliversSoonAfterACommit(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.hook(rc.srv.URL)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { f.deliverer(webhook.Options{Poll: time.Hour}).Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	r := f.submit("mallory")
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.accepted()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := rc.types(); len(got) != 1 || got[0] != "request.created@"+r.ID {
		t.Fatalf("Run did not wake on the commit: %v", got)
	}
}

func TestTwoDeliverersNeverSendAnEventTwice(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.hook(rc.srv.URL)
	for i := 0; i < 15; i++ {
		r := f.submit("mallory")
		f.approve(r.ID, "alice")
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		d := f.deliverer(webhook.Options{BatchSize: 4})
		wg.Go(func() {
			for j := 0; j < 200; j++ {
				if _, err := d.DeliverNow(f.ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	f.drain(f.deliverer(webhook.Options{}))
	seen := map[string]int{}
	for _, r := range rc.accepted() {
		seen[r.event.ID]++
	}
	if len(seen) != 30 || int(rc.hits.Load()) != 30 {
		t.Fatalf("%d distinct events in %d POSTs, want 30 each", len(seen), rc.hits.Load())
	}
}

func TestBreakGlassFiresTheWebhookWithoutTheToken(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.hook(rc.srv.URL, approvals.EventBreakGlassUsed)
	r := f.submit("alice")
	d, err := f.svc.Get(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	sig := signature.TypedSignature("alice", "Alice Example", "Alice Example", approvals.Meaning(d.Request, d.Template, 15*time.Minute), f.clock.Now(), d.Digest)
	out, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest, BreakGlass: true, Comment: "prod is down, nobody answers", Signature: &sig})
	if err != nil {
		t.Fatal(err)
	}
	f.drain(f.deliverer(webhook.Options{}))
	got := rc.accepted()
	if len(got) != 1 || got[0].event.Type != approvals.EventBreakGlassUsed || got[0].event.Data.Request.Status != "approved" {
		t.Fatalf("break-glass events: %v", rc.types())
	}
	body := string(got[0].body)
	for _, want := range []string{`"break_glass":true`, `"break_glass_reason":"prod is down, nobody answers"`, out.Grant.ID} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, out.Token) || strings.Contains(body, strings.Split(out.Token, ".")[2]) {
		t.Fatalf("the access token leaked into the webhook: %s", body)
	}
}

// BenchmarkDeliveryThroughput drains an outbox of events to a local
// receiver: one claim and one record transaction per batch.
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := newFixture(b)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			if _, err := f.svc.AddWebhook(f.ctx, "bench", srv.URL, nil); err != nil {
				b.Fatal(err)
			}
			const events = 256
			for i := 0; i < events; i++ {
				if _, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: fmt.Sprintf("user%d", i), Reason: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
			d := webhook.New(f.svc, webhook.Options{BatchSize: batch, PerHook: batch})
			b.ResetTimer()
			start := time.Now()
			delivered := 0
			for delivered < events {
				r, err := d.DeliverNow(f.ctx)
				if err != nil {
					b.Fatal(err)
				}
				if r.Attempted == 0 {
					b.Fatalf("stalled after %d", delivered)
				}
				delivered += r.Delivered
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			b.StopTimer()
		})
	}
}

func TestTestEventReachesOnlyTheNamedHookWhateverItsFilter(t *testing.T) {
	f := newFixture(t)
	named, other := newReceiver(t), newReceiver(t)
	h := f.hook(named.srv.URL, approvals.EventGrantRevoked)
	f.hook(other.srv.URL)
	ev, err := f.svc.TestWebhook(f.ctx, "test", h.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.drain(f.deliverer(webhook.Options{}))
	got := named.accepted()
	if len(got) != 1 || got[0].event.Type != approvals.EventWebhookTest || got[0].event.ID != ev || len(other.accepted()) != 0 {
		t.Fatalf("named %v, other %v", named.types(), other.types())
	}
	if err := webhook.Verify(h.Secret, got[0].header, got[0].body, f.clock.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RemoveWebhook(f.ctx, "test", h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.TestWebhook(f.ctx, "test", h.ID); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("test of a removed hook: %v", err)
	}
}

func TestAHangingHookDoesNotDelayTheOthers(t *testing.T) {
	f := newFixture(t)
	hang := make(chan struct{})
	var hung atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	fast := newReceiver(t)
	f.hook(slow.URL)
	f.hook(fast.srv.URL)
	const n = 20
	for i := 0; i < n; i++ {
		f.submit(fmt.Sprintf("user%d", i)) // one event per request: 20 due heads per hook
	}
	// Run keeps 4 POSTs in flight, at most 2 to one hook: the slow hook's
	// two hang, the other two slots keep serving the fast hook.
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	d := f.deliverer(webhook.Options{BatchSize: 4, PerHook: 2, Timeout: time.Minute})
	go func() { d.Run(ctx); close(done) }()
	var release sync.Once
	defer func() { cancel(); release.Do(func() { close(hang) }); <-done; slow.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for len(fast.accepted()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(fast.accepted()); got != n {
		t.Fatalf("the healthy hook got %d of %d events while the other hung", got, n)
	}
	if h := hung.Load(); h != 2 {
		t.Fatalf("the hanging hook holds %d POSTs, want its cap of 2", h)
	}
}

func TestOneRoundTakesAtMostPerHookFromEachHook(t *testing.T) {
	f := newFixture(t)
	a, b := newReceiver(t), newReceiver(t)
	f.hook(a.srv.URL)
	f.hook(b.srv.URL, approvals.EventRequestDecided)
	for i := 0; i < 6; i++ {
		f.submit(fmt.Sprintf("user%d", i)) // created: only hook a
	}
	f.approve(f.submit("last").ID, "alice") // decided: both
	r, err := f.deliverer(webhook.Options{BatchSize: 8, PerHook: 3}).DeliverNow(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != 4 || len(a.accepted()) != 3 || len(b.accepted()) != 1 {
		t.Fatalf("round %+v: a got %d, b got %d; want 3 and 1", r, len(a.accepted()), len(b.accepted()))
	}
}
