package ui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

type bulkDoneMsg struct {
	uid      int
	approved []string
	failures []string
}

// bulkSortedMsg is the Service's answer, per marked request, to "may I
// approve this one in bulk?".
type bulkSortedMsg struct {
	uid     int
	ok      []approvals.Request
	sign    []approvals.Request
	keyed   []approvals.Request // their template requires a key signature
	refused []string            // "request: why" for each one I may not decide
}

// bulkConfirm approves every marked Approve-type request I may decide,
// each on its own, after one confirmation listing them. Before asking it
// leaves out, with the reason, the requests the Service says I may not
// decide (my own, already decided, not eligible) and the Sign and Approve
// ones (they need a signature, one at a time). Requests whose template
// requires a signature with the approver's SSH key are left out too, with
// that reason: a bulk approval is never key-signed (one agent signature,
// maybe a touch, per request belongs on each request's own confirm). With
// nothing left it says so.
type bulkConfirm struct {
	ctx     *Context
	uid     int
	marked  []approvals.Request
	ok      []approvals.Request
	sign    []approvals.Request
	keyed   []approvals.Request
	refused []string
	sorted  bool
	box     confirmBox
	result  *bulkDoneMsg
	w, h    int
}

func newBulkConfirm(ctx *Context, marked []approvals.Request) *bulkConfirm {
	b := &bulkConfirm{ctx: ctx, uid: nextUID(ctx), marked: marked}
	b.box.busy = true
	return b
}

// Init asks the Service which marked requests can be approved in bulk.
func (b *bulkConfirm) Init() tea.Cmd {
	svc, ctx, uid, login, marked := b.ctx.Service, b.ctx.Ctx, b.uid, b.ctx.Login, b.marked
	return func() tea.Msg {
		m := bulkSortedMsg{uid: uid}
		for _, r := range marked {
			if err := svc.CanDecide(ctx, r.ID, login); err != nil {
				m.refused = append(m.refused, fmt.Sprintf("%s (%s, %s): %s", r.ID, Inert(r.Requester), Inert(r.TemplateTitle), explain(err)))
				continue
			}
			if r.TemplateType != approvals.TypeApprove {
				m.sign = append(m.sign, r)
				continue
			}
			d, err := svc.Get(ctx, r.ID)
			if err != nil {
				m.refused = append(m.refused, fmt.Sprintf("%s (%s, %s): %s", r.ID, Inert(r.Requester), Inert(r.TemplateTitle), explain(err)))
				continue
			}
			if d.Template.RequireKeySignature {
				m.keyed = append(m.keyed, r)
				continue
			}
			m.ok = append(m.ok, r)
		}
		return m
	}
}

func (b *bulkConfirm) SetSize(w, h int) {
	b.w, b.h = w, h
	b.box.setSize(w, h)
	b.box.setBody(len(b.lines()))
}

func (b *bulkConfirm) action() string {
	if b.sorted && len(b.ok) == 0 {
		return ""
	}
	return fmt.Sprintf("Approve %d", len(b.ok))
}

func (b *bulkConfirm) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case bulkSortedMsg:
		if msg.uid != b.uid {
			return b, nil
		}
		b.ok, b.sign, b.keyed, b.refused, b.sorted = msg.ok, msg.sign, msg.keyed, msg.refused, true
		b.box.busy = false
		if len(b.ok) == 0 {
			b.box.stop("Nothing to approve in bulk: none of the marked requests is one you can approve without a signature. esc to go back.")
		}
		b.box.setBody(len(b.lines()))
		return b, nil
	case bulkDoneMsg:
		if msg.uid != b.uid {
			return b, nil
		}
		b.box.busy = false
		b.result = &msg
		b.box.stop("Done. esc to go back.")
		b.box.setBody(len(b.lines()))
		return b, status(fmt.Sprintf("approved %d, failed %d", len(msg.approved), len(msg.failures)), len(msg.failures) > 0)
	case tea.KeyPressMsg, tea.MouseWheelMsg, tea.MouseClickMsg:
		if !b.sorted && !isCancel(b.ctx.Keys, msg) {
			return b, nil
		}
		switch b.box.update(b.ctx.Keys, b.ctx.Styles, msg) {
		case boxCancel:
			if b.box.busy && b.sorted {
				return b, nil // approving: wait for the result
			}
			if b.result != nil {
				return b, pop(1)
			}
			return b, tea.Batch(pop(1), status("Nothing was approved: you left the bulk approval.", false))
		case boxSubmit:
			return b, b.submit()
		}
	}
	return b, nil
}

