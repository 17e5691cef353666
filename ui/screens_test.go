package ui

import (
	"errors"
	"fmt"
	"image/color"
	"reflect"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/keysign"
)

// assertInert checks a rendered frame: the only escape sequences in it are
// our own SGR styling, and no control, C1, bidi, zero-width or separator
// character survives.
func assertInert(t *testing.T, where, frame string) {
	t.Helper()
	for i := 0; i < len(frame); i++ {
		if frame[i] != 0x1b {
			continue
		}
		j := i + 1
		if j >= len(frame) || frame[j] != '[' {
			t.Fatalf("%s: non-CSI escape at byte %d: %q", where, i, frame[i:min(len(frame), i+20)])
		}
		j++
		for j < len(frame) && (frame[j] >= '0' && frame[j] <= '9' || frame[j] == ';' || frame[j] == ':') {
			j++
		}
		if j >= len(frame) || frame[j] != 'm' {
			t.Fatalf("%s: escape that is not SGR at byte %d: %q", where, i, frame[i:min(len(frame), i+20)])
		}
		i = j
	}
	for _, r := range frame {
		if r == '\n' || r == 0x1b {
			continue
		}
		if dangerous(r) {
			t.Fatalf("%s: frame contains %U", where, r)
		}
	}
}

func mustContain(t *testing.T, where, frame string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(frame, w) {
			t.Errorf("%s: frame does not show %q:\n%s", where, w, frame)
		}
	}
}

// TestEveryScreenRendersPayloadsInert walks every screen with requests whose
// reason, requester and metadata carry terminal attacks.
func TestEveryScreenRendersPayloadsInert(t *testing.T) {
	w := newWorld(t)
	approve, sign := w.seedHostile()
	h := newHarness(t, w, "alex", 160, 48)
	check := func(where string, wants ...string) {
		t.Helper()
		f := h.view()
		assertInert(t, where, f)
		mustContain(t, where, f, wants...)
	}
	// Requesters are plain identifiers (the domain refuses controls in
	// them); the reason, metadata and comments carry the payloads.
	visibleReq := "evil"
	rowReq := `rm -rf /\rls -la \x1b]52;c;ZXZpbA==\a`
	check("queue needs me", rowReq, "mallory")
	h.key("tab")
	check("queue all pending", rowReq)
	h.key("tab")
	check("queue history")
	h.key("tab")
	check("on call", "Paging me (0)", "Break-glass to review (0)")
	h.key("tab")
	// Filter: the typed text is shown back inert too.
	h.key("/")
	h.typeText("ev")
	check("queue filtered", rowReq)
	h.key("esc")

	// Review of the Approve-type request: everything in full.
	h.send(openReviewMsg{approve.ID})
	check("review", visibleReq, `rm -rf /\rls -la`, `\x1b]52;c;ZXZpbA==\a`, `\x1b[2J`, `\u009b31m`,
		`admin\u202egnp.exe`, `\x1bPq#0;2;0;0;0\x1b\\`, `\x1b_Gf=100;AAAA\x1b\\`, `a\u200bb\u2066c\u2028d\ufeff`)
	h.key("?")
	check("help", "approve")
	h.key("esc")
	h.key("d")
	h.typeText("no")
	check("review deny input")
	h.key("enter")
	check("deny confirm", visibleReq)
	h.key("esc")
	h.key("a")
	check("approve confirm", visibleReq)
	h.key("y")
	check("token", `"sub": "evil"`)
	if !strings.Contains(h.plain(), "valid — signed by kid") {
		t.Fatalf("token does not verify:\n%s", h.plain())
	}

	// Sign and Approve: the pad shows the meaning with the requester inert.
	h.send(openReviewMsg{sign.ID})
	check("review 2", "mallory", "second line", `\x1b[2J`)
	h.key("a")
	check("pad", "mallory")
	h.key("tab")
	h.typeText("Alex Rivera")
	h.key("enter")
	check("sign confirm", "mallory")
	h.key("esc", "esc", "esc", "esc")

	// Bulk confirm lists marked requests.
	h.key("space")
	h.key("A")
	check("bulk confirm", "mallory", "Left out 1 Sign and Approve", "Nothing to approve in bulk")
}

