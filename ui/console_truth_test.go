package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// ---- the keyset window, without Bubble Tea ----

func reqs(prefix string, n int) []approvals.Request {
	out := make([]approvals.Request, n)
	for i := range out {
		out[i] = approvals.Request{ID: fmt.Sprintf("%s%03d", prefix, i)}
	}
	return out
}

func TestKeysetWindowPagesDropFarRowsAndKeepTheCursor(t *testing.T) {
	w := newKeysetWindow(10)
	w.setHeight(3)
	w.apply(pageFirst, reqs("a", 6), true, "", false)
	if !w.atStart || w.atEnd || w.sel != 0 || w.top != 0 {
		t.Fatalf("first page: %+v", w)
	}
	w.move(5)
	if from, to := w.visible(); w.sel != 5 || from != 3 || to != 6 {
		t.Fatalf("move to the last loaded row: sel %d, visible %d..%d", w.sel, from, to)
	}
	if !w.wantNext(2) || w.wantPrev(2) {
		t.Fatal("near the end of what is loaded the next page is wanted, the previous is not (at the start)")
	}
	w.apply(pageNext, reqs("b", 6), true, "", false)
	if len(w.rows) != 10 || w.atStart || w.rows[0].ID != "a002" {
		t.Fatalf("window over max: %d rows from %s, atStart %v", len(w.rows), w.rows[0].ID, w.atStart)
	}
	if r, _ := w.selected(); r.ID != "a005" {
		t.Fatalf("the cursor left its row when far rows were dropped: %s", r.ID)
	}
	w.apply(pageRefresh, append(reqs("z", 2), w.rows...), false, "a005", false)
	if r, _ := w.selected(); r.ID != "a005" || !w.atEnd {
		t.Fatalf("refresh: cursor on %s, atEnd %v", r.ID, w.atEnd)
	}
	w.apply(pageRefresh, reqs("c", 2), false, "gone", true)
	if r, _ := w.selected(); r.ID != "c001" || !w.atStart {
		t.Fatalf("refresh without the kept row: cursor on %s (want clamped to the last row)", r.ID)
	}
	w.reset()
	if _, ok := w.selected(); ok || !w.atStart {
		t.Fatal("reset leaves a selection")
	}
	w.move(1) // nothing to move over: no panic, nothing selected
}

func TestKeysetWindowPrevPageShiftsTheCursorAndTrimsTheTail(t *testing.T) {
	w := newKeysetWindow(8)
	w.setHeight(4)
	w.apply(pageLast, reqs("m", 6), true, "", false)
	if r, _ := w.selected(); r.ID != "m005" || !w.atEnd || w.atStart {
		t.Fatalf("last page: cursor %s atEnd %v atStart %v", r.ID, w.atEnd, w.atStart)
	}
	w.selectRow(0)
	if !w.wantPrev(1) {
		t.Fatal("at the first loaded row of a window not at the start, the previous page is wanted")
	}
	w.apply(pagePrev, reqs("a", 4), false, "", false)
	if r, _ := w.selected(); r.ID != "m000" || !w.atStart || w.atEnd || len(w.rows) != 8 {
		t.Fatalf("prev page: cursor %s atStart %v atEnd %v rows %d", r.ID, w.atStart, w.atEnd, len(w.rows))
	}
}

// ---- pure helpers ----

func TestHintLineKeepsThePrimaryActionAndHelpAtAnyWidth(t *testing.T) {
	s := NewStyles(true)
	k := DefaultKeyMap()
	all := k.Approve
	for _, w := range []int{30, 40, 60, 80, 200} {
		line := ansi.Strip(hintLine(s, append([]key.Binding{all}, k.Deny, k.TTL, k.Back, k.ScrollDown, k.Quit), &k.Help, w))
		if !strings.HasPrefix(line, "a approve") || !strings.HasSuffix(line, "? help") || ansi.StringWidth(line) > w {
			t.Fatalf("width %d: %q", w, line)
		}
	}
	if line := ansi.Strip(hintLine(s, []key.Binding{k.Approve, k.Deny}, &k.Help, 200)); line != "a approve · d deny · ? help" {
		t.Fatalf("wide: %q", line)
	}
	off := k.Deny
	off.SetEnabled(false)
	if line := ansi.Strip(hintLine(s, []key.Binding{k.Approve, off}, nil, 200)); line != "a approve" {
		t.Fatalf("a disabled binding is hinted: %q", line)
	}
}

