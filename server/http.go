// Package server holds jitdesk's ways in from the network: the HTTP API that
// applications call (intake, status with long-poll, token pick-up, cancel,
// JWKS, introspection, revocation, authorization-server metadata, health
// and readiness) and the SSH console approvers reach with any OpenSSH
// client. It only translates between the wire and approvals.Service; who may
// do what is decided there.
//
// Files: http.go is the HTTP API (NewAPI; routes, error mapping to RFC 9457
// problems, access log with request ids and without credentials, metrics
// by route pattern, DiagHandler for a separate diagnostics listener,
// Shutdown), http_auth.go how applications authenticate (intake bearer
// tokens, RFC 6749 client credentials) and per-application limits,
// limits.go the per-application token buckets and long-poll counts,
// longpoll.go the shared long-poll hub behind GET /v1/requests/{id}?wait=,
// clientaddr.go the client address behind trusted reverse proxies,
// security.go the security events (failed authentications, rate-limited
// per address, and SecurityLog for committed audit events) and their
// stable field names, tls.go CertReloader (HTTPS certificates reloaded
// without dropping connections), openapi.yaml the API's OpenAPI 3 document
// (checked by http_openapi_test.go). ssh.go is the SSH console
// (NewSSHServer; identity by registered key or by SSH user certificate,
// PTY-only sessions with bounded sizes, limits, idle and maximum length,
// the forwarded agent offered to the console for key signatures, graceful
// shutdown), ssh_cert.go the typed reasons of refused certificates,
// ssh_access.go the re-check that ends sessions whose key, certificate or
// approver lost access, and ssh_channel.go the session channel filter that
// refuses X11 forwarding and bounds what a session may ask.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/metrics"
)

// Limits on what a client may send.
const (
	MaxBodyBytes      = 64 << 10
	MaxAuthHeader     = 8 << 10
	DefaultMaxWait    = 60 * time.Second
	DefaultMaxWaiters = 10000
	maxFormTokenBytes = 16 << 10
	// maxRequestIDLen bounds a client's X-Request-Id; longer or odd ones
	// are replaced (they reach the log and the response).
	maxRequestIDLen = 64
	// jwksMaxAge is how long verifiers may cache the key set. A rotated-out
	// key stays published far longer than this, so a cached set never
	// misses a key that signed a live token.
	jwksMaxAge = 300
)

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Service *approvals.Service
	Logger  *slog.Logger
	// MaxWait caps ?wait= on status long-polls (default 60s).
	MaxWait time.Duration
	// MaxWaiters caps concurrent long-polls (default 10000); beyond it a
	// long-poll is answered 503 with Retry-After. Each application may park
	// at most its AppLimits.MaxLongPolls of them (default a tenth of this).
	MaxWaiters int
	// BaseURL is where applications reach this API, used for the endpoint
	// URLs of the authorization-server metadata. Default: the issuer, when
	// it is an http(s) URL (the metadata answers 404 otherwise).
	BaseURL string
	// Ready runs checks of its own for GET /readyz beside the built-in ones
	// (database readable, a signing key published), e.g. that the database
	// is writable and its schema current. nil: none.
	Ready func(context.Context) error
	// Metrics records every request (by route pattern and status) and the
	// long-poll waiters, and is served at GET /metrics. nil: no metrics.
	Metrics *metrics.Metrics
	// MetricsOnlyOnDiag keeps /metrics off this handler: the operator
	// serves DiagHandler on a separate listener (--diag-addr) instead.
	MetricsOnlyOnDiag bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: when the TCP peer is inside one of these prefixes, the
	// client is the rightmost forwarded address that is not itself a
	// trusted proxy. It is the address of the access log, the security
	// log and the auth-failure log limit. Empty: X-Forwarded-For is
	// ignored and the client is the TCP peer.
	TrustedProxies []netip.Prefix
}

// API is the HTTP API. It is an http.Handler; Drain ends its parked
// long-polls before a shutdown.
type API struct {
	svc        *approvals.Service
	log        *slog.Logger
	maxWait    time.Duration
	maxWaiters int
	baseURL    string
	ready      func(context.Context) error
	hub        *waitHub
	limits     *appLimiters
	handler    http.Handler
	metrics    *metrics.Metrics
	trusted    []netip.Prefix
	authLog    *authLogLimiter

	drainOnce sync.Once
	drained   chan struct{}
}