func TestQueueListsNeedsMeAndMovesAndOpens(t *testing.T) {
	w := newWorld(t)
	approve, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	f := h.plain()
	mustContain(t, "queue", f, "Needs me (3)", "All pending (3)", "History (1)", "priya", "tomas", "mei")
	if strings.Contains(f, "zoe") {
		t.Fatalf("zoe's iam-admin request needs security, not alex:\n%s", f)
	}
	h.key("down")
	if r, _ := h.m.queue.selected(); r.ID != sign.ID {
		t.Fatalf("after down, selected %s, want %s", r.ID, sign.ID)
	}
	h.key("up", "enter")
	rv, ok := h.m.top().(*reviewScreen)
	if !ok || rv.id != approve.ID {
		t.Fatalf("enter should open the review of %s, top is %T", approve.ID, h.m.top())
	}
	mustContain(t, "review", h.plain(), "Debug OOM-killed checkout pods", "INC-4411", "namespace", "checkout", "2h as asked", "Recent requests by priya")
	h.key("esc")
	if len(h.m.stack) != 0 {
		t.Fatal("esc should return to the queue")
	}
	h.key("tab", "tab")
	mustContain(t, "history", h.plain(), "approved bob")
}

func TestQueueMouseWheelAndClickSelect(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(tea.MouseWheelMsg{X: 5, Y: 5, Button: tea.MouseWheelDown})
	if h.m.queue.win.sel != 2 {
		t.Fatalf("wheel down: sel %d, want 2 (last)", h.m.queue.win.sel)
	}
	// Header line 0, tabs line 1, column line 2, rows from line 3.
	h.send(tea.MouseClickMsg{X: 10, Y: 4, Button: tea.MouseLeft})
	if h.m.queue.win.sel != 1 {
		t.Fatalf("click on the second row: sel %d, want 1", h.m.queue.win.sel)
	}
	h.send(tea.MouseClickMsg{X: 10, Y: 4, Button: tea.MouseLeft})
	if r, ok := h.m.top().(*reviewScreen); !ok || r.id != h.m.queue.win.rows[1].ID {
		t.Fatalf("a click on the selected row does not open it: top %T", h.m.top())
	}
	h.key("esc")
	h.send(tea.MouseClickMsg{X: 20, Y: 1, Button: tea.MouseLeft})
	if h.m.queue.tab != tabPending {
		t.Fatalf("click on the second tab: tab %d", h.m.queue.tab)
	}
}

func TestQueueFilterGoesToTheStore(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.key("/")
	h.typeText("heap")
	if len(h.m.queue.win.rows) != 1 || !strings.Contains(h.m.queue.win.rows[0].Reason, "heap") {
		t.Fatalf("filter heap: rows %v", h.m.queue.win.rows)
	}
	h.key("enter")
	mustContain(t, "filter", h.plain(), "filter: heap")
	h.key("esc")
	if len(h.m.queue.win.rows) != 3 {
		t.Fatalf("esc clears the filter: %d rows", len(h.m.queue.win.rows))
	}
}

func TestQueueStalePageIsDropped(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	q := h.m.queue
	stale := pageMsg{uid: q.uid, gen: q.gen - 1, kind: pageFirst, rows: nil, limit: pageSize}
	h.send(stale)
	if len(q.win.rows) != 3 {
		t.Fatalf("a page for an older window replaced the rows: %d", len(q.win.rows))
	}
}

