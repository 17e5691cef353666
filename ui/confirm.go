package ui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// decision is what the confirm screen is about to record.
type decision struct {
	approve bool
	d       approvals.Detail
	ttl     time.Duration // grant lifetime (approve)
	comment string        // deny reason
	sig     *signature.Signature
	depth   int // screens to close after success (confirm + pad/review…)
	// breakGlass: the requester approving their own request in an
	// emergency, with reason; the Service caps it and queues it for review.
	breakGlass bool
	reason     string
}

type decidedMsg struct {
	uid int
	out approvals.Outcome
	req approvals.Request // deny
	err error
}

// stackMsg replaces the whole screen stack (over the queue).
type stackMsg struct{ screens []Screen }

// confirmScreen is the last summary before a decision is written. Nothing is
// written before it; the focused button starts on Cancel, so the key that
// opened it can never confirm it, and pasted text is ignored.
type confirmScreen struct {
	ctx   *Context
	uid   int
	dec   decision
	focus int // 0 Cancel, 1 the action
	busy  bool
	err   string
	w, h  int
}

func newConfirm(ctx *Context, dec decision) *confirmScreen {
	return &confirmScreen{ctx: ctx, uid: nextUID(ctx), dec: dec}
}

func (c *confirmScreen) SetSize(w, h int) { c.w, c.h = w, h }

func (c *confirmScreen) actionLabel() string {
	switch {
	case !c.dec.approve:
		return "Deny"
	case c.dec.breakGlass:
		return "Break glass"
	case c.dec.sig != nil:
		return "Sign and Approve"
	}
	return "Approve"
}

func (c *confirmScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := c.ctx.Keys
	switch msg := msg.(type) {
	case decidedMsg:
		if msg.uid != c.uid {
			return c, nil
		}
		c.busy = false
		if msg.err != nil {
			c.err = explain(msg.err)
			c.focus = 0
			return c, nil
		}
		return c, c.done(msg)
	case tea.KeyPressMsg:
		if c.busy {
			return c, nil
		}
		switch {
		case key.Matches(msg, k.Cancel):
			return c, pop(1)
		case key.Matches(msg, k.Focus):
			if c.err == "" {
				c.focus = 1 - c.focus
			}
		case key.Matches(msg, k.Confirm):
			if c.err == "" {
				return c, c.submit()
			}
		case msg.String() == "enter" || msg.String() == "space":
			if c.focus == 0 || c.err != "" {
				return c, pop(1)
			}
			return c, c.submit()
		}
	case tea.MouseClickMsg:
		// Buttons live on the last line of the view.
		if !c.busy && msg.Button == tea.MouseLeft && c.err == "" {
			if b, ok := c.buttonAt(msg.X, msg.Y); ok {
				if b == 0 {
					return c, pop(1)
				}
				if c.focus == 1 {
					return c, c.submit()
				}
				c.focus = 1 // the first click focuses, a second confirms
			}
		}
	}
	return c, nil
}

func (c *confirmScreen) submit() tea.Cmd {
	c.busy = true
	svc, ctx, uid, login, dec := c.ctx.Service, c.ctx.Ctx, c.uid, c.ctx.Login, c.dec
	return func() tea.Msg {
		if dec.approve {
			in := approvals.ApproveInput{RequestID: dec.d.Request.ID, Approver: login, Digest: dec.d.Digest, Signature: dec.sig}
			if dec.breakGlass {
				// The grant length is the Service's cap, which the signed
				// statement already names; no TTL is sent.
				in.BreakGlass, in.Comment = true, dec.reason
				out, err := svc.Approve(ctx, in)
				return decidedMsg{uid: uid, out: out, err: err}
			}
			if dec.ttl != dec.d.Request.TTL {
				in.TTL = dec.ttl
			}
			out, err := svc.Approve(ctx, in)
			return decidedMsg{uid: uid, out: out, err: err}
		}
		req, err := svc.Deny(ctx, approvals.DenyInput{RequestID: dec.d.Request.ID, Approver: login, Digest: dec.d.Digest, Comment: dec.comment})
		return decidedMsg{uid: uid, req: req, err: err}
	}
}