// NewAPI returns the HTTP API.
func NewAPI(cfg HTTPConfig) *API {
	a := &API{svc: cfg.Service, log: cfg.Logger, maxWait: cfg.MaxWait, maxWaiters: cfg.MaxWaiters,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"), ready: cfg.Ready, drained: make(chan struct{}),
		metrics: cfg.Metrics, trusted: slices.Clone(cfg.TrustedProxies), authLog: newAuthLogLimiter(nil)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxWait <= 0 {
		a.maxWait = DefaultMaxWait
	}
	if a.maxWaiters <= 0 {
		a.maxWaiters = DefaultMaxWaiters
	}
	if a.baseURL == "" {
		if u, err := url.Parse(a.svc.Issuer()); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			a.baseURL = strings.TrimRight(a.svc.Issuer(), "/")
		}
	}
	a.hub = newWaitHub(cfg.Service, a.maxWaiters)
	// The service clock, so tests drive refills with the injected clock.
	a.limits = newAppLimiters(a.svc.Now)
	a.metrics.SetLongPollWaiters(a.hub.waiting)
	mux := http.NewServeMux()
	if a.metrics != nil && !cfg.MetricsOnlyOnDiag {
		mux.Handle("GET /metrics", a.metrics.Handler())
	}
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", a.metadata)
	mux.HandleFunc("POST /v1/requests", a.withBearer(a.create))
	mux.HandleFunc("GET /v1/requests/{id}", a.authed(a.status))
	mux.HandleFunc("GET /v1/requests/{id}/token", a.authed(a.token))
	mux.HandleFunc("POST /v1/requests/{id}/cancel", a.authed(a.cancel))
	mux.HandleFunc("POST /v1/introspect", a.client(a.introspect))
	mux.HandleFunc("POST /v1/revoke", a.client(a.revoke))
	a.handler = a.logged(problemFallback(mux))
	return a
}

// NewHTTPHandler returns the HTTP API as a plain handler (see NewAPI).
func NewHTTPHandler(cfg HTTPConfig) http.Handler { return NewAPI(cfg) }

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// DiagHandler serves the diagnostics endpoints alone, for a listener of
// their own (--diag-addr) that only monitoring reaches: GET /metrics (404
// without HTTPConfig.Metrics), /healthz and /readyz. Its requests are not
// counted in the metrics or written to the access log: scrapes every few
// seconds would only add noise.
func (a *API) DiagHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /readyz", a.readyz)
	if a.metrics != nil {
		mux.Handle("GET /metrics", a.metrics.Handler())
	}
	return problemFallback(mux)
}

// Shutdown drains the API (Drain) and shuts srv down: parked long-polls
// are answered with their request's current state at once, so
// srv.Shutdown returns nil as soon as in-flight requests finish, well
// before MaxWait. It returns what srv.Shutdown returns.
func (a *API) Shutdown(ctx context.Context, srv *http.Server) error {
	a.Drain()
	return srv.Shutdown(ctx)
}

// Drain answers every parked long-poll at once with the request's current
// state, and answers long-polls that arrive later without waiting. Call it
// before http.Server.Shutdown: Shutdown waits for in-flight requests, and a
// long-poll parked for up to MaxWait would otherwise hold it that long.
// Calling it again does nothing.
func (a *API) Drain() {
	a.drainOnce.Do(func() { close(a.drained) })
}

func (a *API) draining() bool {
	select {
	case <-a.drained:
		return true
	default:
		return false
	}
}

// problemFallback answers what the mux itself would answer (404 for an
// unknown path, 405 with Allow for a known path and the wrong method) as
// problem documents too, so every error of the API has the same shape.
func problemFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		cw := &captureWriter{header: http.Header{}}
		mux.ServeHTTP(cw, r)
		switch cw.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", cw.header.Get("Allow"))
			problem(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, cw.header.Get("Allow")))
		default:
			problem(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see server/openapi.yaml)")
		}
	})
}

// captureWriter records the status and headers of the mux's own error
// answers and drops their plain-text bodies.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logNote carries what handlers learn (the calling application, why a
// request failed) to the access-log line, and the client address the
// handlers use.
type logNote struct {
	app    string
	reason string
	remote string // the client address (see HTTPConfig.TrustedProxies)
	id     string // the request id
	// authMethod is set once a handler starts authenticating the caller
	// (metrics.MethodIntake or MethodClient), so that fail can count a
	// refusal as an authentication failure.
	authMethod string
}

type logNoteKey struct{}