func TestQueueWindowOverManyPages(t *testing.T) {
	w := newWorld(t)
	reqs := make([]approvals.NewRequest, 1000)
	at := make([]time.Time, 1000)
	for i := range reqs {
		reqs[i] = approvals.NewRequest{TemplateKey: "k8s-exec", Requester: fmt.Sprintf("user%04d", i), Reason: "bulk reason", Metadata: map[string]string{"namespace": "ns"}}
		at[i] = t0.Add(-time.Hour).Add(time.Duration(i) * time.Second)
	}
	rs, evs, err := w.svc.PrepareRequests(w.ctx, reqs, at)
	w.check(err)
	w.check(w.db.BulkInsertRequests(w.ctx, rs, evs))
	w.clock.Set(t0)
	h := newHarness(t, w, "alex", 100, 30)
	q := h.m.queue
	h.key("end")
	if r, _ := q.selected(); r.Requester != "user0999" {
		t.Fatalf("end selects %q, want user0999", r.Requester)
	}
	if len(q.win.rows) > maxRows {
		t.Fatalf("window holds %d rows", len(q.win.rows))
	}
	h.key("home")
	if r, _ := q.selected(); r.Requester != "user0000" {
		t.Fatalf("home selects %q", r.Requester)
	}
	for i := 0; i < 60; i++ {
		h.key("pgdown")
	}
	r, _ := q.selected()
	if len(q.win.rows) > maxRows+pageSize {
		t.Fatalf("window grew to %d rows", len(q.win.rows))
	}
	want := min(60*q.listHeight(), 999)
	if r.Requester != fmt.Sprintf("user%04d", want) {
		t.Fatalf("after 60 pgdown selected %s, want user%04d", r.Requester, want)
	}
	for i := 0; i < 60; i++ {
		h.key("pgup")
	}
	if r, _ := q.selected(); r.Requester != "user0000" {
		t.Fatalf("back at the top: %s", r.Requester)
	}
}

func TestReviewShortenTTLNeverLonger(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{approve.ID})
	h.key("t")
	for range 5 {
		h.key("backspace")
	}
	h.typeText("3h")
	h.key("enter")
	mustContain(t, "ttl", h.plain(), "longer than the 2h asked")
	for range 3 {
		h.key("backspace")
	}
	h.typeText("45m")
	h.key("enter")
	mustContain(t, "ttl", h.plain(), "45m (shortened from the 2h asked)")
	h.key("a")
	mustContain(t, "confirm", h.plain(), "priya gets Kubernetes prod exec for 45m", "shortened from 2h")
	h.key("y")
	d, err := w.svc.Get(w.ctx, approve.ID)
	w.check(err)
	if d.Grant == nil || d.Grant.ExpiresAt.Sub(d.Grant.IssuedAt) != 45*time.Minute {
		t.Fatalf("grant %+v, want 45m", d.Grant)
	}
}

func TestConfirmIsNeverOneKeyAway(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{approve.ID})
	h.key("a")
	if _, ok := h.m.top().(*confirmScreen); !ok {
		t.Fatalf("a opens confirm, top is %T", h.m.top())
	}
	// A paste of "y\n" and the opening key again do nothing; enter presses Cancel.
	h.send(tea.PasteMsg{Content: "y\ny\r"})
	h.key("a")
	h.key("enter")
	d, _ := w.svc.Get(w.ctx, approve.ID)
	if d.Request.Status != approvals.StatusPending {
		t.Fatal("approved without confirming")
	}
	if _, ok := h.m.top().(*reviewScreen); !ok {
		t.Fatalf("enter on the focused Cancel goes back, top is %T", h.m.top())
	}
	h.key("a", "tab", "enter")
	d, _ = w.svc.Get(w.ctx, approve.ID)
	if d.Request.Status != approvals.StatusApproved {
		t.Fatalf("tab+enter on Approve: status %s", d.Request.Status)
	}
}

