package ui

import (
	"context"
	"errors"
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

// confirmPhase is what the confirm screen is waiting for, if anything.
type confirmPhase int

const (
	phaseIdle      confirmPhase = iota // waiting for the approver's choice
	phaseChecking                      // asking the agent which key would sign
	phaseSigning                       // the agent signs (esc cancels: nothing is recorded)
	phaseRecording                     // the Service records the decision
)

// confirmScreen is the last summary before a decision is written. Nothing is
// written before it (see confirmBox). If the request is decided elsewhere
// while it is open, it says so at once, on the live change.
//
// When the session can reach an SSH agent, the screen asks it on opening
// which of the approver's keys would sign, and says so; on confirm the
// decision is signed with that key first, then recorded with the
// signature. A template that requires key signatures refuses the decision
// up front when no key can sign.
type confirmScreen struct {
	ctx   *Context
	uid   int
	dec   decision
	box   confirmBox
	key   keyPlan
	phase confirmPhase
	// signCancel ends the wait for the agent (esc, or its answer came);
	// cancelled says esc was pressed while signing: nothing is recorded.
	signCancel context.CancelFunc
	cancelled  bool
	note       string // replaces the line under the buttons (after a cancelled signature)
	w, h       int
}

// stillOpenMsg is the answer to "can this decision still be taken?",
// asked on every live change while a confirm is open.
type stillOpenMsg struct {
	uid int
	err error
}

func newConfirm(ctx *Context, dec decision) *confirmScreen {
	c := &confirmScreen{ctx: ctx, uid: nextUID(ctx), dec: dec}
	if ctx.KeySource != nil {
		c.key, c.phase, c.box.busy = keyPlan{state: keyChecking}, phaseChecking, true
		return c
	}
	c.key = keyPlan{state: keyNoSource, why: noAgentWords}
	if c.requiresKey() {
		c.box.stop(keyRefusal(c.key.why, ctx.Keys.Back.Help().Key))
	}
	return c
}

// deciding reports whether the decision is under way (being signed or
// recorded): a change elsewhere is then the Service's to judge.
func (c *confirmScreen) deciding() bool { return c.phase == phaseSigning || c.phase == phaseRecording }

// requiresKey reports whether the template refuses decisions that are not
// signed with the approver's SSH key.
func (c *confirmScreen) requiresKey() bool { return c.dec.d.Template.RequireKeySignature }

// Init asks the agent, when there is one, which key would sign.
func (c *confirmScreen) Init() tea.Cmd {
	if c.phase != phaseChecking {
		return nil
	}
	svc, ctx, uid, src, login, session := c.ctx.Service, c.ctx.Ctx, c.uid, c.ctx.KeySource, c.ctx.Login, c.ctx.SessionKey
	return func() tea.Msg {
		return keyProbeMsg{uid: uid, plan: probeKey(ctx, svc, src, login, session)}
	}
}

func (c *confirmScreen) SetSize(w, h int) {
	c.w, c.h = w, h
	c.box.setSize(w, h)
	c.box.setBody(len(c.lines()))
}

func (c *confirmScreen) lines() []string {
	return confirmSummary(c.ctx.Styles, c.dec, c.key, c.ctx.Now(), c.w)
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
	case keyProbeMsg:
		if msg.uid != c.uid || c.phase != phaseChecking {
			return c, nil
		}
		c.key, c.phase, c.box.busy = msg.plan, phaseIdle, false
		if !c.key.usable() && c.requiresKey() && c.box.stopped == "" {
			c.box.stop(keyRefusal(c.key.why, c.ctx.Keys.Back.Help().Key))
		}
		c.box.setBody(len(c.lines()))
		return c, nil
	case keySignedMsg:
		if msg.uid != c.uid || c.phase != phaseSigning {
			return c, nil
		}
		return c, c.signed(msg)
	case decidedMsg:
		if msg.uid != c.uid {
			return c, nil
		}
		c.phase, c.box.busy = phaseIdle, false
		if msg.err != nil {
			c.box.stop(explain(msg.err) + ". Nothing was recorded. esc to go back.")
			return c, nil
		}
		return c, c.done(msg)
	case changedMsg:
		if c.deciding() || c.box.stopped != "" {
			return c, nil
		}
		return c, c.stillOpen()
	case stillOpenMsg:
		if msg.uid == c.uid && msg.err != nil && !c.deciding() && c.box.stopped == "" {
			c.box.stop("Changed elsewhere while you were confirming — " + explain(msg.err) + ". Nothing was recorded by you. esc to go back.")
		}
		return c, nil
	case tea.KeyPressMsg, tea.MouseWheelMsg, tea.MouseClickMsg:
		switch c.box.update(c.ctx.Keys, c.ctx.Styles, msg) {
		case boxCancel:
			switch c.phase {
			case phaseSigning:
				// The signature is abandoned: its answer, whenever it
				// comes, records nothing (see signed).
				if !c.cancelled {
					c.cancelled = true
					c.signCancel()
				}
				return c, nil
			case phaseRecording:
				return c, nil
			}
			return c, tea.Batch(pop(1), status(c.leftNote(), false))
		case boxSubmit:
			return c, c.submit()
		}
	}
	return c, nil
}

