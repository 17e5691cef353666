package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

type revokedGrantMsg struct {
	uid int
	err error
}

// reloadGrantMsg tells screens showing a grant to read it again (after a
// revoke this session made; the change feed would tell them a little later).
type reloadGrantMsg struct{}

// revokeConfirm is the last step before a grant is revoked: from the token
// screen, or as a break-glass grant's post-review from the On call tab
// (review non-nil). Revoking is irreversible, so it is never one key away.
type revokeConfirm struct {
	ctx    *Context
	uid    int
	g      approvals.Grant
	title  string // the access, as the request's template names it
	review *approvals.PostReview
	reason string
	box    confirmBox
	w, h   int
}

func newRevokeConfirm(ctx *Context, g approvals.Grant, title string, review *approvals.PostReview, reason string) *revokeConfirm {
	return &revokeConfirm{ctx: ctx, uid: nextUID(ctx), g: g, title: title, review: review, reason: reason}
}

func (c *revokeConfirm) SetSize(w, h int) {
	c.w, c.h = w, h
	c.box.setSize(w, h)
	c.box.setBody(len(c.lines()))
}

func (c *revokeConfirm) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case revokedGrantMsg:
		if msg.uid != c.uid {
			return c, nil
		}
		c.box.busy = false
		if msg.err != nil {
			c.box.stop(explain(msg.err) + ". Nothing was revoked. esc to go back.")
			return c, nil
		}
		text := "revoked " + Inert(c.g.Subject) + "'s grant " + c.g.ID
		if c.review != nil {
			text = "revoked " + Inert(c.g.Subject) + "'s break-glass grant; its review is recorded"
		}
		return c, tea.Batch(pop(1), reloadHeader, func() tea.Msg { return reloadOnCallMsg{} },
			func() tea.Msg { return reloadGrantMsg{} }, status(text, false))
	case tea.KeyPressMsg, tea.MouseWheelMsg, tea.MouseClickMsg:
		switch c.box.update(c.ctx.Keys, c.ctx.Styles, msg) {
		case boxCancel:
			if c.box.busy {
				return c, nil
			}
			return c, tea.Batch(pop(1), status("Not revoked: nothing was recorded; the grant still gives access.", false))
		case boxSubmit:
			return c, c.submit()
		}
	}
	return c, nil
}

func (c *revokeConfirm) submit() tea.Cmd {
	c.box.busy = true
	svc, ctx, uid, login, id, reason, asReview := c.ctx.Service, c.ctx.Ctx, c.uid, c.ctx.Login, c.g.ID, c.reason, c.review != nil
	return func() tea.Msg {
		var err error
		if asReview {
			_, err = svc.RevokeBreakGlass(ctx, id, login, reason)
		} else {
			_, err = svc.Revoke(ctx, approvals.RevokeInput{ID: id, Approver: login, Reason: reason})
		}
		return revokedGrantMsg{uid: uid, err: err}
	}
}

// lines is the body of the revoke confirm. Pure.
func (c *revokeConfirm) lines() []string {
	s := c.ctx.Styles
	g := c.g
	w := max(c.w, 10)
	title := "Revoke this grant?"
	if c.review != nil {
		title = "Revoke this break-glass grant?"
	}
	lines := []string{s.Title.Render(clip(title, w)), ""}
	what := fmt.Sprintf("%s loses %s now; the token stops working.", Inert(g.Subject), Inert(c.title))
	if c.review != nil {
		what = fmt.Sprintf("%s loses %s now; the token stops working and the revocation is recorded as this grant's review.", Inert(g.Subject), Inert(c.title))
	}
	for _, l := range wrapInert(what, w) {
		lines = append(lines, s.Value.Bold(true).Render(l))
	}
	lines = append(lines, "")
	add := func(label, v string) {
		for i, l := range wrapInert(v, max(w-15, 10)) {
			if i == 0 {
				lines = append(lines, kv(s, label, 14, l))
			} else {
				lines = append(lines, strings.Repeat(" ", 15)+l)
			}
		}
	}
	add("Subject", Inert(g.Subject))
	add("Access", Inert(c.title)+" ("+Inert(g.Scope)+")")
	if c.review != nil {
		add("Broke glass", stamp(g.IssuedAt)+" for "+approvals.FormatDuration(c.review.TTL))
		add("Their reason", Inert(c.review.Reason))
	} else {
		add("Issued", stamp(g.IssuedAt))
	}
	add("Now", grantWords(c.ctx.Now(), g))
	add("Your reason", Inert(c.reason))
	add("Grant", g.ID)
	return lines
}

func (c *revokeConfirm) View() string {
	return c.box.view(c.ctx.Styles, c.lines(), "Revoke", "Nothing is revoked until you choose Revoke.", "revoking…")
}

func (c *revokeConfirm) ShortHelp() []key.Binding { return c.box.help(c.ctx.Keys, "Revoke") }

func (c *revokeConfirm) FullHelp() [][]key.Binding {
	k := c.ctx.Keys
	return [][]key.Binding{{k.Confirm, k.Cancel, k.Focus, k.Press}, {k.Up, k.Down, k.PageUp, k.PageDown}, {k.Help, k.Quit}}
}