func TestDecisionErrorsInPlainWords(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{approve.ID})
	h.key("a")
	// Decided elsewhere between the review and the confirm.
	d, _ := w.svc.Get(w.ctx, approve.ID)
	_, err := w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: approve.ID, Approver: "bob", Digest: d.Digest})
	w.check(err)
	h.key("y")
	mustContain(t, "confirm error", h.plain(), "already decided: this request was approved by bob at 14:00", "Nothing was recorded")
}

func TestSelfApprovalIsRefusedWithReason(t *testing.T) {
	w := newWorld(t)
	r := w.submit("k8s-exec", "alex", "my own access please", 0, map[string]string{"namespace": "x"})
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{r.ID})
	mustContain(t, "review", h.plain(), "You cannot decide this: you asked for this access yourself")
	h.key("a")
	if _, ok := h.m.top().(*reviewScreen); !ok {
		t.Fatalf("a on a self request must not open anything, top is %T", h.m.top())
	}
}

func TestPadRefusesEmptyTinyAndWrongName(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{sign.ID})
	h.key("a")
	p := h.m.top().(*padScreen)
	h.key("enter")
	mustContain(t, "empty", h.plain(), "the signature is empty")
	// A dot is too small.
	h.key("space", "space")
	h.key("enter")
	mustContain(t, "tiny", h.plain(), "too small")
	h.key("x")
	if len(p.strokes) != 0 {
		t.Fatal("x clears")
	}
	h.key("tab")
	h.typeText("Bob Okafor")
	h.key("enter")
	mustContain(t, "name", h.plain(), "that is not your full name")
	if _, ok := h.m.top().(*padScreen); !ok {
		t.Fatal("a wrong name must not reach confirm")
	}
}

func TestPadKeyboardPenDrawsAndUndoes(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.send(openReviewMsg{sign.ID})
	h.key("a")
	p := h.m.top().(*padScreen)
	h.key("space")
	for range 20 {
		h.key("right")
	}
	for range 6 {
		h.key("down")
	}
	h.key("space")
	if len(p.strokes) != 1 || len(p.strokes[0]) != 27 {
		t.Fatalf("strokes %v", p.strokes)
	}
	sig := p.signature()
	if err := sig.Validate(); err != nil {
		t.Fatalf("keyboard signature invalid: %v", err)
	}
	h.key("u")
	if len(p.strokes) != 0 {
		t.Fatal("u undoes the stroke")
	}
}

func TestLiveChangeRefreshesAndRingsOnce(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	w.submit("k8s-exec", "grace", "Inspect failing readiness probe", 0, map[string]string{"namespace": "search"})
	h.send(changedMsg{})
	mustContain(t, "live", h.plain(), "grace", "Needs me (4)")
	bells := 0
	for _, e := range h.effects {
		if fmt.Sprint(e) == "{\a}" || strings.Contains(fmt.Sprintf("%#v", e), `"\a"`) {
			bells++
		}
	}
	if bells != 1 {
		t.Fatalf("bell rang %d times; effects %#v", bells, h.effects)
	}
	h.send(changedMsg{})
	bells2 := 0
	for _, e := range h.effects {
		if strings.Contains(fmt.Sprintf("%#v", e), `"\a"`) {
			bells2++
		}
	}
	if bells2 != 1 {
		t.Fatalf("a change without a new request rang again")
	}
}

func TestTooSmallSaysHowBig(t *testing.T) {
	w := newWorld(t)
	h := newHarness(t, w, "alex", 50, 12)
	mustContain(t, "small", h.plain(), "at least 60×16", "50×12")
}

func TestTwoPanesWhenWide(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 160, 40)
	h.send(openReviewMsg{approve.ID})
	f := h.plain()
	lines := strings.Split(f, "\n")
	found := false
	for _, l := range lines {
		if strings.Contains(l, "priya") && strings.Contains(l, "│") && strings.Contains(l, "Requester") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no line shows the queue and the review side by side:\n%s", f)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 160 {
			t.Fatalf("line wider than the terminal (%d): %q", n, l)
		}
	}
}

