package ui

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// onCallWorld is the standard world plus on-call: rotation "sre" (alex
// until t0+3h, then bob), rotation "sec" (carol, bob; bob holds it by
// override until t0+45m), template "pager" paging sre and escalating every
// 10m, template "shell" allowing break-glass (30m cap) to the sre group,
// two pager requests (one escalated) and alex's own pending shell request.
// The clock is left at t0+12m (t0+13m after breakGlassAs).
type onCallWorld struct {
	*world
	own, paged, escalated approvals.Request
}

func newOnCallWorld(t testing.TB) *onCallWorld {
	t.Helper()
	w := newWorld(t)
	w.seedStandard()
	ow := &onCallWorld{world: w}
	w.check(w.svc.AddRotation(w.ctx, "test", approvals.Rotation{Name: "sre", Members: []string{"alex", "bob"}, Shift: 4 * time.Hour, Start: t0.Add(-time.Hour)}))
	w.check(w.svc.AddRotation(w.ctx, "test", approvals.Rotation{Name: "sec", Members: []string{"carol", "bob"}, Shift: 12 * time.Hour, Start: t0.Add(-2 * time.Hour)}))
	w.check(w.svc.OverrideOnCall(w.ctx, "test", "sec", "bob", time.Time{}, t0.Add(45*time.Minute)))
	w.check(w.svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "pager", AppID: "payments-api", Title: "Prod deploy in freeze", Type: approvals.TypeApprove,
		OnCall: []string{"sre"}, EscalateAfter: 10 * time.Minute, PendingTimeout: time.Hour,
	}))
	w.check(w.svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "shell", AppID: "payments-api", Title: "Prod root shell", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, BreakGlassMaxTTL: 30 * time.Minute, DefaultTTL: time.Hour, PendingTimeout: 2 * time.Hour,
	}))
	ow.escalated = w.submit("pager", "samir", "Roll back search-indexer 2.14", 0, nil)
	w.clock.Advance(9 * time.Minute)
	ow.paged = w.submit("pager", "jordan", "Ship the checkout timeout fix", 0, nil)
	ow.own = w.submit("shell", "alex", "Payments API down; restart the stuck worker", 0, nil)
	if _, err := w.svc.EscalateDue(w.ctx); err != nil {
		t.Fatal(err)
	}
	return ow
}

// breakGlassAs uses break-glass on a new shell request by login.
func (ow *onCallWorld) breakGlassAs(login, name, reason string) approvals.Outcome {
	w := ow.world
	w.t.Helper()
	r := w.submit("shell", login, "Disk full on ledger-02", 0, nil)
	ttl, err := w.svc.CanBreakGlass(w.ctx, r.ID, login)
	w.check(err)
	d, err := w.svc.Get(w.ctx, r.ID)
	w.check(err)
	sig := signature.TypedSignature(login, name, name, approvals.Meaning(d.Request, d.Template, ttl), w.clock.Now(), d.Digest)
	out, err := w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: r.ID, Approver: login, Digest: d.Digest, BreakGlass: true, Comment: reason, Signature: &sig})
	w.check(err)
	return out
}

func TestGoldenOnCallTab(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			ow := newOnCallWorld(t)
			ow.breakGlassAs("bob", "Bob Okafor", "ledger-02 disk full at 03:10, on-call phone unreachable")
			h := newHarness(t, ow.world, "alex", size[0], size[1])
			h.key("tab", "tab", "tab")
			h.key("end")
			golden(t, fmt.Sprintf("oncall_%dx%d", size[0], size[1]), h.plain())
		})
	}
}

