package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/metrics"
)

// call is an authenticated application call: who is calling and the
// limits that apply to it (defaults filled).
type call struct {
	approvals.Caller
	limits approvals.AppLimits
	// proof is the verified, not yet burned intake token (zero for
	// client-credential calls).
	proof approvals.IntakeProof
}

// withBearer checks the Authorization header (refusing oversized headers
// before any parsing) and passes the bearer token on.
func (a *API) withBearer(h func(w http.ResponseWriter, r *http.Request, token string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		note(r).authMethod = metrics.MethodIntake
		tok, code, msg := bearer(r)
		if code != 0 {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jitdesk"`)
			}
			reason := reasonMalformed
			if len(r.Header.Values("Authorization")) == 0 {
				reason = reasonMissing
			}
			a.authFailed(r, metrics.MethodIntake, reason)
			note(r).reason = msg
			problem(w, code, msg)
			return
		}
		h(w, r, tok)
	}
}

// authorization returns the one Authorization header, or a problem status
// and detail.
func authorization(r *http.Request) (string, int, string) {
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
	return h[0], 0, ""
}

func bearer(r *http.Request) (string, int, string) {
	h, code, msg := authorization(r)
	if code != 0 {
		return "", code, msg
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", http.StatusUnauthorized, "Authorization must be: Bearer <intake token>"
	}
	return strings.TrimSpace(tok), 0, ""
}

// intakeCall verifies an intake token without burning it and applies the
// application's rate. On refusal it has answered and returns false.
func (a *API) intakeCall(w http.ResponseWriter, r *http.Request, tok string) (call, bool) {
	proof, limits, err := a.svc.VerifyIntakeToken(r.Context(), tok)
	if err != nil {
		a.fail(w, r, err)
		return call{}, false
	}
	c := call{Caller: proof.Caller(), limits: limits.Effective(a.maxWaiters), proof: proof}
	note(r).app = c.AppID
	return c, a.allowRate(w, r, c)
}

// allowRate takes one call from the application's token bucket, answering
// 429 with Retry-After when it is empty.
func (a *API) allowRate(w http.ResponseWriter, r *http.Request, c call) bool {
	ok, wait := a.limits.allow(c.AppID, c.limits)
	if ok {
		return true
	}
	w.Header().Set("Retry-After", retryAfter(wait))
	note(r).reason = "rate limit"
	problem(w, http.StatusTooManyRequests, fmt.Sprintf("this application is over its rate of %g calls a second (burst %d); retry after the Retry-After seconds", c.limits.RatePerSecond, c.limits.Burst))
	return false
}

// authed authenticates the calling application with its intake token:
// verified and rate-limited first (IntakeCaller), then burned. Each call
// burns the token's jti, so applications sign a fresh token per call.
func (a *API) authed(h func(w http.ResponseWriter, r *http.Request, c call)) http.HandlerFunc {
	return a.withBearer(func(w http.ResponseWriter, r *http.Request, tok string) {
		c, ok := a.intakeCall(w, r, tok)
		if !ok {
			return
		}
		if err := a.svc.BurnIntake(r.Context(), c.proof); err != nil {
			a.fail(w, r, err)
			return
		}
		note(r).authMethod = "" // authenticated: later errors are not refusals
		h(w, r, c)
	})
}

// client authenticates introspection and revocation callers either with
// an intake bearer token (authed) or with RFC 6749 §2.3.1 client
// credentials in HTTP Basic (application id and secret as printed), which
// is what off-the-shelf OAuth libraries send.
func (a *API) client(h func(w http.ResponseWriter, r *http.Request, c call)) http.HandlerFunc {
	bearerAuth := a.authed(h)
	return func(w http.ResponseWriter, r *http.Request) {
		raw, code, msg := authorization(r)
		scheme, _, _ := strings.Cut(raw, " ")
		if code != 0 || !strings.EqualFold(scheme, "Basic") {
			bearerAuth(w, r)
			return
		}
		note(r).authMethod = metrics.MethodClient
		id, secret, ok := basicCredentials(r)
		if !ok {
			a.authFailed(r, metrics.MethodClient, reasonMalformed)
			msg = "Authorization: Basic must carry base64(application id \":\" secret), each form-urlencoded (RFC 6749 §2.3.1)"
			w.Header().Set("WWW-Authenticate", `Basic realm="jitdesk"`)
			note(r).reason = msg
			problem(w, http.StatusUnauthorized, msg)
			return
		}
		caller, err := a.svc.AuthenticateClient(r.Context(), id, secret)
		if err == nil {
			var app approvals.Application
			if app, err = a.svc.Application(r.Context(), caller.AppID); err == nil {
				c := call{Caller: caller, limits: app.Limits.Effective(a.maxWaiters)}
				note(r).app = c.AppID
				note(r).authMethod = ""
				if a.allowRate(w, r, c) {
					h(w, r, c)
				}
				return
			}
		}
		if errors.Is(err, approvals.ErrUnauthenticated) {
			reason := reasonCredentials
			if errors.Is(err, approvals.ErrDisabled) {
				reason = reasonDisabled
			}
			a.authFailed(r, metrics.MethodClient, reason)
			w.Header().Set("WWW-Authenticate", `Basic realm="jitdesk", error="invalid_client"`)
			note(r).reason = err.Error()
			problem(w, http.StatusUnauthorized, "client authentication failed: use the application id and its secret exactly as `jitdesk app add` printed it")
			return
		}
		// Not a refusal of the credentials (the database failed, say):
		// fail must not count it as one.
		note(r).authMethod = ""
		a.fail(w, r, err)
	}
}

// authFailed counts and logs (rate-limited per client address) one
// refused authentication of r.
func (a *API) authFailed(r *http.Request, method, reason string) {
	a.metrics.AuthFailed(method, reason)
	n := note(r)
	extra := []any{"request_id", n.id}
	if n.app != "" {
		extra = append(extra, "app", n.app)
	}
	logAuthFailure(r.Context(), a.log, a.authLog, method, reason, n.remote, extra...)
}

// basicCredentials decodes HTTP Basic client credentials, each part
// form-urlencoded as RFC 6749 §2.3.1 asks.
func basicCredentials(r *http.Request) (id, secret string, ok bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil || id == "" || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// unauthenticatedDetail is the 401 detail for a refused intake token. A
// signature that does not verify gets one fixed text naming what to check
// (whatever the cause: a wrong secret and an application id that does not
// exist read the same, so the answer does not reveal which applications
// exist); every other reason (expired, wrong aud, alg none, replay, …) is
// told as approvals words it, since none of those depend on the
// application existing, or can be reached without its secret.
func (a *API) unauthenticatedDetail(err error) string {
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return fmt.Sprintf("the intake token's signature does not verify. Check: the HMAC key is the application's secret exactly as jitdesk printed it "+
			"(the whole string, as bytes, not a decoding of it); iss is the application id; aud is %q (this server's issuer); "+
			"iat and exp come from a correct clock (exp at most 5 minutes ahead)", a.svc.Issuer())
	}
	return err.Error()
}
