package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

const issuer = "https://jitdesk.test"

// env is a real store and Service behind the HTTP API on a loopback server.
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *store.DB
	svc    *approvals.Service
	clock  *approvals.ManualClock
	srv    *httptest.Server
	api    *API
	logs   *syncBuffer
	app    approvals.Application // owns template "k8s"
	other  approvals.Application // owns template "other-db"
	issued []string              // every credential sent, to prove none is logged
}

func newEnv(t *testing.T, maxWait time.Duration) *env {
	t.Helper()
	return newEnvWith(t, func(c *HTTPConfig) { c.MaxWait = maxWait })
}

// newEnvWith is newEnv with the HTTP configuration adjusted by configure.
func newEnvWith(t *testing.T, configure func(*HTTPConfig)) *env {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jitdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := approvals.NewManualClock(time.Now().UTC().Truncate(time.Second))
	svc := approvals.New(db, approvals.Options{Clock: clock, Issuer: issuer})
	e := &env{t: t, ctx: context.Background(), db: db, svc: svc, clock: clock, logs: &syncBuffer{}}
	if _, err := svc.Init(e.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	e.app, err = svc.CreateApplication(e.ctx, "test", "payments", "https://payments.example")
	e.must(err)
	e.other, err = svc.CreateApplication(e.ctx, "test", "billing", "https://billing.example")
	e.must(err)
	e.must(svc.AddApprover(e.ctx, "test", approvals.Approver{Login: "bob", Name: "Bob Okafor"}))
	e.must(svc.AddTemplate(e.ctx, "test", approvals.Template{
		Key: "k8s", AppID: e.app.ID, Title: "K8s exec", Type: approvals.TypeApprove, Approvers: []string{"bob"},
		DefaultTTL: 30 * time.Minute, MaxTTL: 2 * time.Hour, PendingTimeout: time.Hour,
		Fields: []approvals.MetadataField{{Name: "namespace", Required: true}, {Name: "ticket"}},
	}))
	e.must(svc.AddTemplate(e.ctx, "test", approvals.Template{
		Key: "other-db", AppID: e.other.ID, Title: "Billing DB", Type: approvals.TypeApprove, Approvers: []string{"bob"},
	}))
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := HTTPConfig{Service: svc, Logger: log}
	configure(&cfg)
	e.api = NewAPI(cfg)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, s := range e.issued {
			if strings.Contains(logs, s) {
				t.Errorf("a credential appears in the log:\n%s", logs)
				return
			}
		}
		for _, secret := range [][]byte{e.app.Secret, e.other.Secret} {
			if strings.Contains(logs, base64.RawURLEncoding.EncodeToString(secret)) {
				t.Errorf("an application secret appears in the log")
			}
		}
	})
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// claims returns valid intake claims for app at the service clock.
func (e *env) claims(app approvals.Application, sub string) jwt.RegisteredClaims {
	now := e.clock.Now()
	return jwt.RegisteredClaims{
		Issuer: app.ID, Subject: sub, Audience: jwt.ClaimStrings{issuer}, ID: randomID(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}
}

// intake signs a fresh single-use intake token for app.
func (e *env) intake(app approvals.Application) string {
	e.t.Helper()
	tok, err := tokens.SignIntake(app.Secret, tokens.IntakeClaims{RegisteredClaims: e.claims(app, "alice")})
	e.must(err)
	return tok
}

// raw signs arbitrary claims and header fields with HS256 and key, for attack tokens.
func (e *env) raw(key []byte, c jwt.Claims, header map[string]any) string {
	e.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	e.must(err)
	return s
}

// observed collects every (method, route, status) the tests saw, checked
// against openapi.yaml in TestMain.
var observed = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func route(path string) string {
	p := strings.Split(strings.Trim(path, "/"), "/")
	if len(p) >= 3 && p[0] == "v1" && p[1] == "requests" {
		p[2] = "{id}"
	}
	return "/" + strings.Join(p, "/")
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return m
}

// do sends one request. bearer "" sends no Authorization header.
func (e *env) do(method, path, bearer, contentType string, body io.Reader) resp {
	e.t.Helper()
	h := http.Header{}
	if bearer != "" {
		e.issued = append(e.issued, bearer)
		h.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return e.doHeader(method, path, h, body)
}

// doHeader sends one request with exactly these headers, recording and
// checking the answer against openapi.yaml like do.
func (e *env) doHeader(method, path string, h http.Header, body io.Reader) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	e.must(err)
	req.Header = h
	res, err := e.srv.Client().Do(req)
	e.must(err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	e.must(err)
	u, _ := url.Parse(path)
	observed.Lock()
	observed.m[fmt.Sprintf("%s %s %d", method, route(u.Path), res.StatusCode)] = true
	observed.Unlock()
	checkResponseSchema(e.t, method, route(u.Path), res.StatusCode, res.Header.Get("Content-Type"), b)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) postJSON(path, bearer string, v any) resp {
	e.t.Helper()
	b, err := json.Marshal(v)
	e.must(err)
	return e.do("POST", path, bearer, "application/json", bytes.NewReader(b))
}

func (e *env) postForm(path, bearer string, form url.Values) resp {
	e.t.Helper()
	return e.do("POST", path, bearer, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

var goodBody = map[string]any{"template": "k8s", "reason": "debug OPS-123", "ttl": "30m", "metadata": map[string]string{"namespace": "payments"}}

// submit creates a request as e.app and returns its id.
func (e *env) submit() string {
	e.t.Helper()
	r := e.postJSON("/v1/requests", e.intake(e.app), goodBody)
	if r.status != http.StatusCreated {
		e.t.Fatalf("submit: %d %s", r.status, r.body)
	}
	return r.json(e.t)["id"].(string)
}

func (e *env) approve(id string) {
	e.t.Helper()
	d, err := e.svc.Get(e.ctx, id)
	e.must(err)
	_, err = e.svc.Approve(e.ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	e.must(err)
}

// accessToken returns the access token of a freshly approved request.
func (e *env) accessToken() (id, token string) {
	e.t.Helper()
	id = e.submit()
	e.approve(id)
	r := e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.app), "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("token: %d %s", r.status, r.body)
	}
	token = r.json(e.t)["access_token"].(string)
	e.issued = append(e.issued, token)
	return id, token
}

// problemIs checks an RFC 9457 answer: status, media type, fields, detail.
func problemIs(t *testing.T, r resp, status int, detail string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, r.body)
	}
	if p.Type == "" || p.Title == "" || p.Status != status || p.Detail == "" {
		t.Fatalf("incomplete problem: %s", r.body)
	}
	if !strings.Contains(strings.ToLower(p.Detail), strings.ToLower(detail)) {
		t.Fatalf("detail %q does not mention %q", p.Detail, detail)
	}
}

func (e *env) countRequests() int {
	e.t.Helper()
	n, err := e.svc.Count(e.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll})
	e.must(err)
	return n
}