// keyedWords is why a request whose template requires a key signature is
// not approved in bulk.
const keyedWords = "their template requires a signature with your SSH key; open each to approve it on its own"

func isCancel(k *KeyMap, msg tea.Msg) bool {
	km, ok := msg.(tea.KeyPressMsg)
	return ok && key.Matches(km, k.Cancel)
}

func (b *bulkConfirm) submit() tea.Cmd {
	b.box.busy = true
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
			if err == nil && d.Template.RequireKeySignature {
				// Its template came to require a key signature since it
				// was sorted: the Service would refuse it.
				err = errors.New("its template requires a signature with your SSH key; open it to approve it on its own")
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

// lines is the body of the bulk confirm (it scrolls in the box). Pure.
func (b *bulkConfirm) lines() []string {
	s := b.ctx.Styles
	w := max(b.w, 10)
	var lines []string
	row := func(r approvals.Request) string {
		return clip(fmt.Sprintf("  %s  %s for %s  (%s)", cell(Inert(r.Requester), 12), Inert(r.TemplateTitle), approvals.FormatDuration(r.TTL), r.ID), w)
	}
	para := func(st func(...string) string, text string) {
		for _, l := range wrapInert(text, w) {
			lines = append(lines, st(l))
		}
	}
	if !b.sorted {
		return []string{s.Title.Render("Bulk approval"), "", s.Subtle.Render(fmt.Sprintf("Checking the %d marked request(s)…", len(b.marked)))}
	}
	if b.result != nil {
		lines = append(lines, s.Title.Render("Bulk approval"), "", s.OK.Render(fmt.Sprintf("Approved %d request(s).", len(b.result.approved))))
		if len(b.result.failures) > 0 {
			lines = append(lines, "", s.Error.Render(fmt.Sprintf("%d failed (the audit log has every decision):", len(b.result.failures))))
			for _, f := range b.result.failures {
				for _, l := range wrapInert(f, max(w-2, 10)) {
					lines = append(lines, "  "+l)
				}
			}
		}
		return lines
	}
	if len(b.ok) > 0 {
		lines = append(lines, s.Title.Render(fmt.Sprintf("Approve %d marked request(s)?", len(b.ok))), "")
		para(s.Subtle.Render, "Each is approved on its own, for the duration it asks; one failure does not undo the others.")
		lines = append(lines, "")
		for _, r := range b.ok {
			lines = append(lines, row(r))
		}
	} else {
		lines = append(lines, s.Title.Render("Nothing to approve in bulk"))
	}
	if len(b.sign) > 0 {
		lines = append(lines, "")
		para(s.Warn.Render, fmt.Sprintf("Left out %d Sign and Approve request(s): they need your signature, one at a time:", len(b.sign)))
		for _, r := range b.sign {
			lines = append(lines, row(r))
		}
	}
	if len(b.keyed) > 0 {
		lines = append(lines, "")
		para(s.Warn.Render, fmt.Sprintf("Left out %d request(s): %s:", len(b.keyed), keyedWords))
		for _, r := range b.keyed {
			lines = append(lines, row(r))
		}
	}
	if len(b.refused) > 0 {
		lines = append(lines, "")
		para(s.Warn.Render, fmt.Sprintf("Left out %d request(s) you cannot decide:", len(b.refused)))
		for _, f := range b.refused {
			for _, l := range wrapInert(f, max(w-2, 10)) {
				lines = append(lines, "  "+l)
			}
		}
	}
	return lines
}

func (b *bulkConfirm) View() string {
	return b.box.view(b.ctx.Styles, b.lines(), b.action(), "Nothing is approved until you choose "+b.action()+".", map[bool]string{true: "approving…", false: "checking…"}[b.sorted])
}

func (b *bulkConfirm) ShortHelp() []key.Binding {
	return b.box.help(b.ctx.Keys, strings.ToLower(b.action()))
}

func (b *bulkConfirm) FullHelp() [][]key.Binding {
	k := b.ctx.Keys
	return [][]key.Binding{{k.Confirm, k.Cancel, k.Focus, k.Press}, {k.Up, k.Down, k.PageUp, k.PageDown}, {k.Help, k.Quit}}
}