// done moves on after a recorded decision: to the token when the approval
// completed the quorum, back to the review when more approvals are needed,
// back to the queue after a deny.
func (c *confirmScreen) done(m decidedMsg) tea.Cmd {
	id := c.dec.d.Request.ID
	who := Inert(c.dec.d.Request.Requester)
	if !c.dec.approve {
		return tea.Batch(func() tea.Msg { return stackMsg{} }, status("denied "+who+"'s request", false))
	}
	rv := newReview(c.ctx, id)
	if m.out.Token != "" && c.dec.breakGlass {
		ts := newTokenScreen(c.ctx, id, m.out.Token)
		return tea.Batch(func() tea.Msg { return stackMsg{[]Screen{rv, ts}} }, reloadHeader,
			status(fmt.Sprintf("break-glass: you have access for %s; it waits for post-review by on-call", approvals.FormatDuration(c.dec.ttl)), false))
	}
	if m.out.Token != "" {
		ts := newTokenScreen(c.ctx, id, m.out.Token)
		return tea.Batch(func() tea.Msg { return stackMsg{[]Screen{rv, ts}} },
			status(fmt.Sprintf("approved: %s has access for %s", who, approvals.FormatDuration(c.dec.ttl)), false))
	}
	rv.notice = fmt.Sprintf("Your approval is recorded; %d more approval(s) needed.", m.out.Remaining)
	return tea.Batch(func() tea.Msg { return stackMsg{[]Screen{rv}} }, status("approval recorded", false))
}

// confirmSummary is the text of the confirm screen. Pure.
func confirmSummary(s *Styles, dec decision, now time.Time, w int) []string {
	req, t := dec.d.Request, dec.d.Template
	var out []string
	add := func(label, v string) {
		for i, l := range wrapInert(v, max(w-15, 10)) {
			if i == 0 {
				out = append(out, kv(s, label, 14, l))
			} else {
				out = append(out, strings.Repeat(" ", 15)+l)
			}
		}
	}
	if dec.approve && dec.breakGlass {
		out = append(out, s.Error.Render(clip("BREAK GLASS: approve your own request?", w)), "")
		plain := fmt.Sprintf("This is break-glass. Nobody else approves it: you give yourself %s for %s now. It is signed, marked break-glass in the token and the audit log, and waits for review by on-call, who may revoke it.",
			Inert(t.Title), approvals.FormatDuration(dec.ttl))
		for _, l := range wrapInert(plain, w) {
			out = append(out, s.Value.Bold(true).Render(l))
		}
		out = append(out, "")
		add("Access", Inert(t.Title)+" ("+Inert(t.Key)+")")
		add("Duration", approvals.FormatDuration(dec.ttl)+" (the break-glass cap)")
		add("Until", stamp(now.Add(dec.ttl))+" if confirmed now")
		add("Reason", Inert(dec.reason))
		add("Request", req.ID)
		if dec.sig != nil {
			add("Signature", string(dec.sig.Kind)+" by "+Inert(dec.sig.PrintedName)+" at "+stamp(dec.sig.SignedAt))
		}
	} else if dec.approve {
		out = append(out, s.Title.Render("Approve this access?"), "")
		head := fmt.Sprintf("%s gets %s for %s", Inert(req.Requester), Inert(t.Title), approvals.FormatDuration(dec.ttl))
		for _, l := range wrapInert(head, w) {
			out = append(out, s.Value.Bold(true).Render(l))
		}
		out = append(out, "")
		add("Requester", Inert(req.Requester))
		add("Access", Inert(t.Title)+" ("+Inert(t.Key)+")")
		add("Application", Inert(dec.d.Application.Name))
		dur := approvals.FormatDuration(dec.ttl)
		if dec.ttl != req.TTL {
			dur += " (shortened from " + approvals.FormatDuration(req.TTL) + ")"
		}
		add("Duration", dur)
		add("Until", stamp(now.Add(dec.ttl))+" if approved now")
		add("Request", req.ID)
		n := len(dec.d.ApprovedBy()) + 1
		if n < t.Quorum {
			add("Quorum", fmt.Sprintf("your approval is %d of %d; no token until the quorum is met", n, t.Quorum))
		} else {
			add("Quorum", fmt.Sprintf("your approval completes it (%d of %d): a token is issued", n, t.Quorum))
		}
		if dec.sig != nil {
			add("Signature", string(dec.sig.Kind)+" by "+Inert(dec.sig.PrintedName)+" at "+stamp(dec.sig.SignedAt))
			add("Statement", Inert(dec.sig.Meaning))
		}
	} else {
		out = append(out, s.Title.Render("Deny this request?"), "")
		add("Requester", Inert(req.Requester))
		add("Access", Inert(t.Title)+" ("+Inert(t.Key)+")")
		add("Request", req.ID)
		add("Comment", Inert(dec.comment))
	}
	return out
}

func buttons(s *Styles, labels []string, focus int) string {
	var bs []string
	for i, l := range labels {
		st := s.Button
		if i == focus {
			st = s.ButtonOn
		}
		bs = append(bs, st.Render("[ "+l+" ]"))
	}
	return strings.Join(bs, "  ")
}

