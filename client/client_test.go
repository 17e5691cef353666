package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/server"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

const audience = "https://payments.example"

// env is a real jitdesk (SQLite store, Service, HTTP API) on a loopback
// address that survives restarts of its HTTP server.
type env struct {
	t      *testing.T
	ctx    context.Context
	svc    *approvals.Service
	clock  *approvals.ManualClock
	addr   string
	issuer string
	app    approvals.Application
	secret string // as `jitdesk app add` prints it

	mu  sync.Mutex
	srv *httptest.Server
	// front, when set, answers before the API (fault injection).
	front func(w http.ResponseWriter, r *http.Request) bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jitdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), addr: l.Addr().String()}
	e.issuer = "http://" + e.addr
	e.clock = approvals.NewManualClock(time.Now().UTC().Truncate(time.Second))
	e.svc = approvals.New(db, approvals.Options{Clock: e.clock, Issuer: e.issuer})
	if _, err := e.svc.Init(e.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	e.app, err = e.svc.CreateApplication(e.ctx, "test", "payments", audience)
	e.must(err)
	e.secret = printedSecret(e.app)
	e.must(e.svc.AddApprover(e.ctx, "test", approvals.Approver{Login: "bob", Name: "Bob Okafor"}))
	e.must(e.svc.AddTemplate(e.ctx, "test", approvals.Template{
		Key: "k8s", AppID: e.app.ID, Title: "K8s exec", Type: approvals.TypeApprove, Approvers: []string{"bob"},
		DefaultTTL: 30 * time.Minute, MaxTTL: 2 * time.Hour, PendingTimeout: time.Hour,
		Fields: []approvals.MetadataField{{Name: "ticket"}},
	}))
	e.start(l)
	t.Cleanup(e.stop)
	return e
}

// printedSecret is the application secret as `jitdesk app add` prints it,
// the string whose bytes are the intake HMAC key.
func printedSecret(app approvals.Application) string {
	return approvals.PrintedSecret(app.Secret, app.SecretFormat)
}

func (e *env) start(l net.Listener) {
	e.t.Helper()
	api := server.NewHTTPHandler(server.HTTPConfig{Service: e.svc, MaxWait: 5 * time.Second})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		front := e.front
		e.mu.Unlock()
		if front != nil && front(w, r) {
			return
		}
		api.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	e.mu.Lock()
	e.srv = srv
	e.mu.Unlock()
}

// restart brings the HTTP server back on the same address.
func (e *env) restart() {
	e.t.Helper()
	l, err := net.Listen("tcp", e.addr)
	e.must(err)
	e.start(l)
}