func TestExplainMapsSentinels(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("approve X: %w", &approvals.DecidedError{RequestID: "X", Status: approvals.StatusApproved, By: "bob", At: time.Date(2026, 3, 2, 14, 3, 0, 0, time.UTC)}), "already decided: this request was approved by bob at 14:03"},
		{fmt.Errorf("approve X: %w", approvals.ErrNotPending), "already decided"},
		{fmt.Errorf("x: %w: %w: approver bob is disabled", approvals.ErrNotEligible, approvals.ErrDisabled), "your approver account is disabled: you can look but not act"},
		{fmt.Errorf("approve X: %w at 2026-03-02T14:03:00Z (its pending timeout passed)", approvals.ErrExpired), "expired"},
		{fmt.Errorf("x: %w", approvals.ErrNotEligible), "not an approver"},
		{approvals.ErrSelfApproval, "you asked for this access yourself"},
		{fmt.Errorf("%w: review it again", approvals.ErrDigestMismatch), "changed since you opened it"},
		{fmt.Errorf("%w: %w", approvals.ErrSignatureRequired, signature.ErrEmpty), "signature is empty"},
		{fmt.Errorf("%w: %w", approvals.ErrSignatureRequired, signature.ErrTooSmall), "too small"},
		{fmt.Errorf("invalid input: reason \x1b[2J"), `something went wrong: invalid input: reason \x1b[2J`},
		{errors.New("boom\u202e"), `boom\u202e`},
	}
	for _, c := range cases {
		if got := explain(c.err); !strings.Contains(got, c.want) {
			t.Errorf("explain(%v) = %q, want it to contain %q", c.err, got, c.want)
		}
	}
}

func TestPureHelpers(t *testing.T) {
	now := t0
	if got := countdown(now, now.Add(62*time.Minute+5*time.Second)); got != "1h02m" {
		t.Errorf("countdown = %q", got)
	}
	if got := countdown(now, now.Add(65*time.Second)); got != "1m05s" {
		t.Errorf("countdown = %q", got)
	}
	if got := countdown(now, now.Add(-time.Second)); got != "expired" {
		t.Errorf("countdown = %q", got)
	}
	if got := age(now, now.Add(-3*time.Hour)); got != "3h" {
		t.Errorf("age = %q", got)
	}
	if got := cell("日本語テキスト", 5); got != "日本…" && lipglossWidth(got) != 5 {
		t.Errorf("cell = %q", got)
	}
	if got := fit("a\nb\nc", 10, 2); got != "a\nb" {
		t.Errorf("fit = %q", got)
	}
	r := approvals.Request{CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(4 * time.Minute)}
	if !urgent(now, r) {
		t.Error("4m left is urgent")
	}
	s := NewStyles(true)
	row := renderRow(s, now, approvals.Request{Requester: payloadCR, TemplateTitle: "T", ExpiresAt: now.Add(time.Hour), CreatedAt: now}, queueColumns(100, false), 100, false, false, false)
	assertInert(t, "row", row)
	if lipglossWidth(row) > 100 {
		t.Errorf("row wider than 100: %d", lipglossWidth(row))
	}
	for _, wd := range []int{60, 80, 120, 200} {
		c := queueColumns(wd, false)
		if c.title < 6 {
			t.Errorf("width %d: title column %d", wd, c.title)
		}
	}
	parts := decodeJWTPart("eyJhIjoiXHUwMDFiWzJKIn0") // {"a":"\u001b[2J"}
	assertInert(t, "jwt", strings.Join(parts, "\n"))
}

