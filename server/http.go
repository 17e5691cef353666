// Package server holds jitdesk's ways in from the network: the HTTP API that
// applications call (intake, status with long-poll, token pick-up, cancel,
// JWKS, introspection, revocation) and the SSH console approvers reach with
// any OpenSSH client. It only translates between the wire and
// approvals.Service; who may do what is decided there.
//
// Files: http.go is the HTTP API (NewHTTPHandler; routes, limits, error
// mapping to RFC 9457 problems, access log without credentials), longpoll.go
// the shared long-poll hub behind GET /v1/requests/{id}?wait=, openapi.yaml
// its OpenAPI 3 document (checked by http_openapi_test.go). ssh.go is the
// SSH console (NewSSHServer; public-key identity, PTY-only sessions, limits,
// idle and maximum length, graceful shutdown) and ssh_channel.go the session
// channel filter that refuses agent and X11 forwarding.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// Limits on what a client may send.
const (
	MaxBodyBytes      = 64 << 10
	MaxAuthHeader     = 8 << 10
	DefaultMaxWait    = 60 * time.Second
	DefaultMaxWaiters = 10000
	maxFormTokenBytes = 16 << 10
)

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Service *approvals.Service
	Logger  *slog.Logger
	// MaxWait caps ?wait= on status long-polls (default 60s).
	MaxWait time.Duration
	// MaxWaiters caps concurrent long-polls (default 10000); beyond it a
	// long-poll is answered 503 with Retry-After.
	MaxWaiters int
}

type api struct {
	svc     *approvals.Service
	log     *slog.Logger
	maxWait time.Duration
	hub     *waitHub
}

// NewHTTPHandler returns the HTTP API.
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	a := &api{svc: cfg.Service, log: cfg.Logger, maxWait: cfg.MaxWait}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxWait <= 0 {
		a.maxWait = DefaultMaxWait
	}
	if cfg.MaxWaiters <= 0 {
		cfg.MaxWaiters = DefaultMaxWaiters
	}
	a.hub = newWaitHub(cfg.Service, cfg.MaxWaiters)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	mux.HandleFunc("POST /v1/requests", a.withBearer(a.create))
	mux.HandleFunc("GET /v1/requests/{id}", a.authed(a.status))
	mux.HandleFunc("GET /v1/requests/{id}/token", a.authed(a.token))
	mux.HandleFunc("POST /v1/requests/{id}/cancel", a.authed(a.cancel))
	mux.HandleFunc("POST /v1/introspect", a.authed(a.introspect))
	mux.HandleFunc("POST /v1/revoke", a.authed(a.revoke))
	return a.logged(problemFallback(mux))
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
// request failed) to the access-log line.
type logNote struct {
	app    string
	reason string
}

type logNoteKey struct{}

func note(r *http.Request) *logNote {
	if n, ok := r.Context().Value(logNoteKey{}).(*logNote); ok {
		return n
	}
	return &logNote{}
}

// logged writes one access-log line per request. It logs the method, path
// and outcome, never headers, query strings or bodies: tokens travel there.
func (a *api) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n := &logNote{}
		r = r.WithContext(context.WithValue(r.Context(), logNoteKey{}, n))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr}
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

// withBearer checks the Authorization header (refusing oversized headers
// before any parsing) and passes the bearer token on.
func (a *api) withBearer(h func(w http.ResponseWriter, r *http.Request, token string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, code, msg := bearer(r)
		if code != 0 {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jitdesk"`)
			}
			note(r).reason = msg
			problem(w, code, msg)
			return
		}
		h(w, r, tok)
	}
}

func bearer(r *http.Request) (string, int, string) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", http.StatusUnauthorized, "missing Authorization: Bearer <intake token>"
	}
	if len(h) > 1 {
		return "", http.StatusBadRequest, "more than one Authorization header"
	}
	if len(h[0]) > MaxAuthHeader {
		return "", http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("Authorization header is %d bytes; at most %d", len(h[0]), MaxAuthHeader)
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", http.StatusUnauthorized, "Authorization must be: Bearer <intake token>"
	}
	return strings.TrimSpace(tok), 0, ""
}

// authed authenticates the calling application with its intake token. Each
// call burns the token's jti, so applications sign a fresh token per call.
func (a *api) authed(h func(w http.ResponseWriter, r *http.Request, caller approvals.Caller)) http.HandlerFunc {
	return a.withBearer(func(w http.ResponseWriter, r *http.Request, tok string) {
		caller, err := a.svc.AuthenticateIntake(r.Context(), tok)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		note(r).app = caller.AppID
		h(w, r, caller)
	})
}

// createBody is the JSON body of POST /v1/requests.
type createBody struct {
	Template string            `json:"template"`
	Reason   string            `json:"reason"`
	TTL      string            `json:"ttl"`
	Metadata map[string]string `json:"metadata"`
}

