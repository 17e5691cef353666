package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/metrics"
	"github.com/jitdesk/jitdesk/store"
)

func newMetricsEnv(t *testing.T, configure func(*HTTPConfig)) (*env, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(metrics.Options{})
	e := newEnvWith(t, func(c *HTTPConfig) {
		c.Metrics = m
		c.MaxWait = time.Hour
		if configure != nil {
			configure(c)
		}
	})
	return e, m
}

// series returns the value of one exposition line ("name{labels} value")
// from a scrape, and whether it is there.
func series(body, name string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v, true
		}
	}
	return "", false
}

func (e *env) scrape() string {
	e.t.Helper()
	r := e.doHeader("GET", "/metrics", http.Header{}, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	return string(r.body)
}

func TestRequestsAreCountedByRoutePatternNeverByPath(t *testing.T) {
	e, _ := newMetricsEnv(t, nil)
	id := e.submit()
	e.do("GET", "/v1/requests/"+id, e.intake(e.app), "", nil)
	e.do("GET", "/v1/requests/"+randomID(), e.intake(e.app), "", nil)
	// A hostile path: it must not become a label value.
	hostile := "/v1/zz-" + randomID() + "-" + url.PathEscape(`"}evil`)
	e.do("GET", hostile, "", "", nil)
	body := e.scrape()
	want := map[string]string{
		`jitdesk_http_requests_total{code="201",route="POST /v1/requests"}`:          "1",
		`jitdesk_http_requests_total{code="200",route="GET /v1/requests/{id}"}`:      "1",
		`jitdesk_http_requests_total{code="404",route="GET /v1/requests/{id}"}`:      "1",
		`jitdesk_http_requests_total{code="404",route="unmatched"}`:                  "1",
		`jitdesk_http_request_duration_seconds_count{route="GET /v1/requests/{id}"}`: "2",
	}
	for s, v := range want {
		if got, ok := series(body, s); !ok || got != v {
			t.Errorf("%s = %q (present %v), want %s", s, got, ok, v)
		}
	}
	if strings.Contains(body, "zz-") || strings.Contains(body, id) {
		t.Fatal("a client-chosen path reached the metrics")
	}
}

func TestLongPollWaitersGaugeCountsParkedPolls(t *testing.T) {
	e, _ := newMetricsEnv(t, nil)
	id := e.submit()
	parked := e.parkedPoll(e.app, id, "1h")
	if v, _ := series(e.scrape(), "jitdesk_longpoll_waiters"); v != "1" {
		t.Fatalf("longpoll_waiters with one parked poll = %q", v)
	}
	e.approve(id)
	<-parked
	for e.api.hub.waiting() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if v, _ := series(e.scrape(), "jitdesk_longpoll_waiters"); v != "0" {
		t.Fatalf("longpoll_waiters after the answer = %q", v)
	}
}

func TestMetricsCanLiveOnlyOnTheDiagnosticsHandler(t *testing.T) {
	e, _ := newMetricsEnv(t, func(c *HTTPConfig) { c.MetricsOnlyOnDiag = true })
	if r := e.doHeader("GET", "/metrics", http.Header{}, nil); r.status != http.StatusNotFound {
		t.Fatalf("GET /metrics on the API with MetricsOnlyOnDiag: %d", r.status)
	}
	diag := httptest.NewServer(e.api.DiagHandler())
	defer diag.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(diag.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `jitdesk_http_requests_total{code="404",route="unmatched"} 1`) {
		t.Fatalf("diag /metrics: %d\n%s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != http.StatusOK {
			t.Fatalf("diag %s: %d %s", p, code, body)
		}
	}
	// Nothing else of the API is reachable there.
	if code, _ := get("/.well-known/jwks.json"); code != http.StatusNotFound {
		t.Fatalf("diag serves the JWKS: %d", code)
	}
}

func TestNoMetricsConfiguredMeansNoMetricsRoute(t *testing.T) {
	e := newEnv(t, 0)
	if r := e.doHeader("GET", "/metrics", http.Header{}, nil); r.status != http.StatusNotFound {
		t.Fatalf("GET /metrics without metrics: %d", r.status)
	}
}

// logLines decodes the JSON log lines whose msg is msg.
func (e *env) logLines(msg string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestFailedAuthenticationsAreCountedAndLoggedWithTheirReason(t *testing.T) {
	e, _ := newMetricsEnv(t, nil)
	e.do("POST", "/v1/requests", "", "application/json", strings.NewReader(`{}`))
	wrong := e.raw([]byte("not-the-secret-not-the-secret-xx"), e.claims(e.app, "alice"), nil)
	e.postJSON("/v1/requests", wrong, goodBody)
	tok := e.intake(e.app)
	e.do("GET", "/v1/requests/"+e.submit(), tok, "", nil)
	e.do("GET", "/v1/requests/x", tok, "", nil) // the same jti again
	e.doHeader("POST", "/v1/introspect", basic(e.app.ID, "wrong-secret"), strings.NewReader("token=x"))
	body := e.scrape()
	for s, v := range map[string]string{
		`jitdesk_auth_failures_total{method="intake",reason="missing"}`:     "1",
		`jitdesk_auth_failures_total{method="intake",reason="signature"}`:   "1",
		`jitdesk_auth_failures_total{method="intake",reason="replay"}`:      "1",
		`jitdesk_auth_failures_total{method="client",reason="credentials"}`: "1",
	} {
		if got, ok := series(body, s); !ok || got != v {
			t.Errorf("%s = %q (present %v), want %s\n%s", s, got, ok, v, body)
		}
	}
	reasons := map[string]bool{}
	for _, l := range e.logLines("security") {
		if l["event"] != "auth.failed" {
			continue
		}
		if l["remote"] != "127.0.0.1" || l["request_id"] == "" {
			t.Errorf("auth.failed line without the client address or request id: %v", l)
		}
		reasons[l["method"].(string)+"/"+l["reason"].(string)] = true
	}
	for _, want := range []string{"intake/missing", "intake/signature", "intake/replay", "client/credentials"} {
		if !reasons[want] {
			t.Errorf("no auth.failed line for %s; got %v", want, reasons)
		}
	}
}

func TestAuthFailureLogIsRateLimitedPerAddress(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newAuthLogLimiter(func() time.Time { return now })
	logged := 0
	for range 50 {
		if ok, _, _ := l.allow("192.0.2.1"); ok {
			logged++
		}
	}
	if logged != authLogBurst {
		t.Fatalf("%d of 50 failures from one address logged at once, want the burst %d", logged, authLogBurst)
	}
	// Another address is not silenced by the first one's flood.
	if ok, _, _ := l.allow("192.0.2.2"); !ok {
		t.Fatal("a second address was silenced by the first one's flood")
	}
	// After the refill the next line says how many were left out.
	now = now.Add(authLogEvery)
	ok, suppressed, _ := l.allow("192.0.2.1")
	if !ok || suppressed != 50-authLogBurst {
		t.Fatalf("after the refill: logged %v, suppressed %d, want true, %d", ok, suppressed, 50-authLogBurst)
	}
}

func TestAuthFailureLogIsBoundedOverManyAddresses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newAuthLogLimiter(func() time.Time { return now })
	logged := 0
	for i := range 1000 {
		if ok, _, _ := l.allow(net.IPv4(10, 0, byte(i>>8), byte(i)).String()); ok {
			logged++
		}
	}
	if logged != authLogGlobalBurst {
		t.Fatalf("%d of 1000 failures from 1000 addresses logged at once, want the global burst %d", logged, authLogGlobalBurst)
	}
}

func TestShutdownAnswersParkedLongPollAndReturnsNil(t *testing.T) {
	e := newEnv(t, time.Hour)
	id := e.submit()
	// A real http.Server (not httptest's), as serve runs it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	e.must(err)
	srv := &http.Server{Handler: e.api}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tok := e.intake(e.app)
	e.issued = append(e.issued, tok)
	parked := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/requests/"+id+"?wait=1h", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := (&http.Client{}).Do(req)
		if err != nil {
			parked <- resp{}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		parked <- resp{status: res.StatusCode, body: b}
	}()
	for e.api.hub.waiting() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.api.Shutdown(context.Background(), srv); err != nil {
		t.Fatalf("Shutdown with a parked long-poll: %v", err)
	}
	r := <-parked
	if r.status != http.StatusOK || r.json(t)["status"] != "pending" || r.json(t)["id"] != id {
		t.Fatalf("the parked long-poll was answered %d %s", r.status, r.body)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// The Service reports its commits to Metrics and to the security log, as
// serve wires them: an approval over the API moves the decision counter and
// is logged with its stable fields, and the scrape-time gauges read the
// database.
func TestObservedServiceFeedsMetricsAndTheSecurityLog(t *testing.T) {
	m := metrics.New(metrics.Options{})
	var secLog syncBuffer
	db, err := store.Open(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := approvals.New(db, approvals.Options{Issuer: issuer,
		Observers: []approvals.Observer{m, SecurityLog(slog.New(slog.NewJSONHandler(&secLog, nil)))}})
	m.SetStats(svc.Stats)
	ctx := context.Background()
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "test", "payments", "https://payments.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddApprover(ctx, "test", approvals.Approver{Login: "bob", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddTemplate(ctx, "test", approvals.Template{Key: "k8s", AppID: app.ID, Title: "K8s", Type: approvals.TypeApprove, Approvers: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAPI(HTTPConfig{Service: svc, Metrics: m}))
	defer srv.Close()
	// Decisions are counted from the audit log, as serve follows it.
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	audited := make(chan struct{}, 64)
	go svc.FollowAudit(followCtx, 0, func(evs []approvals.AuditEvent) {
		m.Audited(evs)
		for _, e := range evs {
			if e.Action == string(approvals.ActionRequestApproved) {
				audited <- struct{}{}
			}
		}
	})
	scrape := func() string {
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	r1, _ := svc.Submit(ctx, approvals.NewRequest{AppID: app.ID, TemplateKey: "k8s", Requester: "alice", Reason: "r"})
	if _, err := svc.Submit(ctx, approvals.NewRequest{AppID: app.ID, TemplateKey: "k8s", Requester: "alice", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := series(scrape(), "jitdesk_pending_requests"); v != "2" {
		t.Fatalf("pending_requests = %q with two pending", v)
	}
	d, err := svc.Get(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r1.ID, Approver: "bob", Digest: d.Digest}); err != nil {
		t.Fatal(err)
	}
	<-audited // the follower has counted the approval
	body := scrape()
	if v, _ := series(body, `jitdesk_decisions_total{outcome="approved",template="k8s"}`); v != "1" {
		t.Fatalf("decisions_total approved k8s = %q\n%s", v, body)
	}
	if v, _ := series(body, "jitdesk_pending_requests"); v != "1" {
		t.Fatalf("pending_requests = %q after one approval", v)
	}
	if v, ok := series(body, "jitdesk_db_commit_duration_seconds_count"); !ok || v == "0" {
		t.Fatalf("no commit observed: %q", v)
	}
	var approved map[string]any
	for _, l := range strings.Split(secLog.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ev["event"] == "request.approved" {
			approved = ev
		}
	}
	if approved == nil || approved["msg"] != "security" || approved["actor"] != "bob" || approved["subject"] != r1.ID {
		t.Fatalf("security log line of the approval: %v\n%s", approved, secLog.String())
	}
	if strings.Contains(secLog.String(), base64.RawURLEncoding.EncodeToString(app.Secret)) {
		t.Fatal("the application secret reached the security log")
	}
}