// summary is the part of the summary that fits above the buttons: on a
// small terminal its tail is cut (marked …) so the buttons and the hint
// always show.
func (c *confirmScreen) summary() []string {
	lines := confirmSummary(c.ctx.Styles, c.dec, c.ctx.Now(), c.w)
	room := c.h - 4 // blank, buttons, blank, hint
	if c.err != "" {
		room -= len(wrapInert(c.err, c.w)) + 1
	}
	if c.h > 0 && len(lines) > room {
		lines = append(lines[:max(room-1, 1)], c.ctx.Styles.Subtle.Render("…"))
	}
	return lines
}

func (c *confirmScreen) buttonLine() int {
	return len(c.summary()) + 1
}

func (c *confirmScreen) buttonAt(x, y int) (int, bool) {
	if y != c.buttonLine() {
		return 0, false
	}
	w0 := lipgloss.Width(buttons(c.ctx.Styles, []string{"Cancel"}, 1))
	if x < w0 {
		return 0, true
	}
	return 1, true
}

func (c *confirmScreen) View() string {
	s := c.ctx.Styles
	lines := c.summary()
	lines = append(lines, "", buttons(s, []string{"Cancel", c.actionLabel()}, c.focus))
	switch {
	case c.busy:
		lines = append(lines, "", s.Subtle.Render("recording…"))
	case c.err != "":
		lines = append(lines, "")
		for _, l := range wrapInert(c.err, c.w) {
			lines = append(lines, s.Error.Render(l))
		}
		lines = append(lines, s.Subtle.Render("Nothing was recorded. esc to go back."))
	default:
		lines = append(lines, "", s.Subtle.Render(clip("tab/←/→ choose · enter press the chosen button · y "+strings.ToLower(c.actionLabel())+" · esc cancel", c.w)))
	}
	return strings.Join(lines, "\n")
}

func (c *confirmScreen) ShortHelp() []key.Binding {
	k := c.ctx.Keys
	return []key.Binding{k.Focus, k.Confirm, k.Cancel}
}

func (c *confirmScreen) FullHelp() [][]key.Binding {
	return [][]key.Binding{c.ShortHelp(), {c.ctx.Keys.Help}}
}

// ---- bulk approval ----

type bulkDoneMsg struct {
	uid      int
	approved []string
	failures []string
}

// bulkConfirm approves every marked Approve-type request, each on its own,
// after one confirmation listing them. Sign and Approve requests are listed
// as skipped and never approved here.
type bulkConfirm struct {
	ctx     *Context
	uid     int
	ok      []approvals.Request
	skipped []approvals.Request
	focus   int
	busy    bool
	result  *bulkDoneMsg
	w, h    int
}

func newBulkConfirm(ctx *Context, marked []approvals.Request) *bulkConfirm {
	b := &bulkConfirm{ctx: ctx, uid: nextUID(ctx)}
	for _, r := range marked {
		if r.TemplateType == approvals.TypeApprove {
			b.ok = append(b.ok, r)
		} else {
			b.skipped = append(b.skipped, r)
		}
	}
	return b
}

func (b *bulkConfirm) SetSize(w, h int) { b.w, b.h = w, h }

func (b *bulkConfirm) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := b.ctx.Keys
	switch msg := msg.(type) {
	case bulkDoneMsg:
		if msg.uid == b.uid {
			b.busy = false
			b.result = &msg
			return b, status(fmt.Sprintf("approved %d, failed %d", len(msg.approved), len(msg.failures)), len(msg.failures) > 0)
		}
	case tea.KeyPressMsg:
		if b.busy {
			return b, nil
		}
		if b.result != nil || len(b.ok) == 0 {
			if key.Matches(msg, k.Cancel) || msg.String() == "enter" {
				return b, pop(1)
			}
			return b, nil
		}
		switch {
		case key.Matches(msg, k.Cancel):
			return b, pop(1)
		case key.Matches(msg, k.Focus):
			b.focus = 1 - b.focus
		case key.Matches(msg, k.Confirm):
			return b, b.submit()
		case msg.String() == "enter" || msg.String() == "space":
			if b.focus == 0 {
				return b, pop(1)
			}
			return b, b.submit()
		}
	}
	return b, nil
}

func (b *bulkConfirm) submit() tea.Cmd {
	b.busy = true
	svc, ctx, uid, login, reqs := b.ctx.Service, b.ctx.Ctx, b.uid, b.ctx.Login, b.ok
	return func() tea.Msg {
		m := bulkDoneMsg{uid: uid}
		for _, r := range reqs {
			name := fmt.Sprintf("%s (%s, %s)", r.ID, Inert(r.Requester), Inert(r.TemplateTitle))
			d, err := svc.Get(ctx, r.ID)
			if err == nil && !sameAsListed(r, d.Request) {
				err = fmt.Errorf("%w: it changed since it was listed", approvals.ErrDigestMismatch)
			}
			if err == nil && d.Template.Type != approvals.TypeApprove {
				err = errors.New("it needs a signature; open it to sign")
			}
			if err == nil {
				_, err = svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: login, Digest: d.Digest})
			}
			if err != nil {
				m.failures = append(m.failures, name+": "+explain(err))
				continue
			}
			m.approved = append(m.approved, r.ID)
		}
		return m
	}
}