func TestHealthAndJWKS(t *testing.T) {
	e := newEnv(t, 0)
	r := e.do("GET", "/healthz", "", "", nil)
	if r.status != 200 || r.json(t)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/.well-known/jwks.json", "", "", nil)
	if r.status != 200 {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	var j struct {
		Keys []map[string]any `json:"keys"`
	}
	e.must(json.Unmarshal(r.body, &j))
	if len(j.Keys) != 1 || j.Keys[0]["kid"] == "" || j.Keys[0]["kty"] != "OKP" {
		t.Fatalf("jwks: %s", r.body)
	}
	if _, ok := j.Keys[0]["d"]; ok {
		t.Fatal("JWKS publishes a private key")
	}
}

func TestSubmitStatusTokenFlow(t *testing.T) {
	e := newEnv(t, 0)
	r := e.postJSON("/v1/requests", e.intake(e.app), goodBody)
	if r.status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	m := r.json(t)
	id, _ := m["id"].(string)
	if r.header.Get("Location") != "/v1/requests/"+id {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	for _, k := range []string{"id", "status", "template", "requester", "ttl", "approvals", "created_at", "expires_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("201 body lacks %q: %s", k, r.body)
		}
	}
	if m["status"] != "pending" || m["requester"] != "alice" || m["template"] != "k8s" || m["ttl"] != "30m" {
		t.Fatalf("201 body: %s", r.body)
	}

	r = e.do("GET", "/v1/requests/"+id, e.intake(e.app), "", nil)
	if r.status != 200 || r.json(t)["status"] != "pending" {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	problemIs(t, e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.app), "", nil), http.StatusConflict, "pending")

	e.approve(id)
	r = e.do("GET", "/v1/requests/"+id, e.intake(e.app), "", nil)
	if m := r.json(t); r.status != 200 || m["status"] != "approved" || m["decided_by"] != "bob" {
		t.Fatalf("status after approval: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.app), "", nil)
	m = r.json(t)
	if r.status != 200 || m["token_type"] != "Bearer" || m["access_token"] == "" || m["expires_in"].(float64) < 1790 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatal("token response may be cached")
	}
	e.issued = append(e.issued, m["access_token"].(string))

	// The grant expires with time: 410.
	e.clock.Advance(31 * time.Minute)
	problemIs(t, e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.app), "", nil), http.StatusGone, "expired")
}

