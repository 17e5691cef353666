package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

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
// written before it (see confirmBox). If the request is decided elsewhere
// while it is open, it says so at once, on the live change.
type confirmScreen struct {
	ctx  *Context
	uid  int
	dec  decision
	box  confirmBox
	w, h int
}

// stillOpenMsg is the answer to "can this decision still be taken?",
// asked on every live change while a confirm is open.
type stillOpenMsg struct {
	uid int
	err error
}

func newConfirm(ctx *Context, dec decision) *confirmScreen {
	return &confirmScreen{ctx: ctx, uid: nextUID(ctx), dec: dec}
}

func (c *confirmScreen) SetSize(w, h int) {
	c.w, c.h = w, h
	c.box.setSize(w, h)
	c.box.setBody(len(c.lines()))
}

func (c *confirmScreen) lines() []string {
	return confirmSummary(c.ctx.Styles, c.dec, c.ctx.Now(), c.w)
}

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

// leftNote is what the footer says when the confirm is left without
// deciding: that nothing was recorded, and how to decide after all.
func (c *confirmScreen) leftNote() string {
	switch {
	case c.box.stopped != "":
		return "Nothing was recorded by you."
	case !c.dec.approve:
		return "Not denied: nothing was recorded. To deny, press d on the review again."
	case c.dec.breakGlass:
		return "Break glass not used: nothing was recorded. Your signature is kept: enter, then y, to break glass."
	case c.dec.sig != nil:
		return "Not approved: nothing was recorded. Your signature is kept: press enter, then y, to sign and approve."
	}
	return "Not approved: nothing was recorded. To approve, press a, then y."
}

// stillOpen asks the Service whether this decision can still be taken.
func (c *confirmScreen) stillOpen() tea.Cmd {
	svc, ctx, uid, login, dec := c.ctx.Service, c.ctx.Ctx, c.uid, c.ctx.Login, c.dec
	return func() tea.Msg {
		id := dec.d.Request.ID
		var err error
		if dec.breakGlass {
			_, err = svc.CanBreakGlass(ctx, id, login)
		} else {
			err = svc.CanDecide(ctx, id, login)
		}
		if err == nil {
			var d approvals.Detail
			if d, err = svc.Get(ctx, id); err == nil && d.Digest != dec.d.Digest {
				err = fmt.Errorf("%w", approvals.ErrDigestMismatch)
			}
		}
		return stillOpenMsg{uid: uid, err: err}
	}
}

func (c *confirmScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case decidedMsg:
		if msg.uid != c.uid {
			return c, nil
		}
		c.box.busy = false
		if msg.err != nil {
			c.box.stop(explain(msg.err) + ". Nothing was recorded. esc to go back.")
			return c, nil
		}
		return c, c.done(msg)
	case changedMsg:
		if c.box.busy || c.box.stopped != "" {
			return c, nil
		}
		return c, c.stillOpen()
	case stillOpenMsg:
		if msg.uid == c.uid && msg.err != nil && !c.box.busy && c.box.stopped == "" {
			c.box.stop("Changed elsewhere while you were confirming — " + explain(msg.err) + ". Nothing was recorded by you. esc to go back.")
		}
		return c, nil
	case tea.KeyPressMsg, tea.MouseWheelMsg, tea.MouseClickMsg:
		switch c.box.update(c.ctx.Keys, c.ctx.Styles, msg) {
		case boxCancel:
			if c.box.busy {
				return c, nil
			}
			return c, tea.Batch(pop(1), status(c.leftNote(), false))
		case boxSubmit:
			return c, c.submit()
		}
	}
	return c, nil
}

func (c *confirmScreen) submit() tea.Cmd {
	c.box.busy = true
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
	issued := m.out.Grant != nil || m.out.Token != ""
	// What the split view says when the decided request has left the list
	// and the review beside it moves on to the highlighted one.
	rv.leftNote = "approved " + who + "'s request — token: press v on it in History"
	if !issued {
		rv.leftNote = "your approval of " + who + "'s request is recorded; it needs more approvals"
	}
	if issued && c.dec.breakGlass {
		ts := newTokenScreen(c.ctx, id)
		return tea.Batch(func() tea.Msg { return stackMsg{[]Screen{rv, ts}} }, reloadHeader,
			status(fmt.Sprintf("break-glass: you have access for %s; it waits for post-review by on-call", approvals.FormatDuration(c.dec.ttl)), false))
	}
	if issued {
		ts := newTokenScreen(c.ctx, id)
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
			add("Statement", Inert(dec.sig.Meaning))
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

func (c *confirmScreen) View() string {
	return c.box.view(c.ctx.Styles, c.lines(), c.actionLabel(),
		"Nothing is recorded until you choose "+c.actionLabel()+".", "recording…")
}

func (c *confirmScreen) ShortHelp() []key.Binding { return c.box.help(c.ctx.Keys, c.actionLabel()) }

func (c *confirmScreen) FullHelp() [][]key.Binding {
	k := c.ctx.Keys
	return [][]key.Binding{{k.Confirm, k.Cancel, k.Focus, k.Press}, {k.Up, k.Down, k.PageUp, k.PageDown}, {k.Help, k.Quit}}
}