func TestOnCallTabShowsRotationsPagesEscalationsAndPostReview(t *testing.T) {
	ow := newOnCallWorld(t)
	ow.breakGlassAs("bob", "Bob Okafor", "ledger-02 disk full at 03:10, on-call phone unreachable")
	h := newHarness(t, ow.world, "alex", 100, 30)
	mustContain(t, "header", strings.Split(h.plain(), "\n")[0], "● on call: sre", "⚠ 1 break-glass to review")
	h.key("tab", "tab", "tab")
	f := h.plain()
	mustContain(t, "on call", f,
		"jitdesk · on call",
		"sec      bob · override to 14:45",
		"→ carol at 14:45 · in 32m00s",
		"sre      alex (you)",
		"→ bob at 17:00 · in 2h47m",
		"Paging me (2)",
		"escalates in 7m00s", // jordan's: created at 14:09, first step at 14:19
		"Escalated (1)",
		"level 1/1, last",
		"Break-glass to review (1)",
		"bob broke glass for Prod root shell at 14:13 · 30m · active 30m00s",
		"“ledger-02 disk full at 03:10, on-call phone unreachable”",
	)
	// The countdown moves with the clock; at the step the request escalates
	// (the sweeper's write reaches the tab through the change feed).
	ow.clock.Advance(7 * time.Minute)
	h.send(tickMsg{})
	mustContain(t, "at the step", h.plain(), "escalating now")
	if _, err := ow.svc.EscalateDue(ow.ctx); err != nil {
		t.Fatal(err)
	}
	h.send(changedMsg{})
	mustContain(t, "escalated", h.plain(), "Escalated (2)")
	// alex used no break-glass here, but may not review what he did not
	// reach: bob's grant is reviewable by alex (sre), so a/r are offered.
	h.key("end")
	mustContain(t, "review row", h.plain(), "a acknowledge break-glass · r revoke")
}

func TestOnCallHeaderFollowsTheHandOverWithoutAStoreWrite(t *testing.T) {
	ow := newOnCallWorld(t)
	h := newHarness(t, ow.world, "bob", 100, 30)
	if head := strings.Split(h.plain(), "\n")[0]; !strings.Contains(head, "● on call: sec") || strings.Contains(head, "sre") {
		t.Fatalf("bob holds sec by override only: %q", head)
	}
	// 14:45 the override ends (carol takes sec back); 17:00 bob takes sre.
	ow.clock.Set(t0.Add(45 * time.Minute))
	h.send(tickMsg{})
	if head := strings.Split(h.plain(), "\n")[0]; strings.Contains(head, "on call") {
		t.Fatalf("the override ended but the header still says: %q", head)
	}
	ow.clock.Set(t0.Add(3 * time.Hour))
	h.send(tickMsg{})
	mustContain(t, "after the hand-over", strings.Split(h.plain(), "\n")[0], "● on call: sre")
}

func TestOnCallRevokeIsNeverOneKeyAwayAndIsTheReview(t *testing.T) {
	ow := newOnCallWorld(t)
	out := ow.breakGlassAs("alex", "Alex Rivera", "payments down and nobody answers the pager")
	h := newHarness(t, ow.world, "bob", 100, 30)
	h.key("tab", "tab", "tab", "end")
	h.key("r")
	h.key("enter")
	mustContain(t, "empty reason", h.plain(), "a reason is required")
	h.typeText("no incident on record")
	h.key("enter")
	mustContain(t, "confirm", h.plain(), "Revoke this break-glass grant?", "alex loses Prod root shell now", "[ Cancel ]", "[ Revoke ]", "no incident on record")
	h.key("enter") // focus starts on Cancel
	if g := grantOf(t, ow.world, out.Grant.ID); g.Revoked() {
		t.Fatal("enter on the focused Cancel revoked the grant")
	}
	mustContain(t, "back on the tab", h.plain(), "Break-glass to review (1)")
	h.key("r")
	h.typeText("no incident on record")
	h.key("enter", "y")
	g := grantOf(t, ow.world, out.Grant.ID)
	if !g.Revoked() || g.RevokedBy != "bob" || g.ReviewedBy != "bob" || g.ReviewComment != "revoked: no incident on record" {
		t.Fatalf("grant after revoke: %+v", g)
	}
	f := h.plain()
	mustContain(t, "after revoke", f, "Break-glass to review (0)", "revoked alex's break-glass grant")
	if strings.Contains(strings.Split(f, "\n")[0], "break-glass") {
		t.Fatalf("the header still counts it: %q", strings.Split(f, "\n")[0])
	}
}

func TestOnCallUserOfBreakGlassCannotReviewIt(t *testing.T) {
	ow := newOnCallWorld(t)
	ow.breakGlassAs("alex", "Alex Rivera", "payments down and nobody answers the pager")
	h := newHarness(t, ow.world, "alex", 100, 30)
	h.key("tab", "tab", "tab", "end")
	mustContain(t, "own grant", h.plain(), "you used this break-glass grant; someone else has to review it")
	h.key("a")
	mustContain(t, "refused", h.plain(), "you used this break-glass grant")
	if strings.Contains(h.plain(), "acknowledge:") {
		t.Fatal("an input opened for the user's own grant")
	}
}