// create submits a request. Authentication happens inside the
// group-committed transaction that stores it (SubmitIntake). Only transport
// limits (size, media type) are answered before authentication; a malformed
// body from an unauthenticated caller gets 401, not a hint about the body.
func (a *api) create(w http.ResponseWriter, r *http.Request, tok string) {
	var body createBody
	status, msg := decodeJSON(w, r, &body)
	if status == http.StatusRequestEntityTooLarge || status == http.StatusUnsupportedMediaType {
		problem(w, status, msg)
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
		// Burn the token and answer 401 if it is bad; only then say what
		// was wrong with the body.
		if _, err := a.svc.AuthenticateIntake(r.Context(), tok); err != nil {
			a.fail(w, r, err)
			return
		}
		problem(w, status, msg)
		return
	}
	req, caller, err := a.svc.SubmitIntake(r.Context(), tok, in)
	note(r).app = caller.AppID
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	writeJSON(w, http.StatusCreated, requestJSON(req))
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

// status answers GET /v1/requests/{id}; with ?wait=D it holds the answer
// until the request's status or approval count changes, or D (capped at
// MaxWait) passes. Waiting is served by the shared waitHub.
func (a *api) status(w http.ResponseWriter, r *http.Request, caller approvals.Caller) {
	id := r.PathValue("id")
	wait := time.Duration(0)
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			problem(w, http.StatusBadRequest, fmt.Sprintf("wait=%q: use a duration like 30s", v))
			return
		}
		wait = min(d, a.maxWait)
	}
	gen := a.hub.generation()
	d, err := a.svc.GetForApp(r.Context(), caller.AppID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if wait > 0 && d.Request.Status == approvals.StatusPending {
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
		}
	}
	writeJSON(w, http.StatusOK, requestJSON(d.Request))
}

func (a *api) token(w http.ResponseWriter, r *http.Request, caller approvals.Caller) {
	g, err := a.svc.Token(r.Context(), r.PathValue("id"), caller.AppID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	now := a.svc.Now()
	if !g.ExpiresAt.After(now) {
		problem(w, http.StatusGone, fmt.Sprintf("request %s: its grant expired at %s", g.RequestID, g.ExpiresAt.Format(time.RFC3339)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": g.Token,
		"token_type":   "Bearer",
		"expires_in":   int64(g.ExpiresAt.Sub(now).Seconds()),
		"expires_at":   g.ExpiresAt.Format(time.RFC3339),
		"scope":        g.Scope,
	})
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request, caller approvals.Caller) {
	req, err := a.svc.Cancel(r.Context(), approvals.CancelInput{ID: r.PathValue("id"), AppID: caller.AppID})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, requestJSON(req))
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
func (a *api) introspect(w http.ResponseWriter, r *http.Request, caller approvals.Caller) {
	tok, ok := formToken(w, r)
	if !ok {
		return
	}
	v, err := a.svc.VerifyToken(r.Context(), tok, "")
	if err != nil && !errors.Is(err, approvals.ErrUnauthenticated) {
		a.fail(w, r, err)
		return
	}
	if err != nil || v.Grant.AppID != caller.AppID {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	c := v.Claims
	out := map[string]any{
		"active": true, "scope": c.Scope, "client_id": c.ClientID, "sub": c.Subject,
		"aud": []string(c.Audience), "iss": c.Issuer, "jti": c.ID, "token_type": "Bearer", "jit": c.JIT,
	}
	if c.ExpiresAt != nil {
		out["exp"] = c.ExpiresAt.Unix()
	}
	if c.IssuedAt != nil {
		out["iat"] = c.IssuedAt.Unix()
	}
	if c.NotBefore != nil {
		out["nbf"] = c.NotBefore.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// revoke answers RFC 7009: the application's own valid token is revoked;
// anything else (unknown, foreign, already invalid) is 200 with nothing done.
func (a *api) revoke(w http.ResponseWriter, r *http.Request, caller approvals.Caller) {
	tok, ok := formToken(w, r)
	if !ok {
		return
	}
	if v, err := a.svc.VerifyToken(r.Context(), tok, ""); err == nil && v.Grant.AppID == caller.AppID {
		if _, err := a.svc.Revoke(r.Context(), approvals.RevokeInput{ID: v.Grant.ID, AppID: caller.AppID, Reason: "revoked by the application (RFC 7009)"}); err != nil && !errors.Is(err, approvals.ErrRevoked) {
			a.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (a *api) jwks(w http.ResponseWriter, r *http.Request) {
	j, err := a.svc.JWKS(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, j)
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := a.svc.Keys(ctx); err != nil {
		a.log.Error("health", "err", err)
		problem(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// requestJSON is a request as applications see it.
func requestJSON(r approvals.Request) map[string]any {
	md := r.Metadata
	if md == nil {
		md = map[string]string{}
	}
	m := map[string]any{
		"id": r.ID, "status": r.Status, "template": r.TemplateKey, "requester": r.Requester,
		"reason": r.Reason, "metadata": md,
		"ttl": approvals.FormatDuration(r.TTL), "ttl_seconds": int64(r.TTL.Seconds()), "approvals": r.Approvals,
		"created_at": r.CreatedAt.UTC().Format(time.RFC3339), "expires_at": r.ExpiresAt.UTC().Format(time.RFC3339),
	}
	if !r.DecidedAt.IsZero() {
		m["decided_at"] = r.DecidedAt.UTC().Format(time.RFC3339)
		m["decided_by"] = r.DecidedBy
	}
	return m
}

// fail maps a domain error to its status and a problem body that says what
// was wrong. Unexpected errors are logged and answered without detail.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *approvals.StatusError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &se) && se.Status == approvals.StatusPending:
		status = http.StatusConflict
	case errors.As(err, &se), errors.Is(err, approvals.ErrRevoked):
		status = http.StatusGone
	case errors.Is(err, approvals.ErrUnauthenticated), errors.Is(err, approvals.ErrReplay):
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="jitdesk", error="invalid_token"`)
	case errors.Is(err, approvals.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, approvals.ErrNotPending), errors.Is(err, approvals.ErrExpired), errors.Is(err, approvals.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, approvals.ErrInvalid):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	// Error messages name reasons and ids, never tokens (tokens and approvals
	// take care of that), so they are safe to log and to send.
	note(r).reason = err.Error()
	if status == http.StatusInternalServerError {
		problem(w, status, "internal error; see the server log")
		return
	}
	problem(w, status, err.Error())
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := http.StatusText(status)
	if title == "" {
		title = "Status " + strconv.Itoa(status)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