func TestGrantWordsNeverLetARevokedGrantLookLive(t *testing.T) {
	g := approvals.Grant{IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if got := grantWords(t0, g); !strings.HasPrefix(got, "active until") || !strings.Contains(got, "1h00m left") {
		t.Fatalf("active: %q", got)
	}
	if got := grantWords(t0.Add(2*time.Hour), g); !strings.HasPrefix(got, "expired at") {
		t.Fatalf("expired: %q", got)
	}
	g.RevokedAt, g.RevokedBy, g.RevokeReason = t0.Add(time.Minute), "carol\x1b[2J", "done"
	got := grantWords(t0.Add(2*time.Minute), g)
	if !strings.HasPrefix(got, `REVOKED by carol\x1b[2J at 14:01: done`) || strings.Contains(got, "left") || strings.Contains(got, "active") {
		t.Fatalf("revoked: %q", got)
	}
	g.BreakGlass = true
	if got := grantWords(t0, g); !strings.Contains(got, "BREAK-GLASS, waiting for post-review") {
		t.Fatalf("break-glass: %q", got)
	}
	g.ReviewedAt, g.ReviewedBy = t0, "bob"
	if got := grantWords(t0, g); !strings.Contains(got, "break-glass, acknowledged by bob at 14:00") {
		t.Fatalf("acknowledged: %q", got)
	}
}

func TestRowMarksShowQuorumEscalationAndGrantState(t *testing.T) {
	now := t0
	pend := approvals.Request{Status: approvals.StatusPending, Approvals: 1, Escalation: 2, Quorum: 2}
	if got := rowMarks(now, pend); got != "1/2 ↑2" {
		t.Fatalf("pending: %q", got)
	}
	if got := rowMarks(now, approvals.Request{Status: approvals.StatusPending, Quorum: 2}); got != "" {
		t.Fatalf("plain pending: %q", got)
	}
	if got := rowMarks(now, approvals.Request{Status: approvals.StatusPending, Approvals: 1}); got != "1/?" {
		t.Fatalf("pending without the quorum: %q", got)
	}
	g := approvals.GrantSummary{ExpiresAt: now.Add(time.Hour), BreakGlass: true}
	appr := approvals.Request{Status: approvals.StatusApproved, Grant: &g}
	if got := rowMarks(now, appr); got != "active BG!" {
		t.Fatalf("break-glass: %q", got)
	}
	g.ReviewedAt = now
	if got := rowMarks(now, appr); got != "active BG✓" {
		t.Fatalf("acknowledged break-glass: %q", got)
	}
	if got := rowMarks(now.Add(2*time.Hour), appr); got != "expired BG✓" {
		t.Fatalf("expired: %q", got)
	}
	g.RevokedAt, g.ReviewedAt = now, time.Time{}
	if got := rowMarks(now, appr); got != "REVOKED BG!" {
		t.Fatalf("revoked: %q", got)
	}
	if got := rowMarks(now, approvals.Request{Status: approvals.StatusApproved}); got != "?" {
		t.Fatalf("no grant facts from the store: %q", got)
	}
}

func TestSignatureLinesFitTheWidthAndKeepFieldsInert(t *testing.T) {
	s := NewStyles(true)
	sig := signature.TypedSignature("alex", "Alex \x1b[2JRivera", "Alex Rivera", "I approve \u202eevil", t0, strings.Repeat("a", 64))
	sig.Width, sig.Height = 120, 32
	for _, w := range []int{40, 80, 160} {
		lines := signatureLines(s, sig, w)
		ink := false
		for _, l := range lines {
			assertInert(t, "signature", l)
			if ansi.StringWidth(l) > w {
				t.Fatalf("width %d: line of %d columns: %q", w, ansi.StringWidth(l), l)
			}
			for _, r := range l {
				if r > signature.BlankCell && r <= signature.BlankCell+0xff {
					ink = true
				}
			}
		}
		if !ink {
			t.Fatalf("width %d: the signature draws nothing:\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

// ---- the console ----

// revokeGrant revokes the grant of request id as carol would elsewhere.
func revokeGrant(t *testing.T, w *world, id, by, reason string) {
	t.Helper()
	d, err := w.svc.Get(w.ctx, id)
	w.check(err)
	_, err = w.svc.Revoke(w.ctx, approvals.RevokeInput{ID: d.Grant.ID, Approver: by, Reason: reason})
	w.check(err)
}

func TestReviewOfARevokedGrantSaysRevokedByWhomWhenWhy(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	decided, err := w.svc.List(w.ctx, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 1})
	w.check(err)
	h := newHarness(t, w, "alex", 80, 24)
	h.send(openReviewMsg{decided[0].ID})
	mustContain(t, "live grant", h.plain(), "Grant: active until")
	revokeGrant(t, w, decided[0].ID, "bob", "incident over")
	h.send(changedMsg{})
	f := h.plain()
	mustContain(t, "revoked grant", f, "Grant: REVOKED by bob at 14:00: incident over")
	if strings.Contains(f, "left)") || strings.Contains(f, "active until") {
		t.Fatalf("a revoked grant still counts down:\n%s", f)
	}
}

func TestWideSplitDetailFollowsTheHighlightAndApprovesOnlyWhatIsShown(t *testing.T) {
	w := newWorld(t)
	approve, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 160, 48)
	h.key("enter")
	if r := h.m.top().(*reviewScreen); r.id != approve.ID {
		t.Fatalf("enter opened %s", r.id)
	}
	h.key("down")
	rv, ok := h.m.top().(*reviewScreen)
	if !ok || rv.id != sign.ID || len(h.m.stack) != 1 {
		t.Fatalf("down in the split view: list on %v, detail %T", h.m.queue.win.sel, h.m.top())
	}
	mustContain(t, "detail follows", h.plain(), "Backfill settlement rows", "Prod DB write  SIGN")
	// The wheel over the list moves it; the detail follows at once.
	h.send(tea.MouseWheelMsg{X: 5, Y: 6, Button: tea.MouseWheelUp})
	if rv := h.m.top().(*reviewScreen); rv.id != approve.ID {
		t.Fatalf("after the wheel the detail shows %s, the list %s", rv.id, h.m.queue.win.rows[h.m.queue.win.sel].ID)
	}
	// The detail scrolls with its own keys, the list stays.
	h.key("J")
	if sel, _ := h.m.queue.selected(); sel.ID != approve.ID {
		t.Fatal("J moved the list")
	}
	h.key("a")
	c, ok := h.m.top().(*confirmScreen)
	if !ok || c.dec.d.Request.ID != approve.ID {
		t.Fatalf("a on the shown request: top %T", h.m.top())
	}
}

func TestConfirmSaysDecidedElsewhereOnTheLiveChange(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 80, 24)
	h.key("enter", "a")
	mustContain(t, "confirm", h.plain(), "Approve this access?")
	d, err := w.svc.Get(w.ctx, approve.ID)
	w.check(err)
	_, err = w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: approve.ID, Approver: "bob", Digest: d.Digest})
	w.check(err)
	h.send(changedMsg{}) // no key pressed
	f := h.plain()
	mustContain(t, "decided elsewhere", f, "Changed elsewhere while you were confirming", "approved by bob at 14:00", "Nothing was recorded by you")
	h.key("y") // does nothing now
	if _, ok := h.m.top().(*confirmScreen); !ok {
		t.Fatalf("y after the live change left the confirm: %T", h.m.top())
	}
	h.key("esc")
	mustContain(t, "left", h.plain(), "Nothing was recorded by you.")
}

