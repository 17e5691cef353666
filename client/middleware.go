package client

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/jitdesk/jitdesk/tokens"
)

// MiddlewareConfig configures Verifier.Middleware.
type MiddlewareConfig struct {
	// Scope is the scope the access token must hold (jitdesk's grant scope
	// is the template key). Required.
	Scope string
	// Template is the template a caller should request; default Scope.
	Template string
	// Client and User, when both set, make the middleware submit the JIT
	// request itself for a caller without a valid token (User names who
	// asks, from the request's own authentication; "" skips the
	// submission) and return its id in the 403.
	Client *Client
	User   func(r *http.Request) string
	// Reason gives the submitted request's reason; default "access to
	// METHOD PATH".
	Reason func(r *http.Request) string
	// Logger records refusals and failed submissions (never tokens); none when nil.
	Logger *slog.Logger
}

type claimsKey struct{}

// ClaimsFromContext returns the verified claims Middleware stored for the
// request it let through.
func ClaimsFromContext(ctx context.Context) (tokens.AccessClaims, bool) {
	c, ok := ctx.Value(claimsKey{}).(tokens.AccessClaims)
	return c, ok
}

// Middleware lets through only requests bearing a valid jitdesk access
// token (Authorization: Bearer) with cfg.Scope, storing its claims for
// ClaimsFromContext. Any other request gets 403 application/problem+json
// saying why and how to obtain access: the template to request, and, when
// cfg.Client and cfg.User are set, the id of the JIT request it submitted
// (jit_request_id). A key set that cannot be fetched is 503.
func (v *Verifier) Middleware(cfg MiddlewareConfig) func(http.Handler) http.Handler {
	template := cfg.Template
	if template == "" {
		template = cfg.Scope
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pending := &pendingRequests{byUser: map[string]string{}}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := bearerToken(r)
			var err error
			if !ok {
				err = errors.New("no access token: send Authorization: Bearer <jitdesk access token>")
			} else {
				var claims tokens.AccessClaims
				claims, err = v.Verify(r.Context(), tok, cfg.Scope)
				if err == nil {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
					return
				}
			}
			if errors.Is(err, ErrKeySet) {
				log.Error("jitdesk middleware: key set unavailable", "err", err)
				writeProblem(w, http.StatusServiceUnavailable, map[string]any{
					"title":  "Access check unavailable",
					"detail": "the service cannot fetch jitdesk's keys to check access tokens; retry shortly",
				})
				return
			}
			body := map[string]any{
				"type":     "urn:jitdesk:problem:jit-access-required",
				"title":    "JIT access required",
				"scope":    cfg.Scope,
				"template": template,
				"detail": "this endpoint needs a jitdesk access token with scope " + cfg.Scope +
					": ask jitdesk for access with template " + template + ", then send the token as Authorization: Bearer. Refused: " + err.Error(),
			}
			if cfg.Client != nil && cfg.User != nil {
				if user := cfg.User(r); user != "" {
					reason := "access to " + r.Method + " " + r.URL.Path
					if cfg.Reason != nil {
						reason = cfg.Reason(r)
					}
					req, serr := pending.submit(r.Context(), cfg.Client, NewRequest{Template: template, User: user, Reason: reason})
					if serr != nil {
						log.Error("jitdesk middleware: submit JIT request", "err", serr)
					} else {
						body["jit_request_id"] = req.ID
						body["jit_request_status"] = req.Status
						body["detail"] = "this endpoint needs a jitdesk access token with scope " + cfg.Scope +
							": JIT request " + req.ID + " was submitted for " + user + "; once approved, send its token as Authorization: Bearer. Refused: " + err.Error()
					}
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+strings.ReplaceAll(cfg.Scope, `"`, "")+`"`)
			writeProblem(w, http.StatusForbidden, body)
		})
	}
}

// pendingRequests remembers the JIT request the middleware submitted for
// each user, so a caller retrying while approvers decide gets the same
// request back instead of flooding the queue with copies.
type pendingRequests struct {
	mu     sync.Mutex
	byUser map[string]string
}

func (p *pendingRequests) submit(ctx context.Context, c *Client, in NewRequest) (Request, error) {
	p.mu.Lock()
	id, ok := p.byUser[in.User]
	p.mu.Unlock()
	if ok {
		if r, err := c.Get(ctx, id); err == nil && r.Status == StatusPending {
			return r, nil
		}
	}
	r, err := c.Request(ctx, in)
	if err != nil {
		return Request{}, err
	}
	p.mu.Lock()
	if r.Status == StatusPending {
		p.byUser[in.User] = r.ID
	} else {
		delete(p.byUser, in.User)
	}
	p.mu.Unlock()
	return r, nil
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func writeProblem(w http.ResponseWriter, status int, body map[string]any) {
	if _, ok := body["type"]; !ok {
		body["type"] = "about:blank"
	}
	body["status"] = status
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
