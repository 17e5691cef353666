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
	grant    approvals.Grant
	token    string
	verified *approvals.VerifiedToken
	verr     error
	err      error
}

type revokedMsg struct {
	uid int
	err error
}

// tokenScreen shows an access token: wrapped, decoded, verified, with a
// countdown to expiry; c copies it (OSC 52), r revokes it.
type tokenScreen struct {
	ctx       *Context
	uid       int
	requestID string
	token     string
	grant     approvals.Grant
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

func newTokenScreen(ctx *Context, requestID, token string) *tokenScreen {
	ti := newInput(ctx.Styles)
	ti.Prompt = "revoke because: "
	ti.Placeholder = "required"
	ti.CharLimit = approvals.MaxCommentLen
	return &tokenScreen{ctx: ctx, uid: nextUID(ctx), requestID: requestID, token: token, reason: ti}
}

func (t *tokenScreen) Init() tea.Cmd { return t.load() }

func (t *tokenScreen) load() tea.Cmd {
	svc, ctx, uid, id := t.ctx.Service, t.ctx.Ctx, t.uid, t.requestID
	return func() tea.Msg {
		m := tokenMsg{uid: uid}
		g, err := svc.Token(ctx, id, "")
		if err != nil && !errors.Is(err, approvals.ErrRevoked) {
			m.err = err
			return m
		}
		m.grant, m.token = g, g.Token
		v, verr := svc.VerifyToken(ctx, g.Token, "")
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
}

func (t *tokenScreen) capturesKeys() bool { return t.revoking }

func (t *tokenScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := t.ctx.Keys
	switch msg := msg.(type) {
	case tokenMsg:
		if msg.uid != t.uid {
			return t, nil
		}
		if msg.err != nil {
			t.err = explain(msg.err)
			return t, nil
		}
		t.grant, t.token, t.verified, t.verr, t.loaded, t.err = msg.grant, msg.token, msg.verified, msg.verr, true, ""
	case revokedMsg:
		if msg.uid != t.uid {
			return t, nil
		}
		if msg.err != nil {
			return t, status(explain(msg.err), true)
		}
		return t, tea.Batch(t.load(), status("token revoked", false))
	case changedMsg:
		return t, t.load()
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
			t.scroll = max(0, t.scroll-3)
		} else if msg.Button == tea.MouseWheelDown {
			t.scroll += 3
		}
	case tea.KeyPressMsg:
		if t.revoking {
			switch msg.String() {
			case "esc":
				t.revoking = false
				t.reason.Blur()
				return t, nil
			case "enter":
				r := strings.TrimSpace(t.reason.Value())
				if r == "" {
					t.inputErr = "a reason is required"
					return t, nil
				}
				t.revoking = false
				t.reason.Blur()
				svc, ctx, uid, login, id := t.ctx.Service, t.ctx.Ctx, t.uid, t.ctx.Login, t.grant.ID
				return t, func() tea.Msg {
					_, err := svc.Revoke(ctx, approvals.RevokeInput{ID: id, Approver: login, Reason: r})
					return revokedMsg{uid: uid, err: err}
				}
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
			if t.token != "" {
				return t, tea.Batch(tea.SetClipboard(t.token), status("token copied to the clipboard (OSC 52)", false))
			}
		case key.Matches(msg, k.Revoke):
			if t.loaded && !t.grant.Revoked() {
				t.revoking = true
				t.inputErr = ""
				t.reason.SetValue("")
				return t, t.reason.Focus()
			}
		case key.Matches(msg, k.Up):
			t.scroll = max(0, t.scroll-1)
		case key.Matches(msg, k.Down):
			t.scroll++
		case key.Matches(msg, k.PageUp):
			t.scroll = max(0, t.scroll-(t.h-2))
		case key.Matches(msg, k.PageDown):
			t.scroll += t.h - 2
		case key.Matches(msg, k.Home):
			t.scroll = 0
		}
	}
	return t, nil
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

// tokenLines lays out a token screen's content at width w. Pure.
func tokenLines(s *Styles, now time.Time, token string, g approvals.Grant, v *approvals.VerifiedToken, verr error, w int) []string {
	var out []string
	out = append(out, s.Title.Render(clip("Access token for "+Inert(g.Subject)+" · "+Inert(g.Scope), w)))
	switch {
	case g.Revoked():
		out = append(out, s.Error.Render(clip(fmt.Sprintf("REVOKED by %s at %s: %s", Inert(g.RevokedBy), clock(g.RevokedAt), Inert(g.RevokeReason)), w)))
	case verr != nil:
		for _, l := range wrapInert("invalid — "+explain(verr), w) {
			out = append(out, s.Error.Render(l))
		}
	case v != nil:
		out = append(out, s.OK.Render(clip(fmt.Sprintf("valid — signed by kid %s (%s)", Inert(v.Kid), Inert(string(v.Alg))), w)))
	}
	exp := g.ExpiresAt
	left := countdown(now, exp)
	line := fmt.Sprintf("expires %s · in %s", stamp(exp), left)
	switch {
	case g.Revoked():
		line = "no longer valid (revoked); it was to expire " + stamp(exp)
	case left == "expired":
		line = "expired at " + stamp(exp)
	}
	out = append(out, clip(line, w), clip(fmt.Sprintf("grant %s · audience %s", g.ID, Inert(g.Audience)), w))
	switch {
	case g.BreakGlass && g.ReviewedAt.IsZero():
		out = append(out, s.Warn.Render(clip("BREAK-GLASS grant · waiting for post-review by on-call", w)))
	case g.BreakGlass:
		out = append(out, s.Subtle.Render(clip("break-glass grant · reviewed by "+Inert(g.ReviewedBy)+" at "+clock(g.ReviewedAt)+": "+Inert(g.ReviewComment), w)))
	}
	out = append(out, "")
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
	lines := tokenLines(s, t.ctx.Now(), t.token, t.grant, t.verified, t.verr, t.w)
	var foot []string
	if t.revoking {
		foot = append(foot, clip(t.reason.View(), t.w))
		if t.inputErr != "" {
			foot = append(foot, s.Error.Render(t.inputErr))
		} else {
			foot = append(foot, s.Subtle.Render("enter revoke · esc cancel"))
		}
	} else {
		hint := "c copy · r revoke · ↑/↓ scroll · esc back"
		if t.grant.Revoked() {
			hint = "c copy · ↑/↓ scroll · esc back"
		}
		foot = append(foot, s.Info.Render(clip(hint, t.w)))
	}
	avail := max(t.h-len(foot), 1)
	maxScroll := max(len(lines)-avail, 0)
	t.scroll = min(t.scroll, maxScroll)
	body := lines[t.scroll:min(len(lines), t.scroll+avail)]
	for len(body) < avail {
		body = append(body, "")
	}
	return strings.Join(body, "\n") + "\n" + strings.Join(foot, "\n")
}

func (t *tokenScreen) ShortHelp() []key.Binding {
	k := t.ctx.Keys
	if t.revoking {
		return []key.Binding{k.Submit, k.Back}
	}
	if t.grant.Revoked() {
		return []key.Binding{k.Copy, k.Up, k.Down, k.Back, k.Help}
	}
	return []key.Binding{k.Copy, k.Revoke, k.Up, k.Down, k.Back, k.Help}
}

func (t *tokenScreen) FullHelp() [][]key.Binding {
	k := t.ctx.Keys
	return [][]key.Binding{{k.Copy, k.Revoke}, {k.Up, k.Down, k.PageUp, k.PageDown, k.Home}, {k.Back, k.Help, k.Quit}}
}