func TestQQuitsFromEveryScreenWithoutAFocusedField(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	for _, path := range [][]string{{}, {"enter"}, {"enter", "a"}, {"enter", "a", "y"}, {"tab", "tab", "tab"}} {
		h := newHarness(t, w, "bob", 80, 24)
		h.key(path...)
		name := screenName(h.m.top())
		h.key("q")
		if !h.m.closed {
			t.Fatalf("q on %s (after %v) did not quit", name, path)
		}
	}
	// With a text field focused q is typed.
	h := newHarness(t, w, "bob", 80, 24)
	h.key("enter", "d", "q")
	if h.m.closed || !strings.Contains(h.plain(), "deny because: q") {
		t.Fatalf("q in the deny comment quit or was not typed:\n%s", h.plain())
	}
}

func TestLeavingTheConfirmSaysNothingWasRecordedAndHowToApprove(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 80, 24)
	h.key("enter", "a", "enter") // a newcomer presses enter on the focused Cancel
	mustContain(t, "plain approve", h.plain(), "Not approved: nothing was recorded. To approve, press a, then y.")
	// After signing: enter again reaches the confirm, y records.
	h.send(openReviewMsg{sign.ID})
	h.key("a", "tab")
	h.typeText("Alex Rivera")
	h.key("enter", "esc")
	mustContain(t, "after signing", h.plain(), "Not approved: nothing was recorded. Your signature is kept: press enter, then y")
	if _, ok := h.m.top().(*padScreen); !ok {
		t.Fatalf("esc on the confirm after signing: top %T", h.m.top())
	}
	h.key("enter", "y")
	d, err := w.svc.Get(w.ctx, sign.ID)
	w.check(err)
	if d.Request.Status != approvals.StatusApproved {
		t.Fatalf("enter then y after signing: %s", d.Request.Status)
	}
}