func TestTokenGoneAfterDecision(t *testing.T) {
	e := newEnv(t, 0)
	denied := e.submit()
	d, err := e.svc.Get(e.ctx, denied)
	e.must(err)
	_, err = e.svc.Deny(e.ctx, approvals.DenyInput{RequestID: denied, Approver: "bob", Digest: d.Digest, Comment: "no"})
	e.must(err)
	problemIs(t, e.do("GET", "/v1/requests/"+denied+"/token", e.intake(e.app), "", nil), http.StatusGone, "denied")

	cancelled := e.submit()
	r := e.do("POST", "/v1/requests/"+cancelled+"/cancel", e.intake(e.app), "", nil)
	if r.status != 200 || r.json(t)["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	problemIs(t, e.do("POST", "/v1/requests/"+cancelled+"/cancel", e.intake(e.app), "", nil), http.StatusConflict, "")
	problemIs(t, e.do("GET", "/v1/requests/"+cancelled+"/token", e.intake(e.app), "", nil), http.StatusGone, "cancelled")

	expired := e.submit()
	e.clock.Advance(61 * time.Minute)
	if _, err := e.svc.ExpireDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	problemIs(t, e.do("GET", "/v1/requests/"+expired+"/token", e.intake(e.app), "", nil), http.StatusGone, "expired")

	id, tok := e.accessToken()
	r = e.postForm("/v1/revoke", e.intake(e.app), url.Values{"token": {tok}})
	if r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	problemIs(t, e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.app), "", nil), http.StatusGone, "revoked")
}