func TestPastedTextIsInertInInputsAndNeverAnAction(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	// Pasted into the queue (no field focused): nothing happens, not even "q".
	h.send(tea.PasteMsg{Content: "q/aAy\r"})
	if h.m.closed || len(h.m.stack) != 0 || h.m.queue.filtering {
		t.Fatalf("paste acted: closed=%v stack=%d filtering=%v", h.m.closed, len(h.m.stack), h.m.queue.filtering)
	}
	// Pasted into the filter: controls and invisible reordering runes dropped.
	h.key("/")
	h.send(tea.PasteMsg{Content: "he\u202eap\u200b\x1b[2J"})
	if got := h.m.queue.filter.Value(); got != "heap[2J" {
		t.Fatalf("filter value %q", got)
	}
	assertInert(t, "filter echo", h.view())
}

// TestRenderHelpersInertEveryField feeds the pure render helpers values
// whose every string field is hostile, including fields the domain validates
// today (names, titles, keys, audiences): the console must not rely on that.
func TestRenderHelpersInertEveryField(t *testing.T) {
	const bad = "x\x1b]52;c;ZXZpbA==\x07\u202e\u009b2J\r\x7fy"
	const shown = `x\x1b]52;c;ZXZpbA==\a\u202e\u009b2J\r\x7fy`
	s := NewStyles(true)
	req := approvals.Request{
		ID: "01TEST", TemplateKey: bad, AppID: bad, Requester: bad, Reason: bad + "\n" + bad,
		Metadata: map[string]string{bad: bad}, TTL: time.Hour, CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour),
		Status: approvals.StatusPending, TemplateTitle: bad, TemplateType: approvals.TypeSignAndApprove, AppName: bad,
	}
	d := approvals.Detail{
		Request:     req,
		Template:    approvals.Template{Key: bad, Title: bad, Type: approvals.TypeSignAndApprove, Quorum: 2},
		Application: approvals.Application{Name: bad, Audience: bad},
		Reviews: []approvals.Review{{Approver: bad, Decision: approvals.DecisionApprove, Comment: bad, At: t0},
			{Approver: bad, Decision: approvals.DecisionApprove, At: t0, KeySignatureDigest: bad, KeyFingerprint: bad}},
	}
	hist := []approvals.Request{{ID: "01H", Requester: bad, TemplateTitle: bad, Status: approvals.StatusDenied, DecidedBy: bad, CreatedAt: t0}}
	for _, w := range []int{60, 200} {
		check := func(where, frame string) {
			t.Helper()
			assertInert(t, where, frame)
		}
		review := strings.Join(reviewLines(s, t0, d, hist, nil, nil, 0, w), "\n")
		check("review", review)
		if w == 200 {
			mustContain(t, "review", review, shown)
		}
		check("row", renderRow(s, t0, req, queueColumns(w, false), w, false, true, false))
		check("row selected", renderRow(s, t0, req, queueColumns(w, false), w, true, true, false))
		decided := req
		decided.Status, decided.DecidedBy, decided.DecidedAt = approvals.StatusApproved, bad, t0
		check("history row", renderRow(s, t0, decided, queueColumns(w, true), w, false, false, true))
		dd := d
		dd.Request = decided
		check("review decided", strings.Join(reviewLines(s, t0, dd, hist, nil, nil, 0, w), "\n"))
		signing := keyPlan{state: keyReady, describe: bad}
		unusable := keyPlan{state: keyUnusable, why: keyWhy(&keysign.NoMatchingKeyError{Wanted: []string{bad, bad}})}
		failing := keyPlan{state: keyUnusable, why: keyWhy(errors.New(bad))}
		check("confirm approve", strings.Join(confirmSummary(s, decision{approve: true, d: d, ttl: time.Hour}, signing, t0, w), "\n"))
		check("confirm deny", strings.Join(confirmSummary(s, decision{d: d, comment: bad}, unusable, t0, w), "\n"))
		check("confirm agent failure", strings.Join(confirmSummary(s, decision{d: d, comment: bad}, failing, t0, w), "\n"))
		check("key refusal", keyRefusal(unusable.why, "esc")+signFailure(agentError{errors.New(bad)}, false)+signFailure(errors.New(bad), false))
		g := approvals.Grant{ID: "01G", Subject: bad, Audience: bad, Scope: bad, ExpiresAt: t0.Add(time.Hour), RevokedAt: t0, RevokedBy: bad, RevokeReason: bad}
		check("token revoked", strings.Join(tokenLines(s, t0, bad+"."+bad+"."+bad, g, bad, nil, nil, nil, w), "\n"))
		check("token invalid", strings.Join(tokenLines(s, t0, bad, approvals.Grant{Subject: bad}, bad, nil, nil, fmt.Errorf("%w: %s", approvals.ErrUnauthenticated, bad), w), "\n"))
		check("explain", explain(fmt.Errorf("%s: %w", bad, approvals.ErrNotFound))+explain(fmt.Errorf("%w: %s", approvals.ErrInvalid, bad))+explain(errors.New(bad)))
	}
	// The pad and the header show the approver's own name.
	w := newWorld(t)
	h := newHarness(t, w, "alex", 100, 30)
	h.m.ctx.Me = approvals.Approver{Login: "alex", Name: bad}
	h.m.ctx.Login = bad
	assertInert(t, "header", h.view())
	p := newPad(h.m.ctx, d, time.Hour)
	p.SetSize(100, 30)
	assertInert(t, "pad", p.View())
	mustContain(t, "pad", p.View(), shown)
}