func TestReviewOffersBreakGlassOnlyWhereTheServiceAllowsIt(t *testing.T) {
	ow := newOnCallWorld(t)
	h := newHarness(t, ow.world, "alex", 100, 30)
	h.send(openReviewMsg{ow.paged.ID}) // someone else's request
	if strings.Contains(h.plain(), "break glass") {
		t.Fatalf("break-glass offered on another's request:\n%s", h.plain())
	}
	h.key("B")
	mustContain(t, "refused", h.plain(), "break-glass is not possible here")
	h.send(openReviewMsg{ow.own.ID})
	mustContain(t, "own", h.plain(), "Break glass: approve it yourself for 30m")
	h.key("B")
	h.typeText("short")
	h.key("enter")
	mustContain(t, "short reason", h.plain(), "say why this cannot wait (at least 10 characters)")
}

func grantOf(t *testing.T, w *world, id string) approvals.Grant {
	t.Helper()
	var g approvals.Grant
	w.check(w.db.View(w.ctx, func(tx approvals.ReadTx) error {
		var err error
		g, err = tx.Grant(id)
		return err
	}))
	return g
}

func TestOSC777BodyIsInertWithoutFieldSeparatorsAndBounded(t *testing.T) {
	hostile := "ev\x1b]52;c;ZXZpbA==\x07il\u202e; rm\x9c" + strings.Repeat("x", 500)
	n := osc777("jit;desk", hostile)
	if !strings.HasPrefix(n, "\x1b]777;notify;jit,desk;") || !strings.HasSuffix(n, "\a") {
		t.Fatalf("not an OSC 777 notify: %q", n)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(n, "\x1b]777;notify;"), "\a")
	if strings.ContainsAny(inner, "\x1b\a\u009c\u202e") || strings.Count(inner, ";") != 1 {
		t.Fatalf("fields not inert or a field was added: %q", inner)
	}
	body := inner[strings.Index(inner, ";")+1:]
	if !strings.HasPrefix(body, `ev\x1b]52,c,ZXZpbA==\ail\u202e, rm\x9c`) {
		t.Fatalf("body does not show what was sent: %q", body)
	}
	if r := []rune(body); len(r) > maxNotifyRunes || r[len(r)-1] != '…' {
		t.Fatalf("body not bounded: %d runes", len(r))
	}
}

func TestNewRequestSendsOneInertOSC777BesideOSC9(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.m.ctx.Bell, h.m.ctx.Notify = false, true
	w.submit("k8s-exec", "ev;il", "x\x1b[2J", 0, map[string]string{"namespace": "search"})
	h.send(changedMsg{})
	var osc9, osc777s []string
	for _, e := range h.effects {
		s := fmt.Sprintf("%v", e)
		switch {
		case strings.Contains(s, "\x1b]777;"):
			osc777s = append(osc777s, s)
		case strings.Contains(s, "\x1b]9;"):
			osc9 = append(osc9, s)
		}
	}
	if len(osc9) != 1 || len(osc777s) != 1 {
		t.Fatalf("%d OSC 9 and %d OSC 777, want one each: %#v", len(osc9), len(osc777s), h.effects)
	}
	// (Requesters are plain identifiers now; the field separator is what
	// a requester can still carry into the notification.)
	if !strings.Contains(osc777s[0], "\x1b]777;notify;jitdesk;ev,il asks for Kubernetes prod exec\a") {
		t.Fatalf("OSC 777: %q", osc777s[0])
	}
	// Quiet: neither.
	h2 := newHarness(t, w, "alex", 100, 30)
	h2.m.ctx.Bell, h2.m.ctx.Notify = false, false
	w.submit("k8s-exec", "grace", "y", 0, map[string]string{"namespace": "search"})
	h2.send(changedMsg{})
	for _, e := range h2.effects {
		if s := fmt.Sprintf("%v", e); strings.ContainsAny(s, "\a\x1b") {
			t.Fatalf("a quiet console sent %q", s)
		}
	}
}