func note(r *http.Request) *logNote {
	if n, ok := r.Context().Value(logNoteKey{}).(*logNote); ok {
		return n
	}
	return &logNote{}
}

// requestID returns the client's X-Request-Id when it is a plausible id
// (so a request can be followed from the caller's log into ours), else a
// fresh random one. A hostile value is never echoed or logged.
func requestID(r *http.Request) string {
	if v := r.Header.Values("X-Request-Id"); len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// logged writes one access-log line per request and records it in the
// metrics. It logs the method, path, route, request id and outcome, never
// headers, query strings or bodies: tokens travel there. The metrics see
// only the route pattern: paths are the client's to choose.
func (a *API) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set("X-Request-Id", id)
		n := &logNote{id: id, remote: r.RemoteAddr}
		if c := clientAddr(r, a.trusted); c.IsValid() {
			n.remote = c.String()
		}
		r = r.WithContext(context.WithValue(r.Context(), logNoteKey{}, n))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		// The ServeMux sets the pattern on the request it was given
		// (problemFallback passes r on unchanged); "" when nothing matched.
		pattern := r.Pattern
		if pattern == "" {
			pattern = "unmatched"
		}
		a.metrics.HTTPRequest(pattern, sw.status, took)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "route", pattern, "status", sw.status,
			"ms", took.Milliseconds(), "remote", n.remote, "request_id", id}
		if len(a.trusted) > 0 && n.remote != r.RemoteAddr {
			attrs = append(attrs, "peer", r.RemoteAddr)
		}
		if n.app != "" {
			attrs = append(attrs, "app", n.app)
		}
		if n.reason != "" {
			attrs = append(attrs, "reason", n.reason)
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		a.log.Log(r.Context(), level, "http", attrs...)
	})
}

// createBody is the JSON body of POST /v1/requests.
type createBody struct {
	Template string            `json:"template"`
	Reason   string            `json:"reason"`
	TTL      string            `json:"ttl"`
	Metadata map[string]string `json:"metadata"`
}

// create submits a request. The token is verified first without burning it
// (IntakeCaller), so the calling application's rate applies before the
// request joins the group-committed writer, where SubmitIntake verifies it
// again and burns it. Only transport limits (size, media type) are answered
// before authentication; a malformed body from an unauthenticated caller
// gets 401, not a hint about the body.
func (a *API) create(w http.ResponseWriter, r *http.Request, tok string) {
	var body createBody
	status, msg := decodeJSON(w, r, &body)
	if status == http.StatusRequestEntityTooLarge || status == http.StatusUnsupportedMediaType {
		problem(w, status, msg)
		return
	}
	c, ok := a.intakeCall(w, r, tok)
	if !ok {
		return
	}
	in := approvals.NewRequest{TemplateKey: body.Template, Reason: body.Reason, Metadata: body.Metadata}
	if status == 0 {
		switch {
		case body.Template == "":
			status, msg = http.StatusBadRequest, `"template" is required: the template key`
		case body.TTL != "":
			d, err := approvals.ParseDuration(body.TTL)
			if err != nil {
				status, msg = http.StatusBadRequest, `"ttl": `+err.Error()
			}
			in.TTL = d
		}
	}
	if status != 0 {
		// Burn the token (a replay is 401) before saying what was wrong
		// with the body.
		if err := a.svc.BurnIntake(r.Context(), c.proof); err != nil {
			a.fail(w, r, err)
			return
		}
		problem(w, status, msg)
		return
	}
	// Verified in this goroutine already (intakeCall): the writer only
	// burns the jti and stores the request.
	req, err := a.svc.SubmitIntakeProof(r.Context(), c.proof, in)
	note(r).app = c.AppID
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	writeJSON(w, http.StatusCreated, requestJSON(approvals.Detail{Request: req}, a.svc.Now()))
}

// decodeJSON reads a bounded JSON body strictly: unknown fields, trailing
// data and oversized bodies are refused. It returns 0 or the status and
// detail of a problem naming what was wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (int, string) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return http.StatusUnsupportedMediaType, "send the body as application/json"
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes)
		}
		return http.StatusBadRequest, "body is not the expected JSON object: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes)
		}
		return http.StatusBadRequest, "body has data after the JSON object"
	}
	return 0, ""
}

// parseWait reads ?wait= in the API's one duration format (that of "ttl":
// 30s, 1m30s, 2m; 0 for no wait).
func parseWait(v string) (time.Duration, error) {
	if v == "" || v == "0" || v == "0s" {
		return 0, nil
	}
	return approvals.ParseDuration(v)
}

