// Package client is jitdesk's Go integration kit: what an application needs
// to ask jitdesk for just-in-time access on behalf of a user, wait for the
// decision and collect the access token (Client), and what a downstream
// service needs to check such a token (Verifier, and its net/http
// Middleware).
//
// A Client signs a fresh single-use HS256 intake token for every call with
// the application's secret, exactly as `jitdesk app add` printed it. Its
// long-poll (Wait) survives jitdesk restarts and honours Retry-After.
// Verification is jitdesk's own: tokens.VerifyAccess over keys read from the
// published JWKS with tokens.JWK.PublicKey, found through the RFC 8414
// discovery document when the server has one, cached, and refreshed when an
// unknown key id appears.
//
// Errors wrap sentinels (ErrUnauthenticated, ErrDenied, ErrTimeout, …) for
// errors.Is, and typed errors (*APIError, *DecisionError, *TimeoutError,
// *UnavailableError) carry the details; each message says what to fix.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/tokens"
)

// Config configures a Client.
type Config struct {
	// URL is jitdesk's base URL, e.g. https://jitdesk.example.com.
	URL string
	// AppID is the application id `jitdesk app add` printed (app_…).
	AppID string
	// Secret is the application secret exactly as `jitdesk app add` printed
	// it; its UTF-8 bytes are the HS256 key. A credential: never log it.
	Secret string
	// Issuer is jitdesk's issuer (its --issuer), the audience of intake
	// tokens. Empty: the issuer in jitdesk's discovery document, else URL.
	Issuer string
	// HTTPClient sends the calls; http.DefaultClient when nil. Long-polls
	// hold a call open for up to the poll interval, so do not give it a
	// Timeout shorter than that.
	HTTPClient *http.Client
	// Now is the clock intake tokens are dated by; time.Now when nil.
	Now func() time.Time
	// OnRetry, when set, is told of each transient failure (jitdesk down,
	// restarting or overloaded) that Wait retries after delay.
	OnRetry func(err error, delay time.Duration)
}

// Client calls jitdesk's HTTP API as one application. It is safe for
// concurrent use.
type Client struct {
	base    *url.URL
	appID   string
	secret  []byte
	hc      *http.Client
	now     func() time.Time
	onRetry func(error, time.Duration)

	mu        sync.Mutex
	issuer    string // resolved intake audience; "" until known
	discovery *Discovery
}

// New checks cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.AppID == "" {
		return nil, fmt.Errorf("%w: Config.AppID is required: the id `jitdesk app add` printed", ErrConfig)
	}
	if cfg.Secret == "" {
		return nil, fmt.Errorf("%w: Config.Secret is required: the secret `jitdesk app add` printed", ErrConfig)
	}
	if len(cfg.Secret) < tokens.MinSecretLen {
		return nil, fmt.Errorf("%w: Config.Secret is %d characters; the secret `jitdesk app add` prints is longer (at least %d): copy it whole",
			ErrConfig, len(cfg.Secret), tokens.MinSecretLen)
	}
	c := &Client{base: base, appID: cfg.AppID, secret: []byte(cfg.Secret), hc: cfg.HTTPClient, now: cfg.Now,
		onRetry: cfg.OnRetry, issuer: cfg.Issuer}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func parseBase(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: URL is required: jitdesk's base URL, e.g. http://127.0.0.1:8080", ErrConfig)
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q is not an http(s) URL with a host", ErrConfig, raw)
	}
	return u, nil
}

// Discovery is the part of jitdesk's RFC 8414 metadata the kits use.
type Discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
}

// discover fetches base/.well-known/oauth-authorization-server. A server
// without the document (404) yields the conventional JWKS path and no
// issuer; a failure to reach the server is returned so the caller can retry.
func discover(ctx context.Context, hc *http.Client, base *url.URL) (Discovery, error) {
	u := base.JoinPath("/.well-known/oauth-authorization-server").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Discovery{}, fmt.Errorf("%w: discovery: %v", ErrConfig, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return Discovery{}, &UnavailableError{Op: "discovery", URL: base.String(), Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return Discovery{}, &UnavailableError{Op: "discovery", URL: base.String(), Err: err}
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return Discovery{JWKSURI: base.JoinPath("/.well-known/jwks.json").String()}, nil
	case res.StatusCode >= 500:
		return Discovery{}, apiError("discovery", res, body)
	case res.StatusCode != http.StatusOK:
		return Discovery{}, fmt.Errorf("%w: discovery at %s answered %d", ErrConfig, u, res.StatusCode)
	}
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return Discovery{}, fmt.Errorf("%w: discovery at %s is not JSON: %v", ErrConfig, u, err)
	}
	if d.JWKSURI == "" {
		d.JWKSURI = base.JoinPath("/.well-known/jwks.json").String()
	}
	return d, nil
}

