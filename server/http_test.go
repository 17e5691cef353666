package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

const issuer = "https://jitdesk.test"

type apiFixture struct {
	t     *testing.T
	svc   *approvals.Service
	srv   *httptest.Server
	app   approvals.Application
	other approvals.Application
	logs  *bytes.Buffer
}

func newAPI(t *testing.T) *apiFixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := approvals.New(db, approvals.Options{Issuer: issuer})
	ctx := context.Background()
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{t: t, svc: svc, logs: &bytes.Buffer{}}
	f.app, _ = svc.CreateApplication(ctx, "test", "payments", "https://payments.test")
	f.other, _ = svc.CreateApplication(ctx, "test", "other", "https://other.test")
	if err := svc.AddApprover(ctx, "test", approvals.Approver{Login: "bob", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	for _, tm := range []approvals.Template{
		{Key: "k8s", AppID: f.app.ID, Title: "K8s", Type: approvals.TypeApprove, Approvers: []string{"bob"}, Fields: []approvals.MetadataField{{Name: "ticket"}}},
		{Key: "theirs", AppID: f.other.ID, Title: "Other", Type: approvals.TypeApprove, Approvers: []string{"bob"}},
	} {
		if err := svc.AddTemplate(ctx, "test", tm); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = httptest.NewServer(NewHTTPHandler(HTTPConfig{Service: svc, Logger: slog.New(slog.NewTextHandler(f.logs, nil)), MaxWait: 5 * time.Second}))
	t.Cleanup(f.srv.Close)
	return f
}

// intake signs a fresh intake token for app (a new jti per call).
func (f *apiFixture) intake(app approvals.Application, sub string) string {
	var c tokens.IntakeClaims
	jti := make([]byte, 8)
	rand.Read(jti)
	now := time.Now()
	c.Issuer, c.Subject, c.ID = app.ID, sub, hex.EncodeToString(jti)
	c.Audience = []string{issuer}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(2*time.Minute))
	tok, err := tokens.SignIntake(app.Secret, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *apiFixture) do(method, path, token, contentType string, body io.Reader) resp {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func (f *apiFixture) create(token, body string) resp {
	return f.do("POST", "/v1/requests", token, "application/json", strings.NewReader(body))
}

func wantProblem(t *testing.T, r resp, status int, detail string) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(fmt.Sprint(r.body["detail"]), detail) {
		t.Fatalf("want %d problem mentioning %q, got %d %s %s", status, detail, r.status, r.header.Get("Content-Type"), r.raw)
	}
}

func TestSubmitReturnsTheRequestWithLocation(t *testing.T) {
	f := newAPI(t)
	r := f.create(f.intake(f.app, "alice"), `{"template":"k8s","reason":"debug pods","ttl":"30m","metadata":{"ticket":"OPS-1"}}`)
	if r.status != 201 || r.body["requester"] != "alice" || r.body["status"] != "pending" || r.body["ttl"] != "30m" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r.header.Get("Location") != "/v1/requests/"+r.body["id"].(string) {
		t.Fatalf("location %q", r.header.Get("Location"))
	}
}

func TestBadInputIsRefusedWithAProblemAndNothingStored(t *testing.T) {
	f := newAPI(t)
	big := `{"template":"k8s","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	manyMeta := map[string]string{}
	for i := 0; i < 40; i++ {
		manyMeta[fmt.Sprint("k", i)] = "v"
	}
	mm, _ := json.Marshal(map[string]any{"template": "k8s", "reason": "r", "metadata": manyMeta})
	cases := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"oversized body", big, 413, "larger than"},
		{"unknown field", `{"template":"k8s","reason":"r","admin":true}`, 400, "unknown field"},
		{"trailing data", `{"template":"k8s","reason":"r"} {}`, 400, "after the JSON"},
		{"bad ttl", `{"template":"k8s","reason":"r","ttl":"forever"}`, 400, "ttl"},
		{"ttl over max", `{"template":"k8s","reason":"r","ttl":"30h"}`, 422, "exceeds the template's maximum"},
		{"too many metadata keys", string(mm), 422, "at most 32"},
		{"unknown metadata key", `{"template":"k8s","reason":"r","metadata":{"x":"1"}}`, 422, "not a field"},
		{"missing template", `{"reason":"r"}`, 400, "template"},
		{"another app's template", `{"template":"theirs","reason":"r"}`, 404, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, f.create(f.intake(f.app, "alice"), c.body), c.status, c.detail)
		})
	}
	if n, _ := f.svc.Count(context.Background(), approvals.RequestQuery{Scope: approvals.ScopeAll}); n != 0 {
		t.Fatalf("%d requests stored from bad input", n)
	}
}

func TestAttackTokensGet401WithAReason(t *testing.T) {
	f := newAPI(t)
	valid := f.intake(f.app, "alice")
	body := `{"template":"k8s","reason":"r"}`
	if r := f.create(valid, body); r.status != 201 {
		t.Fatalf("valid token: %d %s", r.status, r.raw)
	}
	now := time.Now()
	sign := func(method jwt.SigningMethod, key any, mutate func(jwt.MapClaims, map[string]any)) string {
		c := jwt.MapClaims{"iss": f.app.ID, "sub": "alice", "aud": issuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": fmt.Sprint(time.Now().UnixNano())}
		tok := jwt.NewWithClaims(method, c)
		if mutate != nil {
			mutate(c, tok.Header)
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	key, _ := tokens.GenerateKey(tokens.EdDSA, now)
	g, err := approveOne(f)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"replayed jti":           valid,
		"alg none":               sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
		"other app's secret":     sign(jwt.SigningMethodHS256, f.other.Secret, nil),
		"expired":                sign(jwt.SigningMethodHS256, f.app.Secret, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = now.Add(-time.Hour).Unix(); c["iat"] = now.Add(-2 * time.Hour).Unix() }),
		"exp too far":            sign(jwt.SigningMethodHS256, f.app.Secret, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }),
		"wrong aud":              sign(jwt.SigningMethodHS256, f.app.Secret, func(c jwt.MapClaims, _ map[string]any) { c["aud"] = "someone-else" }),
		"missing exp":            sign(jwt.SigningMethodHS256, f.app.Secret, func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") }),
		"EdDSA signed":           sign(jwt.SigningMethodEdDSA, key.Private, nil),
		"access token as intake": g,
		"typ at+jwt":             sign(jwt.SigningMethodHS256, f.app.Secret, func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "at+jwt" }),
		"garbage":                "not.a.token",
		"100k dots":              strings.Repeat(".", 8000),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			r := f.create(tok, body)
			wantProblem(t, r, 401, "")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") || r.body["detail"] == "" {
				t.Fatalf("401 must name the reason: %s", r.raw)
			}
		})
	}
	wantProblem(t, f.create("", body), 401, "Authorization")
	wantProblem(t, f.create(strings.Repeat("a", MaxAuthHeader+1), body), 431, "Authorization header")
	if strings.Contains(f.logs.String(), valid) || strings.Contains(f.logs.String(), g) {
		t.Fatal("a token reached the log")
	}
}

// approveOne submits and approves a request, returning its access token.
func approveOne(f *apiFixture) (string, error) {
	ctx := context.Background()
	r := f.create(f.intake(f.app, "alice"), `{"template":"k8s","reason":"approve me"}`)
	if r.status != 201 {
		return "", fmt.Errorf("create: %s", r.raw)
	}
	id := r.body["id"].(string)
	d, err := f.svc.Get(ctx, id)
	if err != nil {
		return "", err
	}
	out, err := f.svc.Approve(ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	return out.Token, err
}

func TestTokenPickUpFollowsTheRequestsState(t *testing.T) {
	f := newAPI(t)
	ctx := context.Background()
	r := f.create(f.intake(f.app, "alice"), `{"template":"k8s","reason":"r"}`)
	id := r.body["id"].(string)
	wantProblem(t, f.do("GET", "/v1/requests/"+id+"/token", f.intake(f.app, "alice"), "", nil), 409, "pending")
	wantProblem(t, f.do("GET", "/v1/requests/"+id, f.intake(f.other, "x"), "", nil), 404, "not found")
	d, _ := f.svc.Get(ctx, id)
	out, err := f.svc.Approve(ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	if err != nil {
		t.Fatal(err)
	}
	tr := f.do("GET", "/v1/requests/"+id+"/token", f.intake(f.app, "alice"), "", nil)
	if tr.status != 200 || tr.body["access_token"] != out.Token || tr.body["token_type"] != "Bearer" || tr.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", tr.status, tr.raw)
	}
	wantProblem(t, f.do("GET", "/v1/requests/"+id+"/token", f.intake(f.other, "x"), "", nil), 404, "not found")
	// Revoked through RFC 7009 by the application: the pick-up is gone, introspection inactive.
	form := url.Values{"token": {out.Token}}.Encode()
	intro := f.do("POST", "/v1/introspect", f.intake(f.other, "x"), "application/x-www-form-urlencoded", strings.NewReader(form))
	if intro.status != 200 || intro.body["active"] != false || len(intro.body) != 1 {
		t.Fatalf("foreign introspection must say only active=false: %s", intro.raw)
	}
	intro = f.do("POST", "/v1/introspect", f.intake(f.app, "x"), "application/x-www-form-urlencoded", strings.NewReader(form))
	if intro.body["active"] != true || intro.body["sub"] != "alice" || intro.body["scope"] != "k8s" {
		t.Fatalf("own introspection: %s", intro.raw)
	}
	if r := f.do("POST", "/v1/revoke", f.intake(f.other, "x"), "application/x-www-form-urlencoded", strings.NewReader(form)); r.status != 200 {
		t.Fatalf("foreign revoke must be a silent 200: %d", r.status)
	}
	if _, err := f.svc.VerifyToken(ctx, out.Token, ""); err != nil {
		t.Fatal("a foreign revoke must do nothing")
	}
	if r := f.do("POST", "/v1/revoke", f.intake(f.app, "x"), "application/x-www-form-urlencoded", strings.NewReader(form)); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	intro = f.do("POST", "/v1/introspect", f.intake(f.app, "x"), "application/x-www-form-urlencoded", strings.NewReader(form))
	if intro.body["active"] != false {
		t.Fatalf("revoked token introspects active: %s", intro.raw)
	}
	wantProblem(t, f.do("GET", "/v1/requests/"+id+"/token", f.intake(f.app, "alice"), "", nil), 410, "revoked")
	if r := f.do("POST", "/v1/revoke", f.intake(f.app, "x"), "application/x-www-form-urlencoded", strings.NewReader("token=unknown")); r.status != 200 {
		t.Fatalf("unknown token revoke: %d", r.status)
	}
}

func TestCancelThenTokenIsGone(t *testing.T) {
	f := newAPI(t)
	id := f.create(f.intake(f.app, "alice"), `{"template":"k8s","reason":"r"}`).body["id"].(string)
	wantProblem(t, f.do("POST", "/v1/requests/"+id+"/cancel", f.intake(f.other, "x"), "", nil), 404, "not found")
	if r := f.do("POST", "/v1/requests/"+id+"/cancel", f.intake(f.app, "alice"), "", nil); r.status != 200 || r.body["status"] != "cancelled" {
		t.Fatalf("cancel: %s", r.raw)
	}
	wantProblem(t, f.do("POST", "/v1/requests/"+id+"/cancel", f.intake(f.app, "alice"), "", nil), 409, "cancelled")
	wantProblem(t, f.do("GET", "/v1/requests/"+id+"/token", f.intake(f.app, "alice"), "", nil), 410, "cancelled")
}

func TestLongPollWakesWhenTheRequestIsDecided(t *testing.T) {
	f := newAPI(t)
	ctx := context.Background()
	id := f.create(f.intake(f.app, "alice"), `{"template":"k8s","reason":"r"}`).body["id"].(string)
	d, _ := f.svc.Get(ctx, id)
	go func() {
		time.Sleep(200 * time.Millisecond) // let the poll start waiting
		f.svc.Approve(ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
	}()
	start := time.Now()
	r := f.do("GET", "/v1/requests/"+id+"?wait=5s", f.intake(f.app, "alice"), "", nil)
	if r.status != 200 || r.body["status"] != "approved" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("long-poll returned after %s, not on the change", took)
	}
	wantProblem(t, f.do("GET", "/v1/requests/"+id+"?wait=soon", f.intake(f.app, "alice"), "", nil), 400, "wait")
}

func TestPublicEndpoints(t *testing.T) {
	f := newAPI(t)
	if r := f.do("GET", "/healthz", "", "", nil); r.status != 200 || r.body["status"] != "ok" {
		t.Fatalf("healthz: %s", r.raw)
	}
	r := f.do("GET", "/.well-known/jwks.json", "", "", nil)
	keys, _ := r.body["keys"].([]any)
	if r.status != 200 || len(keys) != 1 {
		t.Fatalf("jwks: %s", r.raw)
	}
	wantProblem(t, f.do("GET", "/v2/nothing", "", "", nil), 404, "no such endpoint")
}
