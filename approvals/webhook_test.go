package approvals_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

// outbox lists what is queued for hook as "type@request", oldest first.
func (f *fixture) outbox(hook string) []string {
	f.t.Helper()
	ds, err := f.svc.WebhookLog(f.ctx, approvals.WebhookLogQuery{HookID: hook, Limit: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- {
		out = append(out, ds[i].EventType+"@"+ds[i].RequestID)
	}
	return out
}

func (f *fixture) addHook(events ...string) approvals.Webhook {
	f.t.Helper()
	w, err := f.svc.AddWebhook(f.ctx, "test", "https://hooks.example/in", events)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func TestEveryAnnouncedChangeIsQueuedWhateverPathMadeIt(t *testing.T) {
	f, pager := escalationFixture(t) // submitted before the hook: not announced
	h := f.addHook()
	// Intake (the group-commit path) and the operator path.
	tok, err := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, "mallory", "jti-hook"))
	if err != nil {
		t.Fatal(err)
	}
	viaIntake, _, err := f.svc.SubmitIntake(f.ctx, tok, approvals.NewRequest{TemplateKey: "iam", Reason: "via intake"})
	if err != nil {
		t.Fatal(err)
	}
	denied := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: denied.ID, Approver: "alice", Digest: f.detail(denied.ID).Digest, Comment: "no"}); err != nil {
		t.Fatal(err)
	}
	cancelled := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.svc.Cancel(f.ctx, approvals.CancelInput{ID: cancelled.ID, AppID: cancelled.AppID}); err != nil {
		t.Fatal(err)
	}
	approved := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(approved.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: out.Grant.ID, Approver: "bob", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	// One approval of a quorum-2 request decides nothing: nothing announced.
	if _, err := f.approve(viaIntake.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Minute)
	if _, err := f.svc.EscalateDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.svc.ExpireDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	got := f.outbox(h.ID)
	want := []string{
		"request.created@" + viaIntake.ID,
		"request.created@" + denied.ID, "request.decided@" + denied.ID,
		"request.created@" + cancelled.ID, "request.decided@" + cancelled.ID,
		"request.created@" + approved.ID, "request.decided@" + approved.ID, "grant.revoked@" + approved.ID,
		"request.escalated@" + pager.ID,
	}
	// Nothing pending has passed its timeout yet (iam and pager: 24h).
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("outbox:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	f.clock.Advance(24 * time.Hour)
	if _, err := f.svc.ExpireDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	got = f.outbox(h.ID)
	if !slices.Contains(got, "request.expired@"+viaIntake.ID) || !slices.Contains(got, "request.expired@"+pager.ID) {
		t.Fatalf("expiry not announced: %v", got)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedDecisionQueuesNothing(t *testing.T) {
	f := newFixture(t)
	h := f.addHook()
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "carol"); !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("carol: %v", err)
	}
	if _, err := f.approve(r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.approve(r.ID, "bob"); !errors.Is(err, approvals.ErrNotPending) {
		t.Fatalf("second decision: %v", err)
	}
	if got := f.outbox(h.ID); len(got) != 2 {
		t.Fatalf("only the committed changes are queued: %v", got)
	}
}

func TestWebhookBodyDescribesTheRequestAndGrantButNeverTheToken(t *testing.T) {
	f := newFixture(t)
	f.addHook(approvals.EventRequestDecided)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "checkout", "ticket": "OPS-9"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.svc.ClaimWebhookDeliveries(f.ctx, approvals.WebhookClaim{Name: "t", Limit: 10, PerHook: 10, Lease: time.Minute})
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	var body struct {
		ID, Type, Actor string
		AuditSeq        int64 `json:"audit_seq"`
		Data            struct {
			Outcome string
			Request map[string]any
			Grant   map[string]any
		}
	}
	if err := json.Unmarshal(ds[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != fmt.Sprintf("evt_%d", body.AuditSeq) || body.Type != "request.decided" || body.Actor != "alice" || body.Data.Outcome != "approved" {
		t.Fatalf("envelope: %s", ds[0].Body)
	}
	rq, g := body.Data.Request, body.Data.Grant
	if rq["id"] != r.ID || rq["requester"] != "mallory" || rq["template"] != "k8s" || rq["template_title"] != "K8s exec" ||
		rq["status"] != "approved" || rq["decided_by"] != "alice" || rq["ttl"] != "30m0s" || rq["reason"] != r.Reason ||
		rq["metadata"].(map[string]any)["ticket"] != "OPS-9" || rq["application"] != f.app.ID {
		t.Fatalf("request: %v", rq)
	}
	if g["id"] != out.Grant.ID || g["subject"] != "mallory" || g["break_glass"] != false {
		t.Fatalf("grant: %v", g)
	}
	for _, secret := range []string{out.Token, strings.Split(out.Token, ".")[2], string(f.app.Secret), ds[0].Secret} {
		if strings.Contains(string(ds[0].Body), secret) {
			t.Fatalf("a secret is in the body: %s", ds[0].Body)
		}
	}
	if strings.Contains(string(ds[0].Body), `"token"`) {
		t.Fatalf("body names a token: %s", ds[0].Body)
	}
}

func TestWebhookURLAndEventsAreValidated(t *testing.T) {
	for _, u := range []string{"", "example.com/x", "ftp://example.com", "https://", "https://u:p@example.com/", "https://example.com/#frag", "https://exa mple.com/\x1b"} {
		if _, err := approvals.ValidateWebhookURL(u); !errors.Is(err, approvals.ErrInvalid) {
			t.Errorf("url %q accepted: %v", u, err)
		}
	}
	for _, u := range []string{"https://hooks.example/in?x=1", "http://127.0.0.1:8080/hook"} {
		if _, err := approvals.ValidateWebhookURL(u); err != nil {
			t.Errorf("url %q refused: %v", u, err)
		}
	}
	got, err := approvals.ParseWebhookEvents([]string{"grant.revoked, request.created", "grant.revoked"})
	if err != nil || strings.Join(got, ",") != "request.created,grant.revoked" {
		t.Fatalf("events: %v %v", got, err)
	}
	if _, err := approvals.ParseWebhookEvents([]string{"request.*"}); err == nil || !strings.Contains(err.Error(), strings.Join(approvals.WebhookEvents, ", ")) {
		t.Fatalf("unknown event: %v", err)
	}
}

// BenchmarkDecisionLatency measures Approve (synchronous=FULL: one fsync
// per decision) on two databases in the same loop, one with no webhook and
// one with three hooks subscribed to everything (so each decision enqueues
// three deliveries and renders one body), alternating which goes first, so
// the baseline shares the machine's state. Submitting is outside the timing.
// It reports p50 and p99 of each; ns/op is the pair.
func BenchmarkDecisionLatency(b *testing.B) {
	ctx := context.Background()
	base, hooked := benchService(b), benchService(b)
	for i := 0; i < 3; i++ {
		if _, err := hooked.AddWebhook(ctx, "bench", fmt.Sprintf("https://hooks%d.example/in", i), nil); err != nil {
			b.Fatal(err)
		}
	}
	decide := func(svc *approvals.Service) time.Duration {
		b.StopTimer()
		r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: "bench", Metadata: map[string]string{"namespace": "x"}})
		if err != nil {
			b.Fatal(err)
		}
		d, err := svc.Get(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var t0s, t3s []time.Duration
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			t0s = append(t0s, decide(base))
			t3s = append(t3s, decide(hooked))
		} else {
			t3s = append(t3s, decide(hooked))
			t0s = append(t0s, decide(base))
		}
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p int) float64 {
		slices.Sort(ds)
		return float64(ds[(len(ds)-1)*p/100].Microseconds())
	}
	b.ReportMetric(pct(t0s, 50), "p50-µs-0hooks")
	b.ReportMetric(pct(t3s, 50), "p50-µs-3hooks")
	b.ReportMetric(pct(t0s, 99), "p99-µs-0hooks")
	b.ReportMetric(pct(t3s, 99), "p99-µs-3hooks")
}

// benchService is a database with one template (k8s, group sre) and alice in sre.
func benchService(b *testing.B) *approvals.Service {
	b.Helper()
	ctx := context.Background()
	db := newBackend(b).open(b)
	svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test"})
	if _, err := svc.Init(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateApplication(ctx, "bench", "payments", "https://payments.test"); err != nil {
		b.Fatal(err)
	}
	if err := svc.AddApprover(ctx, "bench", approvals.Approver{Login: "alice", Name: "Alice Example", Groups: []string{"sre"}}); err != nil {
		b.Fatal(err)
	}
	if err := svc.AddTemplate(ctx, "bench", approvals.Template{Key: "k8s", AppID: "payments", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"},
		Fields: []approvals.MetadataField{{Name: "namespace", Required: true}}}); err != nil {
		b.Fatal(err)
	}
	return svc
}

func TestDeniedWebhookTellsTheRequesterWhy(t *testing.T) {
	f := newFixture(t)
	f.addHook(approvals.EventRequestDecided)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "checkout"})
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: r.ID, Approver: "alice", Digest: f.detail(r.ID).Digest, Comment: "use the read-only role"}); err != nil {
		t.Fatal(err)
	}
	ds, err := f.svc.ClaimWebhookDeliveries(f.ctx, approvals.WebhookClaim{Name: "t", Limit: 10, PerHook: 10, Lease: time.Minute})
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	var body struct {
		Data struct {
			Outcome  string
			Decision struct{ Outcome, By, At, Comment string }
		}
	}
	if err := json.Unmarshal(ds[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	d := body.Data.Decision
	if body.Data.Outcome != "denied" || d.Outcome != "denied" || d.By != "alice" || d.Comment != "use the read-only role" || d.At == "" {
		t.Fatalf("decision in the webhook: %+v", body.Data)
	}
}
