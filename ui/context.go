package ui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// Context is one console session's shared state, passed to every screen's
// constructor. It lives as long as the session; nothing in it that changes
// is shared between sessions (Styles and Keys point into the read-only
// Shared, which may be).
type Context struct {
	Width, Height int     // the size of the area the current screen draws in
	Styles        *Styles // read-only: shared between sessions
	Keys          *KeyMap // read-only: shared between sessions
	Login         string
	Me            approvals.Approver // loaded at start; Name is what a signature must carry
	Service       *approvals.Service
	Now           func() time.Time
	Bell, Notify  bool
	// Ctx bounds every Service call of this session; cancelled on quit.
	Ctx context.Context
	// KeySource and SessionKey are Options' (see there): how this session
	// reaches the approver's SSH agent, and the key it logged in with.
	KeySource  keysign.Source
	SessionKey ssh.PublicKey

	uids   int     // last screen id handed out
	shared *Shared // where Styles comes from when the background is known
}

// nextUID returns a session-unique id that tags a screen's command results,
// so a result reaches only the screen that asked for it.
func nextUID(c *Context) int {
	c.uids++
	return c.uids
}

// Screen is one screen of the console (queue, review, pad, confirm, token).
// Screens return plain strings; only the root builds the tea.View.
type Screen interface {
	Update(tea.Msg) (Screen, tea.Cmd)
	View() string
	SetSize(w, h int)
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// Messages screens send to the root to move between screens.
type (
	// openReviewMsg opens the review of a request.
	openReviewMsg struct{ id string }
	// pushMsg puts a screen on top of the current one.
	pushMsg struct{ s Screen }
	// replaceMsg replaces the top screen with s.
	replaceMsg struct{ s Screen }
	// popMsg closes the top screen; n screens when n > 1.
	popMsg struct{ n int }
	// changedMsg says the store changed (from the change feed).
	changedMsg struct{}
	// tickMsg is the once-a-second clock for countdowns.
	tickMsg struct{ at time.Time }
	// statusMsg shows a line in the footer.
	statusMsg struct {
		text string
		err  bool
	}
)

func push(s Screen) tea.Cmd    { return func() tea.Msg { return pushMsg{s} } }
func replace(s Screen) tea.Cmd { return func() tea.Msg { return replaceMsg{s} } }
func pop(n int) tea.Cmd        { return func() tea.Msg { return popMsg{n} } }
func status(text string, isErr bool) tea.Cmd {
	return func() tea.Msg { return statusMsg{text, isErr} }
}