func TestOneHintLinePerScreenKeepsHelpAndPrimaryAt80(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 80, 24)
	last := func() string {
		ls := strings.Split(h.plain(), "\n")
		return ls[len(ls)-1]
	}
	check := func(where, primary string) {
		t.Helper()
		l := last()
		if !strings.HasPrefix(l, primary) || !strings.HasSuffix(l, "? help") {
			t.Fatalf("%s: hint line %q (want %q first and ? help last)", where, l, primary)
		}
		if n := strings.Count(h.plain(), " · esc back"); n > 1 {
			t.Fatalf("%s: %d hint lines", where, n)
		}
	}
	check("queue", "enter review")
	h.key("enter")
	check("review", "a approve")
	if strings.Contains(last(), "view token") {
		t.Fatal("v is hinted on a pending request")
	}
	h.key("a")
	check("confirm", "y approve")
	h.key("esc")
	h.send(openReviewMsg{sign.ID})
	check("review sign", "a sign and approve")
	h.key("a")
	check("pad", "enter accept")
	h.key("esc", "esc", "tab", "tab")
	check("history", "enter review · v view token")
}

func TestConfirmScrollsToTheStatementAtTheMinimumSize(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", MinWidth, MinHeight)
	h.key("down", "enter", "a", "tab")
	h.typeText("Alex Rivera")
	h.key("enter")
	f := h.plain()
	mustContain(t, "small confirm", f, "[ Sign and Approve ]", "scroll")
	for range 10 {
		h.key("down")
	}
	mustContain(t, "scrolled", h.plain(), "Statement", "I approve JIT access for", "[ Sign and Approve ]")
}

func TestBulkLeavesOutMyOwnAndSignRequestsAndSaysWhenNothingIsLeft(t *testing.T) {
	w := newWorld(t)
	w.submit("k8s-exec", "alex", "my own", time.Hour, map[string]string{"namespace": "ns"})
	w.submit("prod-db-write", "tomas", "needs a signature", 0, map[string]string{"ticket": "OPS-1"})
	w.clock.Set(t0)
	h := newHarness(t, w, "alex", 100, 30)
	h.key("tab") // All pending lists my own request too
	h.key("space", "space", "A")
	f := h.plain()
	mustContain(t, "nothing", f, "Nothing to approve in bulk", "Left out 1 request(s) you cannot decide", "you asked for this access yourself", "Left out 1 Sign and Approve")
	if strings.Contains(f, "Approve 0") {
		t.Fatalf("asks to approve nothing:\n%s", f)
	}
	h.key("y")
	n, err := w.svc.Count(w.ctx, approvals.RequestQuery{Scope: approvals.ScopePending})
	w.check(err)
	if n != 2 {
		t.Fatalf("%d pending after y on nothing to approve", n)
	}
}