func TestLightBackgroundRestylesEverything(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.key("enter")
	h.send(tea.BackgroundColorMsg{Color: color.White})
	if h.m.ctx.Styles.IsDark {
		t.Fatal("styles still dark after a white background")
	}
	light := NewStyles(false)
	for where, ti := range map[string]textinput.Model{"queue filter": h.m.queue.filter, "review input": h.m.top().(*reviewScreen).input} {
		st := ti.Styles()
		if got, want := st.Focused.Prompt.GetForeground(), light.Info.GetForeground(); got != want {
			t.Errorf("%s: prompt colour %v, want the light accent %v", where, got, want)
		}
		if got, want := st.Blurred.Text.GetForeground(), textinput.DefaultStyles(false).Blurred.Text.GetForeground(); got != want {
			t.Errorf("%s: blurred text colour %v, want %v", where, got, want)
		}
	}
}

func TestBulkApproveManyKeepsButtonsOnScreenAndApprovesEach(t *testing.T) {
	w := newWorld(t)
	for i := range 30 {
		w.submit("k8s-exec", fmt.Sprintf("user%02d", i), "bulk", time.Hour, map[string]string{"namespace": "ns"})
	}
	sign := w.submit("prod-db-write", "tomas", "needs a signature", 0, map[string]string{"ticket": "OPS-1"})
	w.clock.Set(t0)
	h := newHarness(t, w, "alex", 80, 24)
	for range 31 {
		h.key("space")
	}
	h.key("A")
	f := h.plain()
	mustContain(t, "bulk confirm", f, "Approve 30 marked request(s)?", "[ Approve 30 ]", "below")
	// The list scrolls above the buttons; its end names what is left out.
	h.key("pgdown", "pgdown", "pgdown")
	mustContain(t, "bulk confirm scrolled", h.plain(), "Left out 1 Sign and Approve", "tomas", "[ Approve 30 ]")
	h.key("y")
	mustContain(t, "bulk result", h.plain(), "Approved 30 request(s).")
	n, err := w.svc.Count(w.ctx, approvals.RequestQuery{Scope: approvals.ScopePending})
	w.check(err)
	if n != 1 {
		t.Fatalf("%d pending after bulk approval, want only the Sign and Approve one", n)
	}
	d, err := w.svc.Get(w.ctx, sign.ID)
	w.check(err)
	if d.Request.Status != approvals.StatusPending {
		t.Fatalf("Sign and Approve request was bulk-decided: %s", d.Request.Status)
	}
}

