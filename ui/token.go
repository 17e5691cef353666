package ui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/jitdesk/jitdesk/approvals"
)

type tokenMsg struct {
	uid      int
	d        approvals.Detail
	refusal  error  // why the token is not shown to me (nil: it is)
	token    string // only when revealed (and audited) by this load
	revealed bool
	verified *approvals.VerifiedToken
	verr     error
	err      error
}

// copiedMsg carries the token for the clipboard after the copy was audited.
type copiedMsg struct {
	uid   int
	token string
	err   error
}

// tokenScreen shows a grant: its facts and state to everyone; the access
// token itself (a bearer secret: wrapped, decoded, verified) only to an
// approver whose approval issued it, through Service.RevealToken, which
// audits each showing and copying. c copies it (OSC 52), r revokes the
// grant after a confirm.
type tokenScreen struct {
	ctx       *Context
	uid       int
	requestID string
	d         approvals.Detail
	token     string
	refusal   error
	verified  *approvals.VerifiedToken
	verr      error
	loaded    bool
	err       string
	revoking  bool
	reason    textinput.Model
	inputErr  string
	scroll    int
	w, h      int
}

func newTokenScreen(ctx *Context, requestID string) *tokenScreen {
	ti := newInput(ctx.Styles)
	ti.Prompt = "revoke because: "
	ti.Placeholder = "required"
	ti.CharLimit = approvals.MaxCommentLen
	return &tokenScreen{ctx: ctx, uid: nextUID(ctx), requestID: requestID, reason: ti}
}

// Init reads the grant and, when the viewer may see it, reveals the token
// (one audited showing per opening).
func (t *tokenScreen) Init() tea.Cmd { return t.load(true) }

func (t *tokenScreen) grant() approvals.Grant {
	if t.d.Grant == nil {
		return approvals.Grant{}
	}
	return *t.d.Grant
}

// load re-reads the grant's facts; reveal also asks for the token. A live
// change re-reads the facts and re-verifies the token already shown
// without showing it again.
func (t *tokenScreen) load(reveal bool) tea.Cmd {
	svc, ctx, uid, id, login, shown := t.ctx.Service, t.ctx.Ctx, t.uid, t.requestID, t.ctx.Login, t.token
	return func() tea.Msg {
		m := tokenMsg{uid: uid}
		m.d, m.err = svc.Get(ctx, id)
		if m.err != nil {
			return m
		}
		if m.d.Grant == nil {
			m.err = fmt.Errorf("no token: the request is %s", m.d.Request.Status)
			if m.d.Request.Status != approvals.StatusPending {
				m.err = errors.New("no token: this request was " + decidedLine(m.d.Request))
			}
			return m
		}
		if m.refusal = svc.MayRevealToken(ctx, id, login); m.refusal != nil {
			return m
		}
		// Only the screen's opening reveals (and audits) the token: a
		// refresh on a change — the reveal's own audit event is one —
		// reuses what was shown, so one look is one token.shown event.
		tok := shown
		if reveal {
			g, err := svc.RevealToken(ctx, approvals.RevealInput{ID: id, Viewer: login, Use: approvals.TokenShown})
			if err != nil {
				m.refusal = err
				return m
			}
			tok, m.revealed = g.Token, true
		}
		m.token = tok
		if tok == "" {
			return m // the opening reveal has not answered yet
		}
		v, verr := svc.VerifyToken(ctx, tok, "")
		if verr == nil {
			m.verified = &v
		}
		m.verr = verr
		return m
	}
}

func (t *tokenScreen) SetSize(w, h int) {
	t.w, t.h = w, h
	sizeInput(&t.reason, w)
	t.clamp()
}

func (t *tokenScreen) capturesKeys() bool { return t.revoking }

// revocable reports whether r may be offered: a live grant, loaded.
func (t *tokenScreen) revocable() bool {
	return t.loaded && t.d.Grant != nil && t.grant().StateAt(t.ctx.Now()) == approvals.GrantActive
}