// status answers GET /v1/requests/{id}; with ?wait=D it holds the answer
// until the request's status or approval count changes, or D (capped at
// MaxWait) passes, or the server drains. Waiting is served by the shared
// waitHub; each application may park at most its MaxLongPolls.
func (a *API) status(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		problem(w, http.StatusBadRequest, fmt.Sprintf("wait=%q: use a duration like 30s", r.URL.Query().Get("wait")))
		return
	}
	wait = min(wait, a.maxWait)
	gen := a.hub.generation()
	d, err := a.svc.GetForApp(r.Context(), c.AppID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if wait > 0 && d.Request.Status == approvals.StatusPending && !a.draining() {
		if !a.limits.acquirePoll(c.AppID, c.limits) {
			w.Header().Set("Retry-After", "1")
			note(r).reason = "long-poll limit"
			problem(w, http.StatusTooManyRequests, fmt.Sprintf("this application already has %d long-polls waiting, its limit; wait for one to return or poll without ?wait", c.limits.MaxLongPolls))
			return
		}
		defer a.limits.releasePoll(c.AppID)
		wt, err := a.hub.add(id, d.Request, gen)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusServiceUnavailable, err.Error()+"; retry shortly")
			return
		}
		defer a.hub.remove(id, wt)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-timer.C:
		case nd := <-wt.done:
			d = nd
		case <-a.drained:
			// Answer with the state as it is now, so the client need not
			// ask again after the restart to learn of a change it missed.
			if nd, err := a.svc.GetForApp(context.WithoutCancel(r.Context()), c.AppID, id); err == nil {
				d = nd
			}
		}
	}
	writeJSON(w, http.StatusOK, requestJSON(d, a.svc.Now()))
}

func (a *API) token(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	g, err := a.svc.Token(r.Context(), id, c.AppID)
	w.Header().Set("Cache-Control", "no-store")
	var se *approvals.StatusError
	gone := errors.Is(err, approvals.ErrRevoked) || (errors.As(err, &se) && se.Status != approvals.StatusPending)
	now := a.svc.Now()
	if err == nil && !g.ExpiresAt.After(now) {
		gone, err = true, fmt.Errorf("request %s: its grant expired at %s", g.RequestID, timestamp(g.ExpiresAt))
	}
	if gone {
		a.gone(w, r, c, id, err)
		return
	}
	if err == nil && g.Token == "" {
		err = fmt.Errorf("request %s: the service returned a grant without its token", id) // a 500, never an empty success
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": g.Token,
		"token_type":   "Bearer",
		"expires_in":   int64(g.ExpiresAt.Sub(now).Seconds()),
		"expires_at":   timestamp(g.ExpiresAt),
		"scope":        g.Scope,
	})
}

// gone answers 410 for a request that will never have a (live) token,
// telling the requester how it ended: the decision, and the revocation
// when the grant was revoked.
func (a *API) gone(w http.ResponseWriter, r *http.Request, c call, id string, cause error) {
	note(r).reason = cause.Error()
	ext := map[string]any{}
	if d, err := a.svc.GetForApp(r.Context(), c.AppID, id); err == nil {
		if rec := d.Decision(); rec != nil {
			ext["decision"] = decisionJSON(rec)
		}
		if g := d.Grant; g != nil && g.Revoked() {
			ext["revocation"] = map[string]any{"by": g.RevokedBy, "at": timestamp(g.RevokedAt), "reason": g.RevokeReason}
		}
	}
	problemWith(w, http.StatusGone, cause.Error(), ext)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request, c call) {
	req, err := a.svc.Cancel(r.Context(), approvals.CancelInput{ID: r.PathValue("id"), AppID: c.AppID})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, requestJSON(approvals.Detail{Request: req}, a.svc.Now()))
}

// formToken reads the token= field of an RFC 7662/7009 form body.
func formToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormTokenBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("form body is larger than %d bytes", maxFormTokenBytes))
			return "", false
		}
		problem(w, http.StatusBadRequest, "send an application/x-www-form-urlencoded body with token=")
		return "", false
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		problem(w, http.StatusBadRequest, "token= is required")
		return "", false
	}
	return tok, true
}