func TestConfirmButtonsShowAtTheMinimumSize(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", MinWidth, MinHeight)
	h.key("down", "enter", "a", "tab")
	h.typeText("Alex Rivera")
	h.key("enter")
	mustContain(t, "confirm at minimum size", h.plain(), "[ Sign and Approve ]", "[ Cancel ]")
}

func TestNotifyIsOneInertOSC9AndBellCanBeOff(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.m.ctx.Bell, h.m.ctx.Notify = false, true
	// Requesters and titles are plain text now (the domain refuses
	// controls in them); notifyText itself is checked with payloads below.
	w.submit("k8s-exec", "grace", "x", 0, map[string]string{"namespace": "search"})
	h.send(changedMsg{})
	var raws []string
	for _, e := range h.effects {
		s := fmt.Sprintf("%v", e)
		if strings.Contains(s, "\x1b]9;") {
			raws = append(raws, s)
		}
		if strings.Contains(s, "\a") && !strings.Contains(s, "\x1b]9;") && !strings.Contains(s, "\x1b]777;") {
			t.Fatalf("bell rang with Bell off: %q", s)
		}
	}
	if len(raws) != 1 {
		t.Fatalf("%d notifications, want 1: %#v", len(raws), h.effects)
	}
	n := raws[0]
	body := n[strings.Index(n, "\x1b]9;")+4:]
	body = strings.TrimRight(body, "}")
	body = strings.TrimSuffix(body, "\a")
	if strings.ContainsAny(body, "\x1b\a\u202e") || !strings.Contains(body, "jitdesk: grace asks for Kubernetes prod exec") {
		t.Fatalf("notification body: %q", body)
	}
	if got := notifyText("ev\x1b]52;c;ZXZpbA==\x07il\u202e"); strings.ContainsAny(got, "\x1b\a\u202e") || got != `ev\x1b]52;c;ZXZpbA==\ail\u202e` {
		t.Fatalf("notifyText not inert: %q", got)
	}
}

func TestTokenCopyPutsExactlyTheTokenOnTheClipboard(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	h := newHarness(t, w, "alex", 80, 24)
	h.key("enter", "a", "y")
	ts, ok := h.m.top().(*tokenScreen)
	if !ok || ts.token == "" {
		t.Fatalf("no token screen after approving: %T", h.m.top())
	}
	shown := ts.token
	h.effects = nil
	h.key("c")
	var copied []string
	for _, e := range h.effects {
		if reflect.TypeOf(e).String() == "tea.setClipboardMsg" {
			copied = append(copied, fmt.Sprint(e))
		}
	}
	g, err := w.svc.RevealToken(w.ctx, approvals.RevealInput{ID: approve.ID, Viewer: "alex", Use: approvals.TokenShown})
	w.check(err)
	if len(copied) != 1 || copied[0] != g.Token || shown != g.Token {
		t.Fatalf("clipboard got %q, want the grant's token", copied)
	}
	mustContain(t, "copied", h.plain(), "token copied to the clipboard (OSC 52)")
}

// In History a one- or two-character filter says it searched only the
// newest ShortFilterWindow decided requests; three characters search all
// and the line says nothing of a window.
func TestHistoryShortFilterSaysItSearchedOnlyTheNewestWindow(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 120, 30)
	h.key("tab")
	h.key("tab")
	if h.m.queue.tab != tabHistory {
		t.Fatalf("two tabs from Needs me should be History, at %v", h.m.queue.tab)
	}
	h.key("/")
	h.typeText("al")
	h.key("enter")
	mustContain(t, "short filter", h.plain(), "newest 10,000 only; type 3+ characters to search all history")
	h.key("/")
	h.typeText("e")
	h.key("enter")
	if strings.Contains(h.plain(), "newest 10,000") {
		t.Fatalf("a three-character filter searches all history, but the screen says otherwise:\n%s", h.plain())
	}
	mustContain(t, "long filter", h.plain(), "filter: ale")
}

func TestThousandsSeparatesGroupsOfThree(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 994967: "994,967", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