// sameAsListed reports whether the stored request still says what the row
// the approver marked said.
func sameAsListed(listed, now approvals.Request) bool {
	if listed.Requester != now.Requester || listed.Reason != now.Reason || listed.TTL != now.TTL ||
		listed.TemplateKey != now.TemplateKey || len(listed.Metadata) != len(now.Metadata) {
		return false
	}
	for k, v := range listed.Metadata {
		if now.Metadata[k] != v {
			return false
		}
	}
	return true
}

func (b *bulkConfirm) View() string {
	s := b.ctx.Styles
	var lines []string
	row := func(r approvals.Request) string {
		return clip(fmt.Sprintf("  %s  %s for %s  (%s)", cell(Inert(r.Requester), 12), Inert(r.TemplateTitle), approvals.FormatDuration(r.TTL), r.ID), b.w)
	}
	if b.result != nil {
		lines = append(lines, s.Title.Render("Bulk approval"), "")
		lines = append(lines, s.OK.Render(fmt.Sprintf("Approved %d request(s).", len(b.result.approved))))
		if len(b.result.failures) > 0 {
			lines = append(lines, "", s.Error.Render(fmt.Sprintf("%d failed:", len(b.result.failures))))
			var fl []string
			for _, f := range b.result.failures {
				for _, l := range wrapInert(f, max(b.w-2, 10)) {
					fl = append(fl, "  "+l)
				}
			}
			if room := max(b.h-8, 3); len(fl) > room {
				hidden := len(fl) - (room - 1)
				fl = append(fl[:room-1], s.Subtle.Render(fmt.Sprintf("  … %d more line(s); the audit log has every decision", hidden)))
			}
			lines = append(lines, fl...)
		}
		lines = append(lines, "", s.Subtle.Render("enter or esc to go back"))
		return strings.Join(lines, "\n")
	}
	lines = append(lines, s.Title.Render(fmt.Sprintf("Approve %d marked request(s)?", len(b.ok))), "")
	for _, l := range wrapInert("Each is approved on its own, for the duration it asks; one failure does not undo the others.", max(b.w, 10)) {
		lines = append(lines, s.Subtle.Render(l))
	}
	lines = append(lines, "")
	// The list never pushes the buttons off the screen: what does not fit
	// is counted ("… and 12 more"); the title counts every one y approves.
	budget := max(b.h-12, 4)
	okRows := min(len(b.ok), budget)
	if len(b.skipped) > 0 {
		okRows = min(len(b.ok), max(budget-min(len(b.skipped), 3), 2))
	}
	list := func(rs []approvals.Request, n int) {
		n = min(n, len(rs))
		if n < len(rs) {
			n = max(n-1, 1)
		}
		for _, r := range rs[:n] {
			lines = append(lines, row(r))
		}
		if n < len(rs) {
			lines = append(lines, s.Subtle.Render(fmt.Sprintf("  … and %d more", len(rs)-n)))
		}
	}
	list(b.ok, okRows)
	if len(b.skipped) > 0 {
		lines = append(lines, "")
		for _, l := range wrapInert(fmt.Sprintf("Skipped %d Sign and Approve request(s) (they need your signature, one at a time):", len(b.skipped)), max(b.w, 10)) {
			lines = append(lines, s.Warn.Render(l))
		}
		list(b.skipped, max(budget-okRows, 2))
	}
	lines = append(lines, "")
	if len(b.ok) == 0 {
		lines = append(lines, s.Subtle.Render("Nothing to approve in bulk. esc to go back."))
		return strings.Join(lines, "\n")
	}
	lines = append(lines, buttons(s, []string{"Cancel", fmt.Sprintf("Approve %d", len(b.ok))}, b.focus))
	if b.busy {
		lines = append(lines, "", s.Subtle.Render("approving…"))
	} else {
		lines = append(lines, "", s.Subtle.Render("tab choose · enter press · y approve all listed · esc cancel"))
	}
	return strings.Join(lines, "\n")
}

func (b *bulkConfirm) ShortHelp() []key.Binding {
	k := b.ctx.Keys
	return []key.Binding{k.Focus, k.Confirm, k.Cancel}
}

func (b *bulkConfirm) FullHelp() [][]key.Binding { return [][]key.Binding{b.ShortHelp()} }