// submit takes the decision: signed with the approver's key first when
// one can sign, as today otherwise.
func (c *confirmScreen) submit() tea.Cmd {
	c.note = ""
	if c.key.usable() {
		return c.sign()
	}
	return c.record(nil)
}

// sign asks the agent to sign this decision's statement, for at most
// keySignTimeout; esc ends the wait sooner.
func (c *confirmScreen) sign() tea.Cmd {
	sctx, cancel := context.WithTimeout(c.ctx.Ctx, keySignTimeout)
	c.phase, c.box.busy, c.cancelled, c.signCancel = phaseSigning, true, false, cancel
	svc, uid, src, session, in := c.ctx.Service, c.uid, c.ctx.KeySource, c.ctx.SessionKey, c.statementInput()
	return func() tea.Msg {
		ks, err := signDecision(sctx, svc, src, session, in)
		return keySignedMsg{uid: uid, ks: ks, err: err}
	}
}

// statementInput names the decision the key signs, as the Service will
// record it (for break-glass the grant length is the cap it named).
func (c *confirmScreen) statementInput() approvals.KeyStatementInput {
	dec := c.dec
	in := approvals.KeyStatementInput{RequestID: dec.d.Request.ID, Approver: c.ctx.Login, Digest: dec.d.Digest, Decision: approvals.DecisionDeny}
	if dec.approve {
		in.Decision = approvals.DecisionApprove
		if dec.breakGlass || dec.ttl != dec.d.Request.TTL {
			in.TTL = dec.ttl
		}
	}
	return in
}

// signed moves on once the agent answered: records the decision with the
// signature, or says why there is none. After esc nothing is recorded,
// even when the signature arrived just as esc was pressed.
func (c *confirmScreen) signed(msg keySignedMsg) tea.Cmd {
	c.signCancel()
	cancelled := c.cancelled
	c.signCancel, c.cancelled = nil, false
	if msg.err == nil && cancelled {
		msg.err = context.Canceled
	}
	if msg.err == nil {
		return c.record(msg.ks)
	}
	c.phase, c.box.busy = phaseIdle, false
	why := signFailure(msg.err, cancelled)
	if cancelled || errors.Is(msg.err, context.DeadlineExceeded) {
		// Nothing is wrong with the decision: the approver may sign again.
		k := c.ctx.Keys
		c.note = why + ". " + k.Confirm.Help().Key + " to sign again · " + k.Cancel.Help().Key + " to go back"
		c.box.setBody(len(c.lines()))
		return nil
	}
	c.box.stop(why + ". " + c.ctx.Keys.Back.Help().Key + " to go back.")
	return nil
}

// record writes the decision, with ks when it was key-signed.
func (c *confirmScreen) record(ks *approvals.KeySignature) tea.Cmd {
	c.phase, c.box.busy = phaseRecording, true
	svc, ctx, uid, login, dec := c.ctx.Service, c.ctx.Ctx, c.uid, c.ctx.Login, c.dec
	return func() tea.Msg {
		if dec.approve {
			in := approvals.ApproveInput{RequestID: dec.d.Request.ID, Approver: login, Digest: dec.d.Digest, Signature: dec.sig, KeySignature: ks}
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
		req, err := svc.Deny(ctx, approvals.DenyInput{RequestID: dec.d.Request.ID, Approver: login, Digest: dec.d.Digest, Comment: dec.comment, KeySignature: ks})
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

// confirmSummary is the text of the confirm screen, key the key signature
// it will carry. Pure.
func confirmSummary(s *Styles, dec decision, key keyPlan, now time.Time, w int) []string {
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
	add("SSH key", keyLine(key, t.RequireKeySignature))
	return out
}

func (c *confirmScreen) View() string {
	note := c.note
	if note == "" {
		note = "Nothing is recorded until you choose " + c.actionLabel() + "."
	}
	busy := "recording…"
	switch c.phase {
	case phaseChecking:
		busy = "checking your SSH agent…"
	case phaseSigning:
		busy = signingText(c.key, c.cancelled)
	}
	return c.box.view(c.ctx.Styles, c.lines(), c.actionLabel(), note, busy)
}

func (c *confirmScreen) ShortHelp() []key.Binding {
	if c.phase == phaseSigning {
		k := c.ctx.Keys.Cancel
		k.SetHelp(c.ctx.Keys.Cancel.Help().Key, "cancel the signature (nothing is recorded)")
		return []key.Binding{k}
	}
	return c.box.help(c.ctx.Keys, c.actionLabel())
}

func (c *confirmScreen) FullHelp() [][]key.Binding {
	k := c.ctx.Keys
	return [][]key.Binding{{k.Confirm, k.Cancel, k.Focus, k.Press}, {k.Up, k.Down, k.PageUp, k.PageDown}, {k.Help, k.Quit}}
}