func (t *tokenScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := t.ctx.Keys
	defer t.clamp()
	switch msg := msg.(type) {
	case tokenMsg:
		if msg.uid != t.uid {
			return t, nil
		}
		if msg.err != nil {
			t.err = explain(msg.err)
			return t, nil
		}
		t.d, t.refusal, t.loaded, t.err = msg.d, msg.refusal, true, ""
		if msg.token != "" {
			t.token, t.verified, t.verr = msg.token, msg.verified, msg.verr
		}
		if !t.revocable() && t.revoking {
			t.revoking = false
			t.reason.Blur()
		}
	case copiedMsg:
		if msg.uid != t.uid {
			return t, nil
		}
		if msg.err != nil {
			return t, status(tokenRefusal(msg.err), true)
		}
		return t, tea.Batch(tea.SetClipboard(msg.token), status("token copied to the clipboard (OSC 52)", false))
	case changedMsg, reloadGrantMsg:
		return t, t.load(false)
	case tea.BackgroundColorMsg:
		restyleInput(&t.reason, t.ctx.Styles)
		return t, nil
	case tea.PasteMsg:
		if t.revoking {
			var cmd tea.Cmd
			t.reason, cmd = updateInput(t.reason, msg)
			return t, cmd
		}
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			t.scroll -= 3
		} else if msg.Button == tea.MouseWheelDown {
			t.scroll += 3
		}
	case tea.KeyPressMsg:
		if t.revoking {
			switch msg.String() {
			case "esc":
				t.revoking = false
				t.reason.Blur()
				return t, status("Not revoked: nothing was recorded.", false)
			case "enter":
				r := strings.TrimSpace(t.reason.Value())
				if r == "" {
					t.inputErr = "a reason is required: " + Inert(t.grant().Subject) + " will see it"
					return t, nil
				}
				t.revoking = false
				t.reason.Blur()
				return t, push(newRevokeConfirm(t.ctx, t.grant(), t.d.Request.TemplateTitle, nil, r))
			}
			var cmd tea.Cmd
			t.reason, cmd = updateInput(t.reason, msg)
			t.inputErr = ""
			return t, cmd
		}
		switch {
		case key.Matches(msg, k.Back):
			return t, pop(1)
		case key.Matches(msg, k.Copy):
			if t.token == "" {
				if t.refusal != nil {
					return t, status(tokenRefusal(t.refusal), true)
				}
				return t, nil
			}
			svc, ctx, uid, id, login := t.ctx.Service, t.ctx.Ctx, t.uid, t.requestID, t.ctx.Login
			return t, func() tea.Msg {
				g, err := svc.RevealToken(ctx, approvals.RevealInput{ID: id, Viewer: login, Use: approvals.TokenCopied})
				return copiedMsg{uid: uid, token: g.Token, err: err}
			}
		case key.Matches(msg, k.Revoke):
			if t.revocable() {
				t.revoking = true
				t.inputErr = ""
				t.reason.SetValue("")
				return t, t.reason.Focus()
			}
		case key.Matches(msg, k.Up), key.Matches(msg, k.ScrollUp):
			t.scroll--
		case key.Matches(msg, k.Down), key.Matches(msg, k.ScrollDown):
			t.scroll++
		case key.Matches(msg, k.PageUp):
			t.scroll -= t.h - 2
		case key.Matches(msg, k.PageDown):
			t.scroll += t.h - 2
		case key.Matches(msg, k.Home):
			t.scroll = 0
		}
	}
	return t, nil
}

// clamp keeps the scroll inside the content (run after every change, so
// View only reads it).
func (t *tokenScreen) clamp() {
	n := 0
	if t.loaded && t.err == "" {
		n = len(t.lines())
	}
	t.scroll = min(max(t.scroll, 0), max(n-t.avail(), 0))
}

func (t *tokenScreen) avail() int {
	foot := 0
	if t.revoking {
		foot = 2
	}
	return max(t.h-foot, 1)
}

func (t *tokenScreen) lines() []string {
	return tokenLines(t.ctx.Styles, t.ctx.Now(), t.token, t.grant(), t.d.Request.TemplateTitle, t.refusal, t.verified, t.verr, t.w)
}

// decodeJWTPart decodes one base64url JWT segment and pretty-prints its JSON
// for display; every line is made inert (claims carry the requester's
// reason and metadata).
func decodeJWTPart(seg string) []string {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return []string{"(not base64url: " + Inert(err.Error()) + ")"}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return []string{Inert(string(raw))}
	}
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = inertJSON(l) + timeNote(l)
	}
	return lines
}

// timeNote annotates a top-level NumericDate claim line ("exp": 1795893818,)
// with the time it means, e.g. "  (2026-11-28 19:23:38)".
func timeNote(line string) string {
	t := strings.TrimSpace(line)
	for _, c := range []string{`"exp": `, `"iat": `, `"nbf": `, `"auth_time": `} {
		if !strings.HasPrefix(line, "  "+c) || !strings.HasPrefix(t, c) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(t, c), ","), 10, 64)
		if err != nil || n <= 0 || n > 253402300799 {
			return ""
		}
		return "  (" + stamp(time.Unix(n, 0)) + ")"
	}
	return ""
}

// chunk cuts a string without spaces (a token) into lines of exactly w
// columns (the last may be shorter), so lines read off the screen join back
// into the token. s must be inert.
func chunk(s string, w int) []string {
	var out []string
	var b strings.Builder
	n := 0
	for _, r := range s {
		rw := 1
		if r >= 0x80 {
			rw = max(ansi.StringWidth(string(r)), 1)
		}
		if n+rw > w && n > 0 {
			out = append(out, b.String())
			b.Reset()
			n = 0
		}
		b.WriteRune(r)
		n += rw
	}
	if b.Len() > 0 || len(out) == 0 {
		out = append(out, b.String())
	}
	return out
}