// introspect answers RFC 7662. An application sees only its own tokens: an
// inactive, unknown or foreign token is {"active": false} and nothing more.
func (a *API) introspect(w http.ResponseWriter, r *http.Request, c call) {
	tok, ok := formToken(w, r)
	if !ok {
		return
	}
	v, err := a.svc.VerifyToken(r.Context(), tok, "")
	if err != nil && !errors.Is(err, approvals.ErrUnauthenticated) {
		a.fail(w, r, err)
		return
	}
	if err != nil || v.Grant.AppID != c.AppID {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	cl := v.Claims
	out := map[string]any{
		"active": true, "scope": cl.Scope, "client_id": cl.ClientID, "sub": cl.Subject,
		"aud": []string(cl.Audience), "iss": cl.Issuer, "jti": cl.ID, "token_type": "Bearer", "jit": cl.JIT,
	}
	if cl.ExpiresAt != nil {
		out["exp"] = cl.ExpiresAt.Unix()
	}
	if cl.IssuedAt != nil {
		out["iat"] = cl.IssuedAt.Unix()
	}
	if cl.NotBefore != nil {
		out["nbf"] = cl.NotBefore.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// revoke answers RFC 7009: the application's own valid token is revoked;
// anything else (unknown, foreign, already invalid) is 200 with nothing done.
func (a *API) revoke(w http.ResponseWriter, r *http.Request, c call) {
	tok, ok := formToken(w, r)
	if !ok {
		return
	}
	if v, err := a.svc.VerifyToken(r.Context(), tok, ""); err == nil && v.Grant.AppID == c.AppID {
		if _, err := a.svc.Revoke(r.Context(), approvals.RevokeInput{ID: v.Grant.ID, AppID: c.AppID, Reason: "revoked by the application (RFC 7009)"}); err != nil && !errors.Is(err, approvals.ErrRevoked) {
			a.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// jwks serves the key set with an ETag (a hash of the exact body), so
// verifiers that poll it revalidate with If-None-Match and get 304.
func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	j, err := a.svc.JWKS(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := json.Marshal(j)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2: weak comparison,
// a list of tags, or *).
func etagMatches(headers []string, etag string) bool {
	for _, h := range headers {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// metadata serves RFC 8414 authorization-server metadata: where the keys,
// introspection and revocation are, how clients authenticate to them, and
// which algorithms sign access tokens (those of the published keys).
func (a *API) metadata(w http.ResponseWriter, r *http.Request) {
	if a.baseURL == "" {
		problem(w, http.StatusNotFound, "no authorization-server metadata: the issuer is not an http(s) URL; start serve with --issuer https://… (the URL applications reach it at)")
		return
	}
	j, err := a.svc.JWKS(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	algs := []string{}
	for _, k := range j.Keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	slices.Sort(algs)
	// Intake bearer tokens are accepted too, but have no registered
	// method name; standard clients use client_secret_basic.
	methods := []string{"client_secret_basic"}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                a.svc.Issuer(),
		"jwks_uri":                              a.baseURL + "/.well-known/jwks.json",
		"introspection_endpoint":                a.baseURL + "/v1/introspect",
		"revocation_endpoint":                   a.baseURL + "/v1/revoke",
		"token_endpoint_auth_methods_supported": methods,
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint_auth_methods_supported":    methods,
		// No authorization endpoint: tokens are issued by approval, not
		// by an OAuth flow.
		"response_types_supported":                  []string{},
		"grant_types_supported":                     []string{},
		"access_token_signing_alg_values_supported": algs,
	})
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := a.svc.Keys(ctx); err != nil {
		a.log.Error("health", "err", err)
		problem(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this process can serve applications now: the
// database answers, a signing key is published (else no approval could
// issue a token), and the wiring's own checks pass. A failing check is
// named; the error itself goes to the log.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "signing_key": "ok"}
	failed := []string{}
	fails := func(name, detail string, err error) {
		checks[name] = detail
		failed = append(failed, name)
		if err != nil {
			a.log.Error("readyz", "check", name, "err", err)
		}
	}
	if j, err := a.svc.JWKS(ctx); err != nil {
		fails("database", "unreadable", err)
		checks["signing_key"] = "unknown"
	} else if len(j.Keys) == 0 {
		fails("signing_key", "none published (run jitdesk init or keys rotate)", nil)
	}
	if a.ready != nil {
		checks["store"] = "ok"
		if err := a.ready(ctx); err != nil {
			fails("store", "not ready", err)
		}
	}
	if a.draining() {
		fails("server", "shutting down", nil)
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		problemWith(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(failed, ", "), map[string]any{"checks": checks})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

// timestamp is the API's one rendering of an instant: RFC 3339 in UTC to
// the second.
func timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// requestJSON is a request as applications see it, with how it ended once
// it has.
func requestJSON(d approvals.Detail, now time.Time) map[string]any {
	r := d.Request
	md := r.Metadata
	if md == nil {
		md = map[string]string{}
	}
	m := map[string]any{
		"id": r.ID, "status": r.Status, "template": r.TemplateKey, "requester": r.Requester,
		"reason": r.Reason, "metadata": md,
		"ttl": approvals.FormatDuration(r.TTL), "ttl_seconds": int64(r.TTL.Seconds()), "approvals": r.Approvals,
		"created_at": timestamp(r.CreatedAt), "expires_at": timestamp(r.ExpiresAt),
	}
	if !r.DecidedAt.IsZero() {
		m["decided_at"] = timestamp(r.DecidedAt)
		m["decided_by"] = r.DecidedBy
	}
	if rec := d.Decision(); rec != nil {
		m["decision"] = decisionJSON(rec)
	}
	if g := d.Grant; g != nil {
		m["grant"] = grantStateJSON(*g, now)
	}
	return m
}

// grantStateJSON is what an application sees of its grant: its state now,
// never its token.
func grantStateJSON(g approvals.Grant, now time.Time) map[string]any {
	out := map[string]any{"id": g.ID, "state": g.StateAt(now), "expires_at": timestamp(g.ExpiresAt), "break_glass": g.BreakGlass}
	if g.BreakGlass {
		out["acknowledged"] = g.Acknowledged()
	}
	if g.Revoked() {
		out["revoked_at"], out["revoked_by"], out["revoke_reason"] = timestamp(g.RevokedAt), g.RevokedBy, g.RevokeReason
	}
	return out
}

func decisionJSON(rec *approvals.DecisionRecord) map[string]any {
	out := map[string]any{"outcome": rec.Outcome, "by": rec.By, "at": timestamp(rec.At)}
	if rec.Comment != "" {
		out["comment"] = rec.Comment
	}
	return out
}

// fail maps a domain error to its status and a problem body that says what
// was wrong. Unexpected errors are logged and answered without detail.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *approvals.StatusError
	status := http.StatusInternalServerError
	detail := err.Error()
	switch {
	case errors.As(err, &se) && se.Status == approvals.StatusPending:
		status = http.StatusConflict
	case errors.As(err, &se), errors.Is(err, approvals.ErrRevoked):
		status = http.StatusGone
	case errors.Is(err, approvals.ErrDisabled):
		// Checked before ErrUnauthenticated, which a disabled
		// application's refusal also wraps: the credentials were right.
		status = http.StatusForbidden
	case errors.Is(err, approvals.ErrUnauthenticated), errors.Is(err, approvals.ErrReplay):
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="jitdesk", error="invalid_token"`)
		detail = a.unauthenticatedDetail(err)
	case errors.Is(err, approvals.ErrLimit):
		status = http.StatusTooManyRequests
		// Pending requests leave as approvers decide; a minute is a
		// reasonable first wait.
		w.Header().Set("Retry-After", "60")
	case errors.Is(err, approvals.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, approvals.ErrNotPending), errors.Is(err, approvals.ErrExpired), errors.Is(err, approvals.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, approvals.ErrBadIdentity):
		// The token's sub is not an identifier jitdesk accepts: a bad
		// request, whose detail names the character.
		status = http.StatusBadRequest
	case errors.Is(err, approvals.ErrInvalid):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	// Error messages name reasons and ids, never tokens (tokens and approvals
	// take care of that), so they are safe to log and to send.
	n := note(r)
	n.reason = err.Error()
	if n.authMethod != "" && (errors.Is(err, approvals.ErrUnauthenticated) || errors.Is(err, approvals.ErrReplay)) {
		a.authFailed(r, n.authMethod, intakeReason(err))
	}
	if status == http.StatusInternalServerError {
		problem(w, status, "internal error; see the server log")
		return
	}
	problem(w, status, detail)
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	problemWith(w, status, detail, nil)
}

// problemWith writes a problem document with extension members.
func problemWith(w http.ResponseWriter, status int, detail string, ext map[string]any) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := http.StatusText(status)
	if title == "" {
		title = "Status " + strconv.Itoa(status)
	}
	doc := map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail}
	for k, v := range ext {
		doc[k] = v
	}
	_ = json.NewEncoder(w).Encode(doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