// Discovery returns jitdesk's discovery metadata (fetched once and cached;
// a server without the document gives the conventional JWKS URL).
func (c *Client) Discovery(ctx context.Context) (Discovery, error) {
	c.mu.Lock()
	if c.discovery != nil {
		d := *c.discovery
		c.mu.Unlock()
		return d, nil
	}
	c.mu.Unlock()
	d, err := discover(ctx, c.hc, c.base)
	if err != nil {
		return Discovery{}, err
	}
	c.mu.Lock()
	c.discovery = &d
	c.mu.Unlock()
	return d, nil
}

// audience is the intake tokens' aud: Config.Issuer, else the discovered
// issuer, else the base URL.
func (c *Client) audience(ctx context.Context) (string, error) {
	c.mu.Lock()
	iss := c.issuer
	c.mu.Unlock()
	if iss != "" {
		return iss, nil
	}
	d, err := c.Discovery(ctx)
	if err != nil {
		return "", err
	}
	iss = d.Issuer
	if iss == "" {
		iss = c.base.String()
	}
	c.mu.Lock()
	c.issuer = iss
	c.mu.Unlock()
	return iss, nil
}

// intakeToken signs a fresh single-use intake token for user.
func (c *Client) intakeToken(ctx context.Context, user string) (string, error) {
	aud, err := c.audience(ctx)
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("jitdesk client: intake token: %w", err)
	}
	now := c.now()
	tok, err := tokens.SignIntake(c.secret, tokens.IntakeClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: c.appID, Subject: user, Audience: jwt.ClaimStrings{aud},
		ID:       base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return tok, nil
}