func (e *env) stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) client(mod ...func(*Config)) *Client {
	e.t.Helper()
	cfg := Config{URL: e.issuer, AppID: e.app.ID, Secret: e.secret, Now: e.clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	e.must(err)
	return c
}

func (e *env) verifier(mod ...func(*VerifierConfig)) *Verifier {
	e.t.Helper()
	cfg := VerifierConfig{URL: e.issuer, Issuer: e.issuer, Audience: audience, Now: e.clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := NewVerifier(cfg)
	e.must(err)
	return v
}

func (e *env) approve(id string) {
	e.t.Helper()
	d, err := e.svc.Get(e.ctx, id)
	e.must(err)
	_, err = e.svc.Approve(e.ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	e.must(err)
}

func (e *env) deny(id, comment string) {
	e.t.Helper()
	d, err := e.svc.Get(e.ctx, id)
	e.must(err)
	_, err = e.svc.Deny(e.ctx, approvals.DenyInput{RequestID: id, Approver: "bob", Digest: d.Digest, Comment: comment})
	e.must(err)
}

// serverReportsDecision tells whether this jitdesk puts a decision object
// on GET /v1/requests/{id}; kits must work with and without it.
func (e *env) serverReportsDecision(id string) bool {
	e.t.Helper()
	c := e.client()
	var raw map[string]any
	e.must(c.call(e.ctx, "raw", http.MethodGet, "/v1/requests/"+id, "", nil, nil, "", &raw))
	_, ok := raw["decision"]
	return ok
}

var k8s = NewRequest{Template: "k8s", User: "alice", Reason: "debug OOM in checkout", TTL: 30 * time.Minute,
	Metadata: map[string]string{"ticket": "OPS-1"}}

func TestRequestAndWaitReturnsATokenTheVerifierAccepts(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	// The approver acts as soon as the request exists, while the client waits.
	ch, unsub := e.svc.Subscribe()
	defer unsub()
	go func() {
		for range ch {
			l, err := e.svc.List(e.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 1})
			if err == nil && len(l) == 1 {
				e.approve(l[0].ID)
				return
			}
		}
	}()
	tok, err := c.RequestAndWait(e.ctx, k8s, WaitOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Scope != "k8s" {
		t.Fatalf("token %v", tok)
	}
	if strings.Contains(tok.String(), tok.AccessToken) || strings.Contains(tok.String(), tok.AccessToken[:20]) {
		t.Fatal("AccessToken.String shows the token")
	}
	claims, err := e.verifier().Verify(e.ctx, tok.AccessToken, "k8s")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || claims.JIT.RequestID != tok.RequestID || claims.Scope != "k8s" ||
		len(claims.JIT.Approvers) != 1 || claims.JIT.Approvers[0] != "bob" || claims.JIT.RequestDigest == "" {
		t.Fatalf("claims %+v", claims)
	}
}

func TestWaitReturnsOnceDecidedAndTokenSaysPendingBefore(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	req, err := c.Request(e.ctx, k8s)
	e.must(err)
	if req.Status != StatusPending || req.Requester != "alice" || req.Template != "k8s" || req.TTL != 30*time.Minute {
		t.Fatalf("created %+v", req)
	}
	if _, err := c.Token(e.ctx, req.ID); !errors.Is(err, ErrPending) {
		t.Fatalf("token while pending: %v, want ErrPending", err)
	}
	// A short wait on a pending request times out, saying so.
	_, err = c.Wait(e.ctx, req.ID, WaitOptions{Timeout: 1500 * time.Millisecond, Poll: time.Second})
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) || te.Last.Status != StatusPending {
		t.Fatalf("wait on pending: %v, want a TimeoutError with the pending request", err)
	}
	done := make(chan struct{})
	var got Request
	var werr error
	go func() {
		defer close(done)
		got, werr = c.Wait(e.ctx, req.ID, WaitOptions{Timeout: time.Minute})
	}()
	e.approve(req.ID)
	<-done
	if werr != nil || got.Status != StatusApproved || got.DecidedBy != "bob" {
		t.Fatalf("wait: %+v %v", got, werr)
	}
}

func TestDeniedRequestIsADecisionErrorWithTheComment(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	req, err := c.Request(e.ctx, k8s)
	e.must(err)
	const comment = "use the staging cluster for this"
	e.deny(req.ID, comment)
	_, err = c.RequestAndWait(e.ctx, NewRequest{Template: "k8s", User: "alice", Reason: "again"}, WaitOptions{Timeout: time.Second})
	// That new request is pending; what matters is the denied one:
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("second request: %v", err)
	}
	r, err := c.Wait(e.ctx, req.ID, WaitOptions{Timeout: time.Minute})
	e.must(err)
	_, terr := c.Token(e.ctx, req.ID)
	for _, err := range []error{decisionError(r), terr} {
		var de *DecisionError
		if !errors.As(err, &de) || !errors.Is(err, ErrDenied) || de.Status != StatusDenied {
			t.Fatalf("%v, want a denied DecisionError", err)
		}
		if de.Decision == nil || de.Decision.By != "bob" {
			t.Fatalf("decision %+v, want by bob", de.Decision)
		}
		reports := e.serverReportsDecision(req.ID)
		t.Logf("server reports decisions: %v", reports)
		if reports {
			if de.Comment() != comment || !strings.Contains(err.Error(), comment) {
				t.Fatalf("%v: want the comment %q", err, comment)
			}
		} else if de.Comment() != "" {
			t.Fatalf("comment %q from a server that reports none", de.Comment())
		}
	}
}

func TestRequestAndWaitRejectsDeniedWithTheComment(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ch, unsub := e.svc.Subscribe()
	defer unsub()
	const comment = "not during the freeze"
	go func() {
		for range ch {
			l, err := e.svc.List(e.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 1})
			if err == nil && len(l) == 1 {
				e.deny(l[0].ID, comment)
				return
			}
		}
	}()
	_, err := c.RequestAndWait(e.ctx, k8s, WaitOptions{Timeout: time.Minute})
	var de *DecisionError
	if !errors.As(err, &de) || !errors.Is(err, ErrDenied) {
		t.Fatalf("%v, want ErrDenied", err)
	}
	if e.serverReportsDecision(de.RequestID) && de.Comment() != comment {
		t.Fatalf("comment %q, want %q", de.Comment(), comment)
	}
}