func TestQueueMarksRevokedGrantsAndQuorumProgress(t *testing.T) {
	w := newWorld(t)
	w.check(w.svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "two-man", AppID: "payments-api", Title: "Two-person change", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, Quorum: 2, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: 4 * time.Hour,
	}))
	w.seedStandard()
	two := w.submit("two-man", "mei", "rotate keys", 0, nil)
	d, err := w.svc.Get(w.ctx, two.ID)
	w.check(err)
	_, err = w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: two.ID, Approver: "bob", Digest: d.Digest})
	w.check(err)
	w.clock.Set(t0.Add(2 * time.Minute))
	h := newHarness(t, w, "alex", 100, 30)
	mustContain(t, "quorum", h.plain(), "Two-person change", "1/2")
	decided, err := w.svc.List(w.ctx, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 1})
	w.check(err)
	revokeGrant(t, w, decided[0].ID, "bob", "done")
	h.key("tab", "tab")
	mustContain(t, "history", h.plain(), "REVOKED", "approved bob")
}

func TestReviewDrawsEachApproversSignatureWithStatementAndTime(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 40)
	h.send(openReviewMsg{sign.ID})
	h.key("a", "tab")
	h.typeText("Alex Rivera")
	h.key("enter", "y")
	h.send(openReviewMsg{sign.ID})
	for range 30 {
		h.key("J")
	}
	f := h.plain()
	mustContain(t, "signatures", f, "Signatures", "Alex Rivera (alex) · typed · signed 2026-03-02 14:00:00", "“I approve JIT access for tomas to Prod DB write for 30m")
	if !strings.ContainsAny(f, "⠁⠂⠄⡀⢀⠈⠐⠠⣿") {
		t.Fatalf("no signature drawn:\n%s", f)
	}
}

func TestDisabledApproverIsToldPlainly(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	_, err := w.svc.SetApproverEnabled(w.ctx, "test", "alex", false)
	w.check(err)
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{approve.ID})
	mustContain(t, "disabled", h.plain(), "your approver account is disabled: you can look but not act")
	h.key("a")
	if _, ok := h.m.top().(*reviewScreen); !ok {
		t.Fatalf("a disabled approver reached %T", h.m.top())
	}
}

func TestListsAskAsTheViewer(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	// carol (security) is not an approver of the k8s and DB templates:
	// All pending shows her only zoe's IAM request.
	h := newHarness(t, w, "carol", 100, 30)
	h.key("tab")
	f := h.plain()
	mustContain(t, "carol", f, "All pending (1)", "zoe")
	if strings.Contains(f, "priya") {
		t.Fatalf("carol sees requests that are not hers to see:\n%s", f)
	}
}

func TestOnCallViewChangesNothing(t *testing.T) {
	ow := newOnCallWorld(t)
	ow.breakGlassAs("bob", "Bob Okafor", "ledger-02 disk full, pager unanswered")
	ow.breakGlassAs("bob", "Bob Okafor", "ledger-03 disk full, pager unanswered")
	h := newHarness(t, ow.world, "alex", 100, MinHeight)
	h.key("tab", "tab", "tab")
	h.key("end")
	o := h.m.queue.oncall
	scroll, spans := o.scroll, fmt.Sprint(o.spans)
	_ = h.m.Content()
	_ = h.m.Content()
	if o.scroll != scroll || fmt.Sprint(o.spans) != spans || scroll == 0 {
		t.Fatalf("View changed the tab's state (scroll %d→%d) or never scrolled", scroll, o.scroll)
	}
}

// Goldens of the new states at 80×24 and 160×48.
func TestGoldenTruthfulStates(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			w := newWorld(t)
			_, sign := w.seedStandard()
			decided, err := w.svc.List(w.ctx, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 1})
			w.check(err)
			revokeGrant(t, w, decided[0].ID, "bob", "incident over")
			suffix := fmt.Sprintf("_%dx%d", size[0], size[1])
			h := newHarness(t, w, "alex", size[0], size[1])
			h.key("tab", "tab")
			golden(t, "history_marks"+suffix, h.plain())
			h.key("enter")
			golden(t, "review_revoked"+suffix, h.plain())
			h.key("v")
			h.m.top().(*tokenScreen).d.Grant.Kid = "test-kid-0000" // a fresh key each run
			golden(t, "token_facts_only"+suffix, h.plain())
			h.key("esc", "esc", "tab", "tab")
			h.send(openReviewMsg{sign.ID})
			h.key("a", "tab")
			h.typeText("Alex Rivera")
			h.key("enter")
			golden(t, "confirm_signed"+suffix, h.plain())
			h.key("esc", "esc", "esc")
			h.key("space", "A")
			golden(t, "bulk_nothing"+suffix, h.plain())
		})
	}
}