func TestOnCallRenderHelpersKeepEveryFieldInert(t *testing.T) {
	s := NewStyles(true)
	now := t0
	evil := payloadReason
	sh := approvals.Shift{Rotation: evil, Holder: evil, Override: &approvals.Override{Login: evil, Until: now.Add(time.Hour)}, Until: now.Add(time.Hour), Next: evil, NextByOverride: true}
	assertInert(t, "shift", shiftLine(s, now, sh, "alex", 20, 160))
	req := approvals.Request{ID: "r1", Requester: evil, TemplateTitle: evil, CreatedAt: now.Add(-time.Minute)}
	assertInert(t, "request", requestLine(s, now, approvals.PendingEscalation{Request: req, NextEscalation: now.Add(time.Minute), NextLevel: 1, Cap: 2}, 160, true))
	it := approvals.PostReview{Grant: approvals.Grant{ID: "g1", Subject: evil, Scope: evil, IssuedAt: now, ExpiresAt: now.Add(time.Hour), BreakGlass: true},
		Request: req, Reason: evil + "\nsecond line", TTL: time.Hour, CanReview: approvals.ErrNotEligible}
	for _, l := range postReviewLines(s, now, it, 160, false) {
		assertInert(t, "post-review", l)
	}
	w := newWorld(t)
	h := newHarness(t, w, "alex", 160, 48)
	c := newRevokeConfirm(h.m.ctx, it.Grant, it.Request.TemplateTitle, &it, evil)
	c.SetSize(160, 40)
	assertInert(t, "revoke confirm", c.View())
}

// ---- the teatest flow: break-glass self-approval, then its post-review ----

func TestFlowBreakGlassSelfApprovalThenPostReviewAcknowledgement(t *testing.T) {
	ow := newOnCallWorld(t)
	w := ow.world
	tm, p := startProgram(t, w, "alex", 100, 30)
	waitText(t, p, "Needs me (")
	keys(tm, "tab")
	waitText(t, p, "Prod root shell")
	keys(tm, "/")
	tm.Type("root shell")
	keys(tm, "enter")
	waitFrame(t, p, "only alex's request listed", func(f string) bool {
		for _, l := range strings.Split(f, "\n") {
			if strings.HasPrefix(l, "› ") && strings.Contains(l, " alex ") && strings.Contains(f, "filter: root shell") {
				return true
			}
		}
		return false
	})
	keys(tm, "enter")
	waitText(t, p, "Break glass: approve it yourself for 30m")
	keys(tm, "B")
	waitText(t, p, "break glass because:")
	tm.Type("urgent")
	keys(tm, "enter")
	waitText(t, p, "at least 10 characters")
	tm.Type(": payments down, pager unanswered")
	keys(tm, "enter")
	f := waitText(t, p, "BREAK GLASS · sign to approve your own request")
	mustContain(t, "pad", f, "I approve JIT access for alex to Prod root shell for 30m")
	keys(tm, "enter")
	waitText(t, p, "the signature is empty")
	keys(tm, "tab")
	tm.Type("Alex Rivera")
	keys(tm, "enter")
	f = waitText(t, p, "BREAK GLASS: approve your own request?")
	mustContain(t, "confirm", f, "This is break-glass. Nobody else approves it", "urgent: payments down, pager unanswered", "[ Break glass ]")
	keys(tm, "y")
	f = waitText(t, p, "valid — signed by kid")
	mustContain(t, "token", f, "Access token for alex · shell", "BREAK-GLASS, waiting for post-review")
	waitText(t, p, "⚠ 1 break-glass to review")

	d := approvedWithToken(t, w, ow.own.ID)
	v, err := w.svc.VerifyToken(w.ctx, d.Grant.Token, "")
	w.check(err)
	if !v.Claims.JIT.BreakGlass || !d.Grant.BreakGlass || d.Grant.ExpiresAt.Sub(d.Grant.IssuedAt) != 30*time.Minute {
		t.Fatalf("token jit %+v, grant %+v", v.Claims.JIT, d.Grant)
	}
	if sig := storedSignature(t, w, ow.own.ID); sig.Kind != signature.Typed || sig.Approver != "alex" {
		t.Fatalf("stored signature %+v", sig)
	}
	evs, err := w.svc.AuditLog(w.ctx, 0, 20)
	w.check(err)
	used := false
	for _, e := range evs {
		if e.Action == "breakglass.used" && e.Subject == ow.own.ID && e.Actor == "alex" {
			var pl map[string]any
			w.check(json.Unmarshal(e.Payload, &pl))
			used = pl["reason"] == "urgent: payments down, pager unanswered" && pl["grant"] == d.Grant.ID
		}
	}
	if !used {
		t.Fatalf("no breakglass.used audit event with the reason and grant: %+v", evs)
	}
	tm.Quit()

	// bob (sre, so eligible) reviews it in his On call tab.
	tm2, p2 := startProgram(t, w, "bob", 100, 30)
	waitText(t, p2, "⚠ 1 break-glass to review")
	keys(tm2, "tab", "tab", "tab")
	f = waitText(t, p2, "Break-glass to review (1)")
	mustContain(t, "post-review", f, "alex broke glass for Prod root shell", "“urgent: payments down, pager unanswered”")
	keys(tm2, "end")
	waitText(t, p2, "a acknowledge break-glass")
	keys(tm2, "a")
	waitText(t, p2, "acknowledge:")
	keys(tm2, "enter")
	waitText(t, p2, "a comment is required")
	tm2.Type("checked INC-88 timeline; restart was needed")
	keys(tm2, "enter")
	waitText(t, p2, "acknowledged alex's break-glass grant")
	waitFrame(t, p2, "the header count gone and the queue empty", func(f string) bool {
		return !strings.Contains(strings.Split(f, "\n")[0], "break-glass") && strings.Contains(f, "Break-glass to review (0)")
	})
	g := grantOf(t, w, d.Grant.ID)
	if g.ReviewedBy != "bob" || g.ReviewComment != "checked INC-88 timeline; restart was needed" || g.Revoked() {
		t.Fatalf("grant after review: %+v", g)
	}
	if n, _ := w.svc.CountAwaitingReview(w.ctx); n != 0 {
		t.Fatalf("%d still awaiting review", n)
	}
}