func TestOtherApplicationSeesNothing(t *testing.T) {
	e := newEnv(t, 0)
	id := e.submit()
	problemIs(t, e.do("GET", "/v1/requests/"+id, e.intake(e.other), "", nil), http.StatusNotFound, "not found")
	problemIs(t, e.do("GET", "/v1/requests/"+id+"?wait=1s", e.intake(e.other), "", nil), http.StatusNotFound, "not found")
	problemIs(t, e.do("GET", "/v1/requests/"+id+"/token", e.intake(e.other), "", nil), http.StatusNotFound, "not found")
	problemIs(t, e.do("POST", "/v1/requests/"+id+"/cancel", e.intake(e.other), "", nil), http.StatusNotFound, "not found")
	problemIs(t, e.do("GET", "/v1/requests/01J0000000000000000000000X", e.intake(e.app), "", nil), http.StatusNotFound, "not found")
	// Another application's template is not even acknowledged.
	body := map[string]any{"template": "other-db", "reason": "x"}
	problemIs(t, e.postJSON("/v1/requests", e.intake(e.app), body), http.StatusNotFound, "other-db")
	// The request is untouched.
	d, err := e.svc.Get(e.ctx, id)
	e.must(err)
	if d.Request.Status != approvals.StatusPending {
		t.Fatalf("status %s", d.Request.Status)
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	e := newEnv(t, 0)
	_, tok := e.accessToken()

	r := e.postForm("/v1/introspect", e.intake(e.app), url.Values{"token": {tok}})
	m := r.json(t)
	if r.status != 200 || m["active"] != true || m["sub"] != "alice" || m["scope"] != "k8s" || m["client_id"] != e.app.ID || m["iss"] != issuer {
		t.Fatalf("introspect own token: %d %s", r.status, r.body)
	}
	inactive := func(r resp) {
		t.Helper()
		if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"active":false}` {
			t.Fatalf("want exactly {\"active\":false}, got %d %s", r.status, r.body)
		}
	}
	// Foreign, unknown and garbage tokens: inactive and nothing more.
	inactive(e.postForm("/v1/introspect", e.intake(e.other), url.Values{"token": {tok}}))
	inactive(e.postForm("/v1/introspect", e.intake(e.app), url.Values{"token": {"not-a-token"}}))
	inactive(e.postForm("/v1/introspect", e.intake(e.app), url.Values{"token": {e.intake(e.app)}}))
	problemIs(t, e.postForm("/v1/introspect", e.intake(e.app), url.Values{}), http.StatusBadRequest, "token")
	problemIs(t, e.postForm("/v1/introspect", "", url.Values{"token": {tok}}), http.StatusUnauthorized, "Authorization")

	// Another application cannot revoke it (200, nothing done).
	if r := e.postForm("/v1/revoke", e.intake(e.other), url.Values{"token": {tok}}); r.status != 200 {
		t.Fatalf("foreign revoke: %d %s", r.status, r.body)
	}
	if r := e.postForm("/v1/introspect", e.intake(e.app), url.Values{"token": {tok}}); r.json(t)["active"] != true {
		t.Fatalf("foreign revoke took effect: %s", r.body)
	}
	// Unknown token: 200.
	if r := e.postForm("/v1/revoke", e.intake(e.app), url.Values{"token": {"garbage"}}); r.status != 200 {
		t.Fatalf("revoke garbage: %d %s", r.status, r.body)
	}
	// Own token: revoked, then inactive; revoking again is still 200.
	for range 2 {
		if r := e.postForm("/v1/revoke", e.intake(e.app), url.Values{"token": {tok}}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}
	inactive(e.postForm("/v1/introspect", e.intake(e.app), url.Values{"token": {tok}}))
	if _, err := e.svc.VerifyToken(e.ctx, tok, ""); err == nil {
		t.Fatal("revoked token still verifies")
	}
	problemIs(t, e.postForm("/v1/revoke", e.intake(e.app), url.Values{"token": {strings.Repeat("a", 20<<10)}}), http.StatusRequestEntityTooLarge, "larger")
}

func TestAttackTokens(t *testing.T) {
	e := newEnv(t, 0)
	_, access := e.accessToken()
	wrongSecret := make([]byte, 32)
	rand.Read(wrongSecret)

	expired := e.claims(e.app, "alice")
	expired.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(-10 * time.Minute))
	expired.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-7 * time.Minute))
	tooLong := e.claims(e.app, "alice")
	tooLong.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(time.Hour))
	wrongAud := e.claims(e.app, "alice")
	wrongAud.Audience = jwt.ClaimStrings{"https://elsewhere"}
	noSub := e.claims(e.app, "")
	unknownApp := e.claims(approvals.Application{ID: "app_nobody"}, "alice")
	noExp := e.claims(e.app, "alice")
	noExp.ExpiresAt = nil

	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(e.claims(e.app, "alice"))
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + ".AAAA"
	algNoneEmpty := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."

	replayed := e.intake(e.app)
	if r := e.do("GET", "/.well-known/jwks.json", "", "", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.postJSON("/v1/requests", replayed, goodBody); r.status != 201 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}

	cases := []struct {
		name, token, reason string
	}{
		{"alg none", algNone, `alg "none"`},
		{"alg none, empty signature", algNoneEmpty, "empty signature"},
		{"wrong secret", e.raw(wrongSecret, e.claims(e.app, "alice"), nil), "signature"},
		{"expired", e.raw(e.app.Secret, expired, nil), "expired"},
		{"lifetime over 5m", e.raw(e.app.Secret, tooLong, nil), "lifetime"},
		{"wrong audience", e.raw(e.app.Secret, wrongAud, nil), "aud"},
		{"no sub", e.raw(e.app.Secret, noSub, nil), "sub"},
		{"no exp", e.raw(e.app.Secret, noExp, nil), "exp"},
		// What it says is TestIntakeSignatureDetailRevealsNothing's subject.
		{"unknown application", e.raw(e.app.Secret, unknownApp, nil), ""},
		{"jku header", e.raw(e.app.Secret, e.claims(e.app, "alice"), map[string]any{"jku": "https://evil/jwks"}), "jku"},
		{"access token as intake token", access, "access token"},
		{"replayed jti", replayed, "already used"},
		{"garbage", "abc.def", "3 dot-separated"},
		{"8000 dots", strings.Repeat(".", 8000), "3 dot-separated"},
		{"other application's secret", e.raw(e.other.Secret, e.claims(e.app, "alice"), nil), "signature"},
		{"typ at+jwt", e.raw(e.app.Secret, e.claims(e.app, "alice"), map[string]any{"typ": "at+jwt"}), "access token"},
		{"EdDSA signed", func() string {
			k, err := tokens.GenerateKey(tokens.EdDSA, e.clock.Now())
			e.must(err)
			s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, e.claims(e.app, "alice")).SignedString(k.Private)
			e.must(err)
			return s
		}(), "HS256"},
		{"tampered", func() string { s := e.intake(e.app); return s[:len(s)-3] + "AAA" }(), "signature"},
	}
	calls := []struct {
		method, path, ct string
		body             func() io.Reader
	}{
		{"POST", "/v1/requests", "application/json", func() io.Reader { b, _ := json.Marshal(goodBody); return bytes.NewReader(b) }},
		{"GET", "/v1/requests/01J0000000000000000000000X", "", func() io.Reader { return nil }},
		{"GET", "/v1/requests/01J0000000000000000000000X/token", "", func() io.Reader { return nil }},
		{"POST", "/v1/requests/01J0000000000000000000000X/cancel", "", func() io.Reader { return nil }},
		{"POST", "/v1/introspect", "application/x-www-form-urlencoded", func() io.Reader { return strings.NewReader("token=" + access) }},
		{"POST", "/v1/revoke", "application/x-www-form-urlencoded", func() io.Reader { return strings.NewReader("token=" + access) }},
	}
	before := e.countRequests()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, call := range calls {
				r := e.do(call.method, call.path, c.token, call.ct, call.body())
				problemIs(t, r, http.StatusUnauthorized, c.reason)
				if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
					t.Fatalf("%s %s: WWW-Authenticate %q", call.method, call.path, h)
				}
			}
		})
	}
	if n := e.countRequests(); n != before {
		t.Fatalf("attack tokens stored %d requests", n-before)
	}
	if _, err := e.svc.VerifyToken(e.ctx, access, ""); err != nil {
		t.Fatalf("an unauthenticated revoke took effect: %v", err)
	}

	// Missing or malformed Authorization.
	problemIs(t, e.do("GET", "/v1/requests/x", "", "", nil), http.StatusUnauthorized, "Authorization")
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/requests/x", nil)
	req.Header.Set("Authorization", "Basic YWxpY2U6cHc=")
	res, err := e.srv.Client().Do(req)
	e.must(err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	problemIs(t, resp{res.StatusCode, res.Header, b}, http.StatusUnauthorized, "Bearer")

	// Two Authorization headers: refused, nothing verified or burned.
	id := e.submit()
	good := e.intake(e.app)
	req, _ = http.NewRequest("GET", e.srv.URL+"/v1/requests/"+id+"/token", nil)
	req.Header.Add("Authorization", "Bearer "+good)
	req.Header.Add("Authorization", "Bearer "+e.intake(e.app))
	res, err = e.srv.Client().Do(req)
	e.must(err)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	observed.Lock()
	observed.m["GET /v1/requests/{id}/token "+fmt.Sprint(res.StatusCode)] = true
	observed.Unlock()
	problemIs(t, resp{res.StatusCode, res.Header, b}, http.StatusBadRequest, "more than one Authorization")
	if r := e.do("GET", "/v1/requests/"+id, good, "", nil); r.status != 200 {
		t.Fatalf("the token of a refused call must still be unused: %d %s", r.status, r.body)
	}
}

func TestOversizedAndMalformedInput(t *testing.T) {
	e := newEnv(t, 0)
	before := e.countRequests()

	// Authorization over 8 KiB: refused before any parsing (no jti burned, nothing verified).
	problemIs(t, e.do("GET", "/v1/requests/x", strings.Repeat("a", MaxAuthHeader+1), "", nil), http.StatusRequestHeaderFieldsTooLarge, "Authorization")

	big := `{"template":"k8s","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	problemIs(t, e.do("POST", "/v1/requests", e.intake(e.app), "application/json", strings.NewReader(big)), http.StatusRequestEntityTooLarge, "larger")

	cases := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"unknown field", `{"template":"k8s","reason":"r","metadata":{"namespace":"a"},"admin":true}`, 400, "unknown field"},
		{"trailing data", `{"template":"k8s","reason":"r","metadata":{"namespace":"a"}} {}`, 400, "after the JSON"},
		{"not an object", `["k8s"]`, 400, "JSON"},
		{"empty", ``, 400, "JSON"},
		{"no template", `{"reason":"r"}`, 400, "template"},
		{"bad ttl", `{"template":"k8s","reason":"r","ttl":"soon","metadata":{"namespace":"a"}}`, 400, "ttl"},
		{"ttl over max", `{"template":"k8s","reason":"r","ttl":"3h","metadata":{"namespace":"a"}}`, 422, "maximum"},
		{"missing required field", `{"template":"k8s","reason":"r"}`, 422, "namespace"},
		{"undeclared metadata", `{"template":"k8s","reason":"r","metadata":{"namespace":"a","x":"y"}}`, 422, `"x"`},
		{"reason too long", `{"template":"k8s","reason":"` + strings.Repeat("x", approvals.MaxReasonLen+1) + `","metadata":{"namespace":"a"}}`, 422, "reason"},
		{"empty reason", `{"template":"k8s","reason":"  ","metadata":{"namespace":"a"}}`, 422, "reason"},
		{"metadata value too long", `{"template":"k8s","reason":"r","metadata":{"namespace":"` + strings.Repeat("x", approvals.MaxMetadataVal+1) + `"}}`, 422, "namespace"},
		{"too many metadata keys", func() string {
			md := map[string]string{}
			for i := range approvals.MaxMetadataKeys + 1 {
				md[fmt.Sprint("k", i)] = "v"
			}
			b, _ := json.Marshal(map[string]any{"template": "k8s", "reason": "r", "metadata": md})
			return string(b)
		}(), 422, "metadata keys"},
		{"unknown template", `{"template":"nope","reason":"r"}`, 404, "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problemIs(t, e.do("POST", "/v1/requests", e.intake(e.app), "application/json", strings.NewReader(c.body)), c.status, c.detail)
		})
	}
	problemIs(t, e.do("POST", "/v1/requests", e.intake(e.app), "text/plain", strings.NewReader(`{}`)), http.StatusUnsupportedMediaType, "application/json")
	// A malformed body from an unauthenticated caller learns nothing about the body.
	problemIs(t, e.do("POST", "/v1/requests", "x.y.z", "application/json", strings.NewReader(`{"admin":1}`)), http.StatusUnauthorized, "")
	// Bad wait.
	id := e.submit()
	before++
	problemIs(t, e.do("GET", "/v1/requests/"+id+"?wait=forever", e.intake(e.app), "", nil), http.StatusBadRequest, "wait")

	if n := e.countRequests(); n != before {
		t.Fatalf("refused input stored %d requests", n-before)
	}
	// Unknown paths and methods are problems too.
	problemIs(t, e.do("GET", "/v2/nothing", "", "", nil), http.StatusNotFound, "no such endpoint")
	r := e.do("DELETE", "/v1/requests/"+id, "", "", nil)
	problemIs(t, r, http.StatusMethodNotAllowed, "not allowed")
	if !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	id := e.submit()

	// Nothing changes: the wait ends after ?wait and reports pending.
	start := time.Now()
	r := e.do("GET", "/v1/requests/"+id+"?wait=300ms", e.intake(e.app), "", nil)
	if el := time.Since(start); r.status != 200 || r.json(t)["status"] != "pending" || el < 300*time.Millisecond || el > 2*time.Second {
		t.Fatalf("wait=300ms: %d after %v: %s", r.status, el, r.body)
	}
	// ?wait beyond MaxWait is capped.
	start = time.Now()
	r = e.do("GET", "/v1/requests/"+id+"?wait=1h", e.intake(e.app), "", nil)
	if el := time.Since(start); r.status != 200 || el < 2*time.Second || el > 4*time.Second {
		t.Fatalf("wait=1h capped at 2s: %d after %v", r.status, el)
	}

	// An approval wakes the waiter promptly.
	done := make(chan resp, 1)
	tok := e.intake(e.app)
	go func() {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/requests/"+id+"?wait=30s", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			done <- resp{}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- resp{status: res.StatusCode, header: res.Header, body: b}
	}()
	time.Sleep(200 * time.Millisecond)
	approved := time.Now()
	e.approve(id)
	select {
	case r := <-done:
		if r.status != 200 || r.json(t)["status"] != "approved" {
			t.Fatalf("long-poll: %d %s", r.status, r.body)
		}
		t.Logf("woke %v after the approval", time.Since(approved))
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll did not wake on approval")
	}
	// A decided request answers at once even with ?wait.
	start = time.Now()
	if r := e.do("GET", "/v1/requests/"+id+"?wait=30s", e.intake(e.app), "", nil); r.status != 200 || time.Since(start) > time.Second {
		t.Fatalf("decided with wait: %d after %v", r.status, time.Since(start))
	}
}