func TestExpiredAndCancelledRequestsAreTypedErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	exp, err := c.Request(e.ctx, k8s)
	e.must(err)
	e.clock.Advance(time.Hour + time.Second)
	if _, err := e.svc.ExpireDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, err := c.Wait(e.ctx, exp.ID, WaitOptions{Timeout: time.Minute})
	e.must(err)
	if r.Status != StatusExpired || !errors.Is(decisionError(r), ErrExpired) {
		t.Fatalf("expired: %+v", r)
	}
	if _, err := c.Token(e.ctx, exp.ID); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "submit a new request") {
		t.Fatalf("token of expired: %v", err)
	}

	can, err := c.Request(e.ctx, k8s)
	e.must(err)
	cr, err := c.Cancel(e.ctx, can.ID)
	e.must(err)
	if cr.Status != StatusCancelled {
		t.Fatalf("cancel: %+v", cr)
	}
	if _, err := c.Token(e.ctx, can.ID); !errors.Is(err, ErrCancelled) {
		t.Fatalf("token of cancelled: %v", err)
	}
	if _, err := c.Cancel(e.ctx, can.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("cancel twice: %v, want ErrConflict", err)
	}
}

func TestRequestAndWaitCancelsTheRequestWhenItGivesUp(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, err := c.RequestAndWait(e.ctx, k8s, WaitOptions{Timeout: time.Second})
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("%v, want a TimeoutError", err)
	}
	r, err := c.Get(e.ctx, te.RequestID)
	e.must(err)
	if r.Status != StatusCancelled {
		t.Fatalf("abandoned request is %s, want cancelled", r.Status)
	}
}

func TestBadCredentialsSayWhatToFix(t *testing.T) {
	e := newEnv(t)
	other := strings.Repeat("x", len(e.secret))
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"wrong secret", func(c *Config) { c.Secret = other }, "Config.Secret"},
		{"wrong app id", func(c *Config) { c.AppID = "app_nosuch" }, "Config.AppID"},
		{"wrong issuer", func(c *Config) { c.Issuer = "https://not-jitdesk.example" }, "Config.Issuer"},
		{"expired intake token", func(c *Config) {
			c.Now = func() time.Time { return e.clock.Now().Add(-10 * time.Minute) }
		}, "clock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client(tc.mod).Request(e.ctx, k8s)
			var ae *APIError
			if !errors.As(err, &ae) || !errors.Is(err, ErrUnauthenticated) || ae.Status != 401 {
				t.Fatalf("%v, want a 401 APIError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || ae.Detail == "" {
				t.Fatalf("message %q does not point at %s or lacks jitdesk's detail", err, tc.want)
			}
			if strings.Contains(err.Error(), e.secret) {
				t.Fatal("the secret is in the error")
			}
		})
	}
	if _, err := New(Config{URL: e.issuer, AppID: e.app.ID, Secret: "short"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("short secret: %v, want ErrConfig", err)
	}
	if _, err := New(Config{URL: "127.0.0.1:8080", AppID: e.app.ID, Secret: e.secret}); !errors.Is(err, ErrConfig) {
		t.Fatalf("URL without scheme: %v, want ErrConfig", err)
	}
	if _, err := e.client().Get(e.ctx, "01NOSUCHREQUEST"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	if _, err := e.client().Request(e.ctx, NewRequest{Template: "nosuch", User: "alice", Reason: "x"}); !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown template: %v", err)
	}
}

func TestServerDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	e.stop()
	c := e.client()
	_, err := c.Request(e.ctx, k8s)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "jitdesk serve") {
		t.Fatalf("%v, want an UnavailableError naming jitdesk serve", err)
	}
	var retries atomic.Int32
	c = e.client(func(cfg *Config) { cfg.OnRetry = func(error, time.Duration) { retries.Add(1) } })
	_, err = c.Wait(e.ctx, "01ANY", WaitOptions{Timeout: time.Second})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrUnavailable) || retries.Load() == 0 {
		t.Fatalf("wait on a down server: %v (retries %d), want a timeout that says it was unavailable", err, retries.Load())
	}
}

func TestWaitSurvivesAServerRestart(t *testing.T) {
	e := newEnv(t)
	req, err := e.client().Request(e.ctx, k8s)
	e.must(err)
	e.stop()
	var once sync.Once
	retried := make(chan error, 1)
	c := e.client(func(cfg *Config) {
		cfg.OnRetry = func(err error, _ time.Duration) { once.Do(func() { retried <- err }) }
	})
	done := make(chan struct{})
	var got Request
	var werr error
	go func() {
		defer close(done)
		got, werr = c.Wait(e.ctx, req.ID, WaitOptions{Timeout: 2 * time.Minute})
	}()
	if err := <-retried; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first retry was for %v, want ErrUnavailable", err)
	}
	e.restart()
	e.approve(req.ID)
	<-done
	if werr != nil || got.Status != StatusApproved {
		t.Fatalf("wait across a restart: %+v %v", got, werr)
	}
}