// tokenLines lays out a token screen's content at width w: the grant's
// facts and state for everyone, then the token (only when shown: token is
// "" otherwise, and refusal says why). Pure.
func tokenLines(s *Styles, now time.Time, token string, g approvals.Grant, title string, refusal error, v *approvals.VerifiedToken, verr error, w int) []string {
	var out []string
	out = append(out, s.Title.Render(clip("Access token for "+Inert(g.Subject)+" · "+Inert(g.Scope), w)))
	state := grantWords(now, g)
	switch g.StateAt(now) {
	case approvals.GrantRevoked:
		for _, l := range wrapInert(state, w) {
			out = append(out, s.Error.Render(l))
		}
		out = append(out, clip("no longer valid (revoked); it was to expire "+stamp(g.ExpiresAt), w))
	case approvals.GrantExpired:
		out = append(out, s.Warn.Render(clip(state, w)))
	default:
		if g.BreakGlass && !g.Acknowledged() {
			out = append(out, s.Warn.Render(clip(state, w)))
		} else {
			out = append(out, s.OK.Render(clip(state, w)))
		}
	}
	switch {
	case token == "":
	case verr != nil:
		for _, l := range wrapInert("invalid — "+explain(verr), w) {
			out = append(out, s.Error.Render(l))
		}
	case v != nil:
		out = append(out, s.OK.Render(clip(fmt.Sprintf("valid — signed by kid %s (%s)", Inert(v.Kid), Inert(string(v.Alg))), w)))
	}
	if title != "" {
		out = append(out, clip("access "+Inert(title)+" · issued "+stamp(g.IssuedAt)+" · key "+Inert(g.Kid), w))
	}
	out = append(out, clip(fmt.Sprintf("grant %s · audience %s", g.ID, Inert(g.Audience)), w))
	if g.BreakGlass && g.Acknowledged() && g.ReviewComment != "" {
		out = append(out, s.Subtle.Render(clip("post-review: "+Inert(g.ReviewComment), w)))
	}
	out = append(out, "")
	if token == "" {
		if refusal != nil {
			for _, l := range wrapInert(tokenRefusal(refusal), w) {
				out = append(out, s.Warn.Render(l))
			}
		}
		return out
	}
	for _, l := range chunk(Inert(token), max(w, 10)) {
		out = append(out, s.Code.Render(l))
	}
	parts := strings.Split(token, ".")
	if len(parts) == 3 {
		out = append(out, "", s.Label.Render("Header"))
		for _, l := range decodeJWTPart(parts[0]) {
			out = append(out, clip("  "+l, w))
		}
		out = append(out, "", s.Label.Render("Claims"))
		for _, l := range decodeJWTPart(parts[1]) {
			out = append(out, clip("  "+l, w))
		}
	}
	return out
}

func (t *tokenScreen) View() string {
	s := t.ctx.Styles
	if t.err != "" {
		return s.Error.Render(clip(t.err, t.w)) + "\n\n" + s.Subtle.Render("esc to go back")
	}
	if !t.loaded {
		return s.Subtle.Render("loading token…")
	}
	lines := t.lines()
	var foot []string
	if t.revoking {
		foot = append(foot, clip(t.reason.View(), t.w))
		if t.inputErr != "" {
			foot = append(foot, s.Error.Render(clip(t.inputErr, t.w)))
		} else {
			foot = append(foot, s.Subtle.Render("you confirm next; nothing is revoked yet"))
		}
	}
	avail := t.avail()
	start := min(t.scroll, max(len(lines)-avail, 0))
	body := lines[start:min(len(lines), start+avail)]
	if len(foot) > 0 {
		for len(body) < avail {
			body = append(body, "")
		}
	}
	return strings.Join(append(body, foot...), "\n")
}

func (t *tokenScreen) ShortHelp() []key.Binding {
	k := t.ctx.Keys
	if t.revoking {
		return []key.Binding{k.Submit, k.Back}
	}
	var out []key.Binding
	if t.token != "" {
		out = append(out, k.Copy)
	}
	if t.revocable() {
		out = append(out, k.Revoke)
	}
	sc := k.Down
	sc.SetHelp("↑/↓", "scroll")
	return append(out, k.Back, sc)
}

func (t *tokenScreen) FullHelp() [][]key.Binding {
	k := t.ctx.Keys
	return [][]key.Binding{{k.Copy, k.Revoke}, {k.Up, k.Down, k.PageUp, k.PageDown, k.Home}, {k.Back, k.Help, k.Quit}}
}