// call sends one authenticated call and decodes a 2xx JSON answer into out.
func (c *Client) call(ctx context.Context, op, method, path, user string, query url.Values, body io.Reader, contentType string, out any) error {
	if user == "" {
		// Calls about an existing request name no user; the application
		// itself is the subject.
		user = c.appID
	}
	tok, err := c.intakeToken(ctx, user)
	if err != nil {
		return err
	}
	u := c.base.JoinPath(path)
	if query != nil {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("jitdesk: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jitdesk: %s: %w", op, ctx.Err())
		}
		return &UnavailableError{Op: op, URL: c.base.String(), Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jitdesk: %s: %w", op, ctx.Err())
		}
		return &UnavailableError{Op: op, URL: c.base.String(), Err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return apiError(op, res, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("jitdesk: %s: answer is not the expected JSON: %w", op, err)
	}
	return nil
}

// problemBody is an RFC 9457 problem as jitdesk sends it, with the
// decision a 410 from /token may carry.
type problemBody struct {
	Title      string          `json:"title"`
	Detail     string          `json:"detail"`
	Decision   *wireDecision   `json:"decision"`
	Revocation *wireRevocation `json:"revocation"`
}

type wireRevocation struct {
	By     string `json:"by"`
	At     string `json:"at"`
	Reason string `json:"reason"`
}

func apiError(op string, res *http.Response, body []byte) *APIError {
	var p problemBody
	_ = json.Unmarshal(body, &p)
	title := p.Title
	if title == "" {
		title = http.StatusText(res.StatusCode)
	}
	e := &APIError{Op: op, Status: res.StatusCode, Title: title, Detail: p.Detail,
		RetryAfter: retryAfter(res.Header.Get("Retry-After")), kind: kindForStatus(res.StatusCode),
		decision: p.Decision.decision()}
	if r := p.Revocation; r != nil {
		e.revocation = &Revocation{By: r.By, At: parseTime(r.At), Reason: r.Reason}
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent or unreadable.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// Request submits a JIT request for in.User and returns it as created
// (pending, or already decided if a rule decided it at once).
func (c *Client) Request(ctx context.Context, in NewRequest) (Request, error) {
	if in.Template == "" {
		return Request{}, fmt.Errorf("%w: NewRequest.Template is required: the template key", ErrInvalidRequest)
	}
	if in.User == "" {
		return Request{}, fmt.Errorf("%w: NewRequest.User is required: the user who needs access", ErrInvalidRequest)
	}
	body := map[string]any{"template": in.Template, "reason": in.Reason}
	if in.TTL > 0 {
		body["ttl"] = in.TTL.String() // Go syntax ("30m0s"), which jitdesk parses
	}
	if len(in.Metadata) > 0 {
		body["metadata"] = in.Metadata
	}
	r, err := jsonBody(body)
	if err != nil {
		return Request{}, fmt.Errorf("jitdesk: create request: %w", err)
	}
	var out Request
	err = c.call(ctx, "create request", http.MethodPost, "/v1/requests", in.User, nil, r, "application/json", &out)
	return out, err
}

// Get returns the request now, without waiting.
func (c *Client) Get(ctx context.Context, id string) (Request, error) {
	var out Request
	err := c.call(ctx, "get request "+id, http.MethodGet, "/v1/requests/"+url.PathEscape(id), "", nil, nil, "", &out)
	return out, err
}

// Cancel withdraws a pending request.
func (c *Client) Cancel(ctx context.Context, id string) (Request, error) {
	var out Request
	err := c.call(ctx, "cancel request "+id, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/cancel", "", nil, nil, "", &out)
	return out, err
}

// Token returns the access token of an approved request. A request still
// pending is ErrPending (an *APIError); one that ended without a usable
// token is a *DecisionError saying how it ended and, for a denial, why.
func (c *Client) Token(ctx context.Context, id string) (AccessToken, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		ExpiresAt   string `json:"expires_at"`
		Scope       string `json:"scope"`
	}
	op := "token of request " + id
	err := c.call(ctx, op, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/token", "", nil, nil, "", &out)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		ae.kind = ErrPending
		return AccessToken{}, ae
	case errors.As(err, &ae) && ae.Status == http.StatusGone:
		return AccessToken{}, c.goneError(ctx, id, ae)
	case err != nil:
		return AccessToken{}, err
	case out.AccessToken == "":
		return AccessToken{}, fmt.Errorf("jitdesk: %s: the answer holds no access token (a jitdesk server bug: report it with the server version)", op)
	}
	return AccessToken{RequestID: id, AccessToken: out.AccessToken, TokenType: out.TokenType,
		ExpiresAt: parseTime(out.ExpiresAt), Scope: out.Scope}, nil
}

// goneError turns a 410 into a DecisionError, reading the request's status
// and decision when the problem itself does not carry them.
func (c *Client) goneError(ctx context.Context, id string, ae *APIError) error {
	de := &DecisionError{RequestID: id, Status: StatusApproved, Decision: ae.decision, Revocation: ae.revocation, Detail: ae.Detail}
	if ae.decision != nil && ae.decision.Outcome != "" {
		de.Status = Status(ae.decision.Outcome)
		return de
	}
	if r, err := c.Get(ctx, id); err == nil {
		de.Status, de.Decision = r.Status, r.Decision
	}
	return de
}

// decisionError describes a decided request that has no token.
func decisionError(r Request) error {
	return &DecisionError{RequestID: r.ID, Status: r.Status, Decision: r.Decision}
}

// RequestAndWait submits in, waits for the decision and returns the access
// token. A denial, expiry or cancellation is a *DecisionError; a wait that
// ends first (opts.Timeout, or ctx) cancels the request, so approvers are
// not left deciding something nobody will collect, and returns the wait's
// error.
func (c *Client) RequestAndWait(ctx context.Context, in NewRequest, opts WaitOptions) (AccessToken, error) {
	req, err := c.Request(ctx, in)
	if err != nil {
		return AccessToken{}, err
	}
	if req.Status == StatusPending {
		id := req.ID
		req, err = c.Wait(ctx, id, opts)
		if err != nil {
			if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				_, _ = c.Cancel(cctx, id)
				cancel()
			}
			return AccessToken{}, err
		}
	}
	if req.Status != StatusApproved {
		return AccessToken{}, decisionError(req)
	}
	return c.Token(ctx, req.ID)
}

// Introspect asks jitdesk about an access token (RFC 7662). A token of
// another application, or an invalid or revoked one, is Active false.
func (c *Client) Introspect(ctx context.Context, token string) (Introspection, error) {
	var out Introspection
	form := url.Values{"token": {token}}
	err := c.call(ctx, "introspect", http.MethodPost, "/v1/introspect", "", nil,
		strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", &out)
	return out, err
}

// Revoke revokes one of the application's access tokens (RFC 7009).
func (c *Client) Revoke(ctx context.Context, token string) error {
	form := url.Values{"token": {token}}
	return c.call(ctx, "revoke", http.MethodPost, "/v1/revoke", "", nil,
		strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", nil)
}