func TestWaitHonoursRetryAfter(t *testing.T) {
	e := newEnv(t)
	c0 := e.client()
	req, err := c0.Request(e.ctx, k8s)
	e.must(err)
	e.approve(req.ID)
	var busy atomic.Int32
	e.mu.Lock()
	e.front = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/v1/requests/") && busy.Add(1) == 1 {
			w.Header().Set("Retry-After", "2")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"too many long-polls; retry shortly"}`)
			return true
		}
		return false
	}
	e.mu.Unlock()
	var delays []time.Duration
	c := e.client(func(cfg *Config) { cfg.OnRetry = func(_ error, d time.Duration) { delays = append(delays, d) } })
	r, err := c.Wait(e.ctx, req.ID, WaitOptions{Timeout: time.Minute})
	if err != nil || r.Status != StatusApproved {
		t.Fatalf("%+v %v", r, err)
	}
	if len(delays) != 1 || delays[0] != 2*time.Second {
		t.Fatalf("retry delays %v, want exactly [2s] from Retry-After", delays)
	}
}

// approvedToken returns the access token of a freshly approved request.
func (e *env) approvedToken() AccessToken {
	e.t.Helper()
	c := e.client()
	req, err := c.Request(e.ctx, k8s)
	e.must(err)
	e.approve(req.ID)
	tok, err := c.Token(e.ctx, req.ID)
	e.must(err)
	return tok
}

func TestVerifierRefusalsNameTheReason(t *testing.T) {
	e := newEnv(t)
	tok := e.approvedToken()
	if _, err := e.verifier().Verify(e.ctx, tok.AccessToken, "k8s"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		v      *Verifier
		scope  string
		is     error
		phrase string
	}{
		{"wrong issuer", e.verifier(func(c *VerifierConfig) { c.JWKSURL = e.issuer + "/.well-known/jwks.json"; c.Issuer = "https://other" }), "k8s", tokens.ErrInvalidToken, "VerifierConfig.Issuer"},
		{"wrong audience", e.verifier(func(c *VerifierConfig) { c.Audience = "https://billing.example" }), "k8s", tokens.ErrInvalidToken, "VerifierConfig.Audience"},
		{"other scope", e.verifier(), "prod-db", ErrInsufficientScope, "does not include"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(e.ctx, tok.AccessToken, tc.scope)
			if !errors.Is(err, ErrAccessDenied) || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.phrase) {
				t.Fatalf("%v: want ErrAccessDenied, %v and %q", err, tc.is, tc.phrase)
			}
		})
	}
	if _, err := e.verifier().Verify(e.ctx, "eyJ.not.a-token", ""); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Fatalf("garbage: %v", err)
	}
	// An intake token is not an access token, though jitdesk signed neither with a JWKS key.
	intake, err := e.client().intakeToken(e.ctx, "alice")
	e.must(err)
	if _, err := e.verifier().Verify(e.ctx, intake, ""); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("intake token as access token: %v", err)
	}
	// With the discovery-fallback issuer check: a verifier pointed at the
	// wrong jitdesk issuer, when the server publishes its issuer, fails
	// with ErrKeySet naming both; without discovery it fails at iss.
	_, err = e.verifier(func(c *VerifierConfig) { c.Issuer = "https://other" }).Verify(e.ctx, tok.AccessToken, "")
	if !errors.Is(err, ErrKeySet) && !errors.Is(err, tokens.ErrInvalidToken) {
		t.Fatalf("wrong issuer via URL: %v", err)
	}
	if err != nil && !strings.Contains(err.Error(), "VerifierConfig.Issuer") {
		t.Fatalf("wrong issuer via URL: %v does not say what to fix", err)
	}
}

func TestVerifierExpiryAndRevocation(t *testing.T) {
	e := newEnv(t)
	tok := e.approvedToken()
	offline := e.verifier()
	online := e.verifier(func(c *VerifierConfig) { c.Introspect = e.client() })
	if _, err := online.Verify(e.ctx, tok.AccessToken, "k8s"); err != nil {
		t.Fatal(err)
	}
	e.must(e.client().Revoke(e.ctx, tok.AccessToken))
	if _, err := online.Verify(e.ctx, tok.AccessToken, "k8s"); !errors.Is(err, tokens.ErrRevoked) || !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("revoked, with introspection: %v, want tokens.ErrRevoked", err)
	}
	// Offline verification cannot know; that is what Introspect is for.
	if _, err := offline.Verify(e.ctx, tok.AccessToken, "k8s"); err != nil {
		t.Fatalf("revoked, offline: %v", err)
	}
	e.clock.Advance(31 * time.Minute)
	if _, err := offline.Verify(e.ctx, tok.AccessToken, "k8s"); !errors.Is(err, tokens.ErrExpired) || !strings.Contains(err.Error(), "again") {
		t.Fatalf("expired: %v, want tokens.ErrExpired", err)
	}
}

func TestVerifierRefetchesKeysAfterRotation(t *testing.T) {
	e := newEnv(t)
	v := e.verifier()
	if _, err := v.Verify(e.ctx, e.approvedToken().AccessToken, ""); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	e.mu.Lock()
	e.front = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/.well-known/jwks.json" {
			fetches.Add(1)
		}
		return false
	}
	e.mu.Unlock()
	if _, err := e.svc.RotateKey(e.ctx, "test", "ES256"); err != nil {
		t.Fatal(err)
	}
	// The operator signs with the new key at once (keys activate), before
	// this verifier's cached key set could have seen it.
	if _, err := e.svc.ActivateKey(e.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past MinRefresh, within CacheTTL
	if _, err := v.Verify(e.ctx, e.approvedToken().AccessToken, ""); err != nil {
		t.Fatalf("token from the rotated key: %v", err)
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d JWKS fetches, want 1 (the unknown kid's refetch)", fetches.Load())
	}
	// Cached now: no further fetch.
	if _, err := v.Verify(e.ctx, e.approvedToken().AccessToken, ""); err != nil || fetches.Load() != 1 {
		t.Fatalf("%v, %d fetches", err, fetches.Load())
	}
}

func TestVerifierFollowsTheDiscoveryDocument(t *testing.T) {
	e := newEnv(t)
	var viaDiscovery atomic.Int32
	e.mu.Lock()
	e.front = func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"issuer": e.issuer, "jwks_uri": e.issuer + "/keys-elsewhere"})
			return true
		case "/keys-elsewhere":
			viaDiscovery.Add(1)
			r.URL.Path = "/.well-known/jwks.json"
		case "/.well-known/jwks.json":
			http.Error(w, "not here", http.StatusGone)
			return true
		}
		return false
	}
	e.mu.Unlock()
	if _, err := e.verifier().Verify(e.ctx, e.approvedToken().AccessToken, "k8s"); err != nil || viaDiscovery.Load() != 1 {
		t.Fatalf("%v (fetched via discovery %d times)", err, viaDiscovery.Load())
	}
	_, err := e.verifier(func(c *VerifierConfig) { c.Issuer = "https://other" }).Verify(e.ctx, e.approvedToken().AccessToken, "")
	if !errors.Is(err, ErrKeySet) || !strings.Contains(err.Error(), e.issuer) {
		t.Fatalf("discovery with another issuer: %v, want ErrKeySet naming %s", err, e.issuer)
	}
}

func TestMiddleware(t *testing.T) {
	e := newEnv(t)
	v := e.verifier()
	protected := v.Middleware(MiddlewareConfig{Scope: "k8s"})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFromContext(r.Context())
		if !ok {
			t.Error("no claims in context")
		}
		io.WriteString(w, "hello "+c.Subject+" via "+c.JIT.RequestID)
	}))
	submitting := v.Middleware(MiddlewareConfig{Scope: "k8s", Client: e.client(),
		User: func(r *http.Request) string { return r.Header.Get("X-User") }})(protected)
	srv := httptest.NewServer(http.NewServeMux())
	mux := http.NewServeMux()
	mux.Handle("/plain", protected)
	mux.Handle("/submit", submitting)
	srv.Config.Handler = mux
	defer srv.Close()

	get := func(path, bearer, user string) (int, map[string]any, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if user != "" {
			req.Header.Set("X-User", user)
		}
		res, err := http.DefaultClient.Do(req)
		e.must(err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		if res.Header.Get("Content-Type") == "application/problem+json" {
			e.must(json.Unmarshal(b, &m))
		}
		return res.StatusCode, m, string(b)
	}
	tok := e.approvedToken()
	if code, _, body := get("/plain", tok.AccessToken, ""); code != 200 || body != "hello alice via "+tok.RequestID {
		t.Fatalf("valid token: %d %s", code, body)
	}
	code, p, _ := get("/plain", "", "")
	if code != 403 || p["template"] != "k8s" || !strings.Contains(p["detail"].(string), "template k8s") || p["jit_request_id"] != nil {
		t.Fatalf("no token: %d %v", code, p)
	}
	code, p, _ = get("/plain", "not-a-token", "")
	if code != 403 || !strings.Contains(p["detail"].(string), "invalid token") {
		t.Fatalf("bad token: %d %v", code, p)
	}
	code, p, _ = get("/submit", "", "carol")
	id, _ := p["jit_request_id"].(string)
	if code != 403 || id == "" || p["jit_request_status"] != "pending" {
		t.Fatalf("submitting middleware: %d %v", code, p)
	}
	d, err := e.svc.Get(e.ctx, id)
	e.must(err)
	if d.Request.Requester != "carol" || d.Request.TemplateKey != "k8s" {
		t.Fatalf("submitted %+v", d.Request)
	}
	if _, p2, _ := get("/submit", "", "carol"); p2["jit_request_id"] != id {
		t.Fatalf("a retry submitted another request: %v, want %s again", p2["jit_request_id"], id)
	}
	e.approve(id)
	tok2, err := e.client().Token(e.ctx, id)
	e.must(err)
	if code, _, body := get("/submit", tok2.AccessToken, "carol"); code != 200 || !strings.HasPrefix(body, "hello carol") {
		t.Fatalf("after approval: %d %s", code, body)
	}
}