// BenchmarkOnCallView renders a full On call tab (every list at its limit)
// at 200×50: what each frame costs while the tab counts down.
func BenchmarkOnCallView(b *testing.B) {
	ow := newOnCallWorld(b)
	for i := 0; i < oncallLimit; i++ {
		ow.submit("pager", fmt.Sprintf("req%02d", i), "Ship the checkout timeout fix", 0, nil)
		ow.breakGlassAs("bob", "Bob Okafor", "ledger-02 disk full at 03:10, on-call phone unreachable")
	}
	h := newHarness(b, ow.world, "alex", 200, 50)
	h.key("tab", "tab", "tab")
	if !strings.Contains(h.plain(), fmt.Sprintf("Break-glass to review (%d", oncallLimit+0)) {
		b.Fatalf("not a full tab:\n%s", h.plain())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = h.m.Content()
	}
}

func TestOnCallClickSelectsThenOpens(t *testing.T) {
	ow := newOnCallWorld(t)
	h := newHarness(t, ow.world, "alex", 100, 30)
	h.key("tab", "tab", "tab")
	// Frame: header, tab line, "On call now", 2 rotations, blank,
	// "Paging me", samir (line 7 of the frame), jordan (line 8).
	lines := strings.Split(h.plain(), "\n")
	if !strings.Contains(lines[8], "jordan") {
		t.Fatalf("jordan is not on line 8:\n%s", h.plain())
	}
	h.send(tea.MouseClickMsg{X: 10, Y: 8, Button: tea.MouseLeft})
	if !strings.HasPrefix(strings.Split(h.plain(), "\n")[8], "› ") {
		t.Fatalf("the click did not select jordan's row:\n%s", h.plain())
	}
	h.send(tea.MouseClickMsg{X: 10, Y: 8, Button: tea.MouseLeft})
	if r, ok := h.m.top().(*reviewScreen); !ok || r.id != ow.paged.ID {
		t.Fatalf("a second click did not open jordan's request: %T", h.m.top())
	}
}

func TestOnCallScrollsToKeepTheSelectedRowAndItsReasonInView(t *testing.T) {
	ow := newOnCallWorld(t)
	for i := 0; i < 12; i++ {
		ow.submit("pager", fmt.Sprintf("req%02d", i), "Ship the checkout timeout fix", 0, nil)
	}
	ow.breakGlassAs("bob", "Bob Okafor", "the last reason on the tab")
	h := newHarness(t, ow.world, "alex", 80, 24)
	h.key("tab", "tab", "tab", "end")
	f := h.plain()
	mustContain(t, "last row", f, "› bob broke glass", "“the last reason on the tab”")
	if n := len(strings.Split(f, "\n")); n != 24 {
		t.Fatalf("frame is %d lines", n)
	}
	h.key("home")
	mustContain(t, "first row", h.plain(), "On call now", "sre      alex (you)")
}
