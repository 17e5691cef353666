package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jitdesk/jitdesk/approvals"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %s", res.StatusCode, b)
	}
	return string(b)
}

func event(action, actor string, payload map[string]any) approvals.AuditEvent {
	b, _ := json.Marshal(payload)
	return approvals.AuditEvent{Action: action, Actor: actor, Payload: b}
}

func TestDomainSeriesFollowTheAuditLogAndObservedCommits(t *testing.T) {
	m := New(Options{})
	m.Audited([]approvals.AuditEvent{
		event(string(approvals.ActionRequestApproved), "bob", map[string]any{"template": "k8s"}),
		event(string(approvals.ActionRequestApproved), "bob", map[string]any{"template": "k8s"}),
		event(string(approvals.ActionRequestDenied), "bob", map[string]any{"template": "db"}),
		event(string(approvals.ActionRequestExpired), approvals.SystemSweeper, map[string]any{"template": "db"}),
		event(string(approvals.ActionRequestEscalated), approvals.SystemSweeper, map[string]any{"template": "db", "level": 1}),
		event(string(approvals.ActionRequestCreated), "app", map[string]any{"template": "k8s"}),
	})
	m.Committed(nil, 3*time.Millisecond)
	m.IntakeBatch(7)
	m.WebhookAttempts(4, 2, 1)
	m.AuthFailed(MethodIntake, "signature")

	want := `
# HELP jitdesk_decisions_total Requests that ended, by template key and outcome (approved, denied, expired, cancelled, break_glass).
# TYPE jitdesk_decisions_total counter
jitdesk_decisions_total{outcome="approved",template="k8s"} 2
jitdesk_decisions_total{outcome="denied",template="db"} 1
jitdesk_decisions_total{outcome="expired",template="db"} 1
# HELP jitdesk_sweeper_steps_total Transitions made by the sweeper, by step (expired, escalated).
# TYPE jitdesk_sweeper_steps_total counter
jitdesk_sweeper_steps_total{step="escalated"} 1
jitdesk_sweeper_steps_total{step="expired"} 1
# HELP jitdesk_webhook_attempts_total Webhook delivery attempts, by result (delivered, failed).
# TYPE jitdesk_webhook_attempts_total counter
jitdesk_webhook_attempts_total{result="delivered"} 4
jitdesk_webhook_attempts_total{result="failed"} 2
# HELP jitdesk_webhook_dead_total Webhook deliveries given up on after their last attempt.
# TYPE jitdesk_webhook_dead_total counter
jitdesk_webhook_dead_total 1
# HELP jitdesk_auth_failures_total Refused authentications, by method (intake, client, ssh) and reason.
# TYPE jitdesk_auth_failures_total counter
jitdesk_auth_failures_total{method="intake",reason="signature"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"jitdesk_decisions_total", "jitdesk_sweeper_steps_total", "jitdesk_webhook_attempts_total",
		"jitdesk_webhook_dead_total", "jitdesk_auth_failures_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.commit); n != 1 {
		t.Fatalf("commit histogram series: %d", n)
	}
	body := scrape(t, m)
	for _, s := range []string{"jitdesk_db_commit_duration_seconds_count 1", "jitdesk_intake_batch_size_sum 7",
		"go_goroutines", "process_"} {
		if !strings.Contains(body, s) {
			t.Errorf("the scrape lacks %q", s)
		}
	}
}

func TestEscalationOutsideTheSweeperIsNoSweeperStep(t *testing.T) {
	m := New(Options{})
	m.Audited([]approvals.AuditEvent{event(string(approvals.ActionRequestEscalated), "operator:ops", nil)})
	if v := testutil.ToFloat64(m.sweeper.WithLabelValues("escalated")); v != 0 {
		t.Fatalf("escalated steps: %v", v)
	}
}

func TestTemplateLabelsAreBounded(t *testing.T) {
	m := New(Options{})
	for i := range MaxTemplates + 50 {
		m.Audited([]approvals.AuditEvent{event(string(approvals.ActionRequestDenied), "bob",
			map[string]any{"template": fmt.Sprintf("t%d", i)})})
	}
	m.Audited([]approvals.AuditEvent{event(string(approvals.ActionRequestDenied), "bob", nil)})
	if n := testutil.CollectAndCount(m.decisions); n != MaxTemplates+1 {
		t.Fatalf("%d decision series, want %d (the cap and %s)", n, MaxTemplates+1, OtherTemplate)
	}
	if v := testutil.ToFloat64(m.decisions.WithLabelValues(OtherTemplate, "denied")); v != 51 {
		t.Fatalf("%s counted %v decisions, want 51", OtherTemplate, v)
	}
}

func TestGaugesAreReadAtScrapeTime(t *testing.T) {
	pending := 3
	m := New(Options{})
	if body := scrape(t, m); strings.Contains(body, "jitdesk_pending_requests") || strings.Contains(body, "jitdesk_stats_up") {
		t.Fatal("database gauges exported before SetStats")
	}
	m.SetStats(func(ctx context.Context) (approvals.Stats, error) {
		if _, ok := ctx.Deadline(); !ok {
			return approvals.Stats{}, errors.New("no deadline on the scrape-time read")
		}
		return approvals.Stats{Pending: pending, WebhookQueued: 5, WebhookDead: 2}, nil
	})
	waiters := 0
	m.SetLongPollWaiters(func() int { return waiters })
	m.SetSSHSessions(func() int { return 4 })
	body := scrape(t, m)
	for _, s := range []string{"jitdesk_pending_requests 3", "jitdesk_webhook_queue_depth 5", "jitdesk_webhook_dead_deliveries 2",
		"jitdesk_longpoll_waiters 0", "jitdesk_ssh_sessions 4", "jitdesk_stats_up 1"} {
		if !strings.Contains(body, s+"\n") {
			t.Errorf("first scrape lacks %q", s)
		}
	}
	pending, waiters = 8, 2
	body = scrape(t, m)
	for _, s := range []string{"jitdesk_pending_requests 8", "jitdesk_longpoll_waiters 2"} {
		if !strings.Contains(body, s+"\n") {
			t.Errorf("second scrape lacks %q", s)
		}
	}
}

func TestFailedStatsReadLeavesTheGaugesOutAndSaysSo(t *testing.T) {
	m := New(Options{})
	m.SetStats(func(context.Context) (approvals.Stats, error) {
		return approvals.Stats{}, errors.New("database is locked")
	})
	body := scrape(t, m)
	if !strings.Contains(body, "jitdesk_stats_up 0\n") {
		t.Fatal("stats_up is not 0 after a failed read")
	}
	if strings.Contains(body, "jitdesk_pending_requests ") {
		t.Fatal("a gauge was exported from a failed read")
	}
}

func TestNilMetricsRecordsNothingAndDoesNotPanic(t *testing.T) {
	var m *Metrics
	m.HTTPRequest("GET /healthz", 200, time.Millisecond)
	m.AuthFailed(MethodSSH, "unknown_key")
	m.Committed(nil, 0)
	m.Audited(nil)
	m.IntakeBatch(1)
	m.WebhookAttempts(1, 1, 1)
	m.SetLongPollWaiters(nil)
	m.SetSSHSessions(nil)
	m.SetStats(nil)
}

func TestTwoMetricsDoNotShareSeries(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	a.HTTPRequest("GET /healthz", 200, time.Millisecond)
	if n := testutil.CollectAndCount(b.httpRequests); n != 0 {
		t.Fatalf("a request recorded in one Metrics shows in another: %d series", n)
	}
}
