// Package ui is jitdesk's terminal console (Bubble Tea v2): a queue of
// requests, an On call tab (pagers, escalations, break-glass post-review),
// their review, a signature pad, a confirm step, the access token and help. One root model per session routes messages to one model per
// screen; all I/O runs in tea.Cmds against approvals.Service.
//
// Every string from outside (requests, names, errors quoting them) passes
// Inert before it reaches the terminal.
//
// When the session reaches the approver's SSH agent (Options.KeySource),
// every decision is also signed with their own SSH key (keysign.go); the
// confirm screen says which key signs, or why none will.
package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// Options configure one console session.
type Options struct {
	Service *approvals.Service
	Login   string           // the approver this console acts as (already resolved by the caller)
	Bell    bool             // ring the terminal bell once when a new request needs me
	Notify  bool             // desktop notification (OSC 9 and OSC 777) when a new request needs me
	Now     func() time.Time // clock for countdowns; nil => Service.Now
	// KeySource opens the approver's SSH agent for one key signature at a
	// time (the forwarded agent over SSH, $SSH_AUTH_SOCK locally); nil when
	// no agent can be reached: decisions are then not key-signed.
	KeySource keysign.Source
	// SessionKey is the key or certificate the SSH session authenticated
	// with (nil locally): a certificate's key may sign for its approver.
	SessionKey ssh.PublicKey
	// Shared holds the styles and key bindings, built once (NewShared) for
	// every session of a process; nil builds a copy for this session.
	Shared *Shared
}

// Minimum terminal size the console lays out in.
const (
	MinWidth  = 60
	MinHeight = 16
	// WideWidth is the width from which the queue and the open screen are
	// shown side by side.
	WideWidth = 120
)

// inputCapturer is implemented by screens that have a text field focused:
// then every key (and paste) goes to them, and global keys (q, ?) do not apply.
type inputCapturer interface{ capturesKeys() bool }

// initer is implemented by screens that load something when opened.
type initer interface{ Init() tea.Cmd }

type meMsg struct {
	me  approvals.Approver
	err error
}

// headerMsg carries the header's markers: the rotations I hold now, when
// any rotation's pager next changes hands (the header re-reads then), and
// how many break-glass grants wait for review.
type headerMsg struct {
	onCall   []string
	next     time.Time
	toReview int
	err      error
}

// Model is the root model of a console session.
type Model struct {
	ctx    *Context
	cancel context.CancelFunc
	queue  *queueScreen
	stack  []Screen
	help   help.Model

	w, h      int
	showHelp  bool
	status    string
	statusErr bool
	sub       <-chan struct{}
	unsub     func()
	// Header markers (see headerMsg); headerNext is when to re-read them.
	onCall        []string
	toReview      int
	headerNext    time.Time
	headerLoading bool
	headerStale   bool // a change arrived while the header was read: read again when it lands
	split         bool // the layout's wide(), as the screens were last sized

	closed bool
	// lifeMu guards unsub and closed: an SSH server closes the model from
	// its own goroutine when the session ends, while the program may still
	// be running Init.
	lifeMu sync.Mutex
}

// New returns the root model of a console session. Each call is its own
// world (no package-level mutable state), so one process can run many SSH
// sessions. Run it with tea.NewProgram; when Run returns, the caller may
// call Close on the final model (it implements io.Closer) to end the change
// feed subscription even if the program was killed rather than quit.
func New(opts Options) tea.Model {
	now := opts.Now
	if now == nil && opts.Service != nil {
		now = opts.Service.Now
	}
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	sh := opts.Shared
	if sh == nil {
		sh = NewShared()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Context{
		shared:  sh,
		Styles:  sh.styles(true),
		Keys:    sh.keys,
		Login:   opts.Login,
		Service: opts.Service,
		Now:     now,
		Bell:    opts.Bell,
		Notify:  opts.Notify,
		Ctx:     ctx,

		KeySource:  opts.KeySource,
		SessionKey: opts.SessionKey,
	}
	h := help.New()
	h.Styles = c.Styles.Help
	return &Model{ctx: c, cancel: cancel, queue: newQueue(c), help: h}
}

// Init asks for the background colour, subscribes to the change feed and
// loads the queue and who I am.
func (m *Model) Init() tea.Cmd {
	m.lifeMu.Lock()
	if !m.closed {
		m.sub, m.unsub = m.ctx.Service.Subscribe()
	}
	m.lifeMu.Unlock()
	return tea.Batch(tea.RequestBackgroundColor, m.waitChange(), tick(), m.start())
}

// start loads the queue, its counts and who I am.
func (m *Model) start() tea.Cmd {
	svc, ctx, login := m.ctx.Service, m.ctx.Ctx, m.ctx.Login
	return tea.Batch(
		m.queue.Init(),
		func() tea.Msg {
			a, err := svc.Approver(ctx, login)
			return meMsg{a, err}
		},
		m.loadHeader(),
	)
}

// headerChanged reads the header again after a change: at once, or when
// the read in flight lands (its result may predate the change).
func (m *Model) headerChanged() tea.Cmd {
	if m.headerLoading {
		m.headerStale = true
		return nil
	}
	return m.loadHeader()
}

// loadHeader reads the header's markers: whether I hold a pager now, and
// the unreviewed break-glass count.
func (m *Model) loadHeader() tea.Cmd {
	m.headerLoading, m.headerStale = true, false
	svc, ctx, login, now := m.ctx.Service, m.ctx.Ctx, m.ctx.Login, m.ctx.Now
	return func() tea.Msg {
		var h headerMsg
		at := now()
		shifts, err := svc.OnCallNow(ctx, at)
		if err != nil {
			h.err = err
			return h
		}
		for _, sh := range shifts {
			if sh.Holder == login && login != "" {
				h.onCall = append(h.onCall, sh.Rotation)
			}
			if !sh.Until.IsZero() && (h.next.IsZero() || sh.Until.Before(h.next)) {
				h.next = sh.Until
			}
		}
		h.toReview, h.err = svc.CountAwaitingReviewFor(ctx, login)
		return h
	}
}

// Close ends the session's change-feed subscription and cancels its pending
// Service calls. It is safe to call more than once.
func (m *Model) Close() error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.unsub != nil {
		m.unsub()
	}
	m.cancel()
	return nil
}

// waitChange blocks on the change feed and returns a changedMsg; it is
// re-armed after each one. It gives up (returning nothing) when the session
// ends.
func (m *Model) waitChange() tea.Cmd {
	ch, ctx := m.sub, m.ctx.Ctx
	if ch == nil {
		return nil // not subscribed (a model driven without Init, in tests)
	}
	return func() tea.Msg {
		select {
		case <-ch:
			return changedMsg{}
		case <-ctx.Done():
			return nil
		}
	}
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg{t} })
}

func (m *Model) top() Screen {
	if len(m.stack) == 0 {
		return m.queue
	}
	return m.stack[len(m.stack)-1]
}

// wide reports whether the queue is shown beside the open screen: on a
// wide terminal, when what is open is the highlighted request's (its
// review, or the confirm or signature pad on top of it) or the bulk
// confirm of the marked rows. Anything else — a token, a revoke, a review
// of a request that is not the highlighted one — takes the whole width, so
// the list beside it never points at another request.
func (m *Model) wide() bool {
	if m.w < WideWidth || len(m.stack) == 0 {
		return false
	}
	switch m.top().(type) {
	case *tokenScreen, *revokeConfirm:
		return false
	}
	switch s := m.stack[0].(type) {
	case *bulkConfirm:
		return true
	case *reviewScreen:
		if m.queue.tab == tabOnCall {
			return true // opened from the On call tab's own selection
		}
		sel, ok := m.queue.selected()
		return ok && sel.ID == s.id
	}
	return false
}

// keepPaired keeps the wide layout's rule that the review beside the list
// is the highlighted request's: when the highlight moves under a review
// that was opened from the list (the reviewed request was decided and left
// it, or a live change reordered it), the review follows the highlight and
// says where the old request went. A review with a text field in use is
// left alone (and shown full width until it is closed).
func (m *Model) keepPaired() tea.Cmd {
	if m.w < WideWidth || len(m.stack) != 1 || m.queue.tab == tabOnCall {
		return nil
	}
	rv, ok := m.stack[0].(*reviewScreen)
	if !ok || !rv.fromList || rv.capturesKeys() {
		return nil
	}
	sel, ok := m.queue.selected()
	if !ok || sel.ID == rv.id {
		return nil
	}
	note := leftListNote(rv, m.ctx.Login)
	m.stack = nil
	next := newReview(m.ctx, sel.ID)
	next.fromList, next.notice = true, note
	return m.open(next)
}

// leftListNote says why the review beside the list moved on from rv's
// request, and where that request is now. Pure.
func leftListNote(rv *reviewScreen, login string) string {
	if rv.leftNote != "" {
		return rv.leftNote
	}
	if !rv.loaded {
		return "the request you had open left this list"
	}
	r := rv.d.Request
	who := Inert(r.Requester)
	switch {
	case r.Status == approvals.StatusApproved && r.DecidedBy == login:
		return "approved " + who + "'s request — token: press v on it in History"
	case r.Status != approvals.StatusPending:
		return fmt.Sprintf("%s's request was %s by %s — it is in History", who, r.Status, Inert(r.DecidedBy))
	}
	return who + "'s request left this list"
}

// leftWidth is the queue pane's width in two-pane mode.
func (m *Model) leftWidth() int { return max(m.w*2/5, 48) }

const headerLines, footerLines = 1, 2

func (m *Model) bodyHeight() int { return max(m.h-headerLines-footerLines, 1) }

// layout gives every screen its size.
func (m *Model) layout() {
	bh := m.bodyHeight()
	m.split = m.wide()
	if m.split {
		lw := m.leftWidth()
		m.queue.SetSize(lw, bh)
		rw := m.w - lw - 3
		for _, s := range m.stack {
			s.SetSize(rw, bh)
		}
	} else {
		m.queue.SetSize(m.w, bh)
		for _, s := range m.stack {
			s.SetSize(m.w, bh)
		}
	}
	m.ctx.Width, m.ctx.Height = m.w, m.h
	m.help.SetWidth(m.w)
}

func (m *Model) open(s Screen) tea.Cmd {
	m.stack = append(m.stack, s)
	m.layout()
	if in, ok := s.(initer); ok {
		return in.Init()
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	_ = m.Close()
	return tea.Quit
}

func (m *Model) capturing() bool {
	c, ok := m.top().(inputCapturer)
	return ok && c.capturesKeys()
}

// Update routes a message: window and colour to the root, keys and paste to
// the top screen, mouse by position, results and live changes to everyone.
// Whatever it was, the split view is then checked to pair the list's
// highlight with the open request (the highlight moves on keys, pages and
// live changes alike).
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := m.update(msg)
	cmd = tea.Batch(cmd, m.keepPaired())
	if m.wide() != m.split {
		m.layout()
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.BackgroundColorMsg:
		m.ctx.Styles = m.ctx.shared.styles(msg.IsDark())
		m.help.Styles = m.ctx.Styles.Help
		m.broadcast(msg) // screens restyle their text inputs
		return m, nil
	case meMsg:
		if msg.err != nil {
			m.status, m.statusErr = "cannot load your approver record: "+explain(msg.err), true
		} else {
			m.ctx.Me = msg.me
		}
		return m, nil
	case headerMsg:
		m.headerLoading = false
		if msg.err == nil {
			m.onCall, m.toReview, m.headerNext = msg.onCall, msg.toReview, msg.next
		}
		if m.headerStale {
			return m, m.loadHeader()
		}
		return m, nil
	case reloadHeaderMsg:
		return m, m.headerChanged()
	case changedMsg:
		cmds := []tea.Cmd{m.waitChange(), m.headerChanged()}
		cmds = append(cmds, m.broadcast(msg)...)
		return m, tea.Batch(cmds...)
	case tickMsg:
		_, cmd := m.updateTop(msg)
		cmds := []tea.Cmd{tick(), cmd}
		if len(m.stack) > 0 {
			// The queue pane (its On call tab) counts down beside the open screen.
			_, qc := m.queue.Update(msg)
			cmds = append(cmds, qc)
		}
		if !m.headerLoading && !m.headerNext.IsZero() && !m.ctx.Now().Before(m.headerNext) {
			// A hand-over is due: the header follows it without a store write.
			cmds = append(cmds, m.loadHeader())
		}
		return m, tea.Batch(cmds...)
	case statusMsg:
		m.status, m.statusErr = msg.text, msg.err
		return m, nil
	case openReviewMsg:
		m.stack = nil
		rv := newReview(m.ctx, msg.id)
		if sel, ok := m.queue.selected(); ok && sel.ID == msg.id && m.queue.tab != tabOnCall {
			rv.fromList = true
		}
		return m, m.open(rv)
	case pushMsg:
		return m, m.open(msg.s)
	case replaceMsg:
		if len(m.stack) > 0 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		return m, m.open(msg.s)
	case stackMsg:
		// A decision's new stack starts with a fresh review of the same
		// request: it stays paired with the list as the old one was.
		if len(m.stack) > 0 && len(msg.screens) > 0 {
			old, ok1 := m.stack[0].(*reviewScreen)
			rv, ok2 := msg.screens[0].(*reviewScreen)
			if ok1 && ok2 && old.id == rv.id {
				rv.fromList = old.fromList
			}
		}
		m.stack = nil
		var cmds []tea.Cmd
		for _, s := range msg.screens {
			cmds = append(cmds, m.open(s))
		}
		m.layout()
		cmds = append(cmds, m.queue.changed())
		return m, tea.Batch(cmds...)
	case popMsg:
		n := max(msg.n, 1)
		m.stack = m.stack[:max(len(m.stack)-n, 0)]
		m.layout()
		return m, nil
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" {
			return m, m.quit()
		}
		m.status = ""
		if m.showHelp {
			m.showHelp = false
			return m, nil
		}
		if !m.capturing() {
			switch {
			case key.Matches(msg, m.ctx.Keys.Help):
				m.showHelp = true
				return m, nil
			case msg.String() == "q":
				// q quits wherever no text field has focus.
				return m, m.quit()
			}
			if m.listMove(msg) {
				return m.moveList(msg)
			}
		}
		return m.updateTop(msg)
	case tea.PasteMsg:
		// Pasted text only ever reaches a focused text field; it never
		// presses a key.
		if m.capturing() {
			return m.updateTop(msg)
		}
		return m, nil
	case tea.MouseMsg:
		return m.routeMouse(msg)
	}
	// Command results: each screen keeps only its own (by uid).
	return m, tea.Batch(m.broadcast(msg)...)
}

func (m *Model) updateTop(msg tea.Msg) (tea.Model, tea.Cmd) {
	if len(m.stack) == 0 {
		_, cmd := m.queue.Update(msg)
		return m, cmd
	}
	i := len(m.stack) - 1
	s, cmd := m.stack[i].Update(msg)
	m.stack[i] = s
	return m, cmd
}

func (m *Model) broadcast(msg tea.Msg) []tea.Cmd {
	var cmds []tea.Cmd
	_, cmd := m.queue.Update(msg)
	cmds = append(cmds, cmd)
	for i := range m.stack {
		s, cmd := m.stack[i].Update(msg)
		m.stack[i] = s
		cmds = append(cmds, cmd)
	}
	return cmds
}

// routeMouse translates a mouse event into the coordinates of the pane
// under it and hands it to that pane's screen.
func (m *Model) routeMouse(msg tea.MouseMsg) (tea.Model, tea.Cmd) {
	if m.showHelp {
		return m, nil
	}
	mouse := msg.Mouse()
	y := mouse.Y - headerLines
	x := mouse.X
	if y < 0 || y >= m.bodyHeight() {
		return m, nil
	}
	target := m.top()
	if m.split {
		lw := m.leftWidth()
		if x < lw {
			target = m.queue
		} else {
			x -= lw + 3
		}
	}
	moved := withXY(msg, x, y)
	if target == m.queue && len(m.stack) > 0 {
		// A click or wheel in the left pane moves the highlight; the right
		// pane follows it at once.
		before, _ := m.queue.selected()
		_, cmd := m.queue.Update(moved)
		if m.queue.tab == tabOnCall {
			return m, cmd
		}
		return m, tea.Batch(cmd, m.follow(before.ID))
	}
	if target == m.queue {
		_, cmd := m.queue.Update(moved)
		return m, cmd
	}
	return m.updateTop(moved)
}

func withXY(msg tea.MouseMsg, x, y int) tea.Msg {
	switch v := msg.(type) {
	case tea.MouseClickMsg:
		v.X, v.Y = x, y
		return v
	case tea.MouseReleaseMsg:
		v.X, v.Y = x, y
		return v
	case tea.MouseMotionMsg:
		v.X, v.Y = x, y
		return v
	case tea.MouseWheelMsg:
		v.X, v.Y = x, y
		return v
	}
	return msg
}

// screenName names the top screen for the header and help.
func screenName(s Screen) string {
	switch s := s.(type) {
	case *queueScreen:
		if s.tab == tabOnCall {
			return "on call"
		}
		return "queue"
	case *reviewScreen:
		return "review"
	case *padScreen:
		return "signature"
	case *confirmScreen, *bulkConfirm:
		return "confirm"
	case *tokenScreen:
		return "token"
	case *revokeConfirm:
		return "revoke"
	}
	return ""
}

// header is the top line: who I am and where, then the markers that
// matter most first: on call, break-glass grants to review, the counts.
// What does not fit is dropped from the least important end, and the
// name shortens to the login before the on-call or break-glass marker goes.
func (m *Model) header() string {
	s := m.ctx.Styles
	login := Inert(m.ctx.Login)
	whoLong := login
	if m.ctx.Me.Name != "" {
		whoLong = Inert(m.ctx.Me.Name) + " (" + login + ")"
	}
	lead := s.Header.Render("jitdesk") + s.HeaderDim.Render(" · "+screenName(m.top())+" · ")
	var marks, short []string
	if len(m.onCall) > 0 {
		names := make([]string, len(m.onCall))
		for i, r := range m.onCall {
			names[i] = Inert(r)
		}
		oc := s.OK.Render("● on call: " + strings.Join(names, ", "))
		marks, short = append(marks, oc), append(short, oc)
	}
	if m.toReview > 0 {
		marks = append(marks, s.Warn.Render(fmt.Sprintf("⚠ %d break-glass to review", m.toReview)))
		short = append(short, s.Warn.Render(fmt.Sprintf("⚠ %d to review", m.toReview)))
	}
	counts := ""
	if m.queue.countsKnown {
		counts = s.HeaderDim.Render(fmt.Sprintf("needs me %d · pending %d", m.queue.counts[tabNeedsMe], m.queue.counts[tabPending]))
	}
	sep := s.HeaderDim.Render(" · ")
	join := func(parts []string, more string) string {
		if more != "" {
			parts = append(append([]string(nil), parts...), more)
		}
		return strings.Join(parts, sep)
	}
	for _, try := range [][2]string{
		{whoLong, join(marks, counts)},
		{whoLong, join(marks, "")},
		{login, join(marks, "")},
		{login, join(short, "")},
	} {
		left, right := lead+try[0], try[1]
		if widthOf(left)+widthOf(right)+1 <= m.w {
			return joinEnds(left, right, m.w)
		}
	}
	return joinEnds(lead+login, join(short[:min(len(short), 1)], ""), m.w)
}

// joinEnds puts left and right on one line of width w.
func joinEnds(left, right string, w int) string {
	lw, rw := widthOf(left), widthOf(right)
	if lw+rw+1 > w {
		return clip(left, w)
	}
	return left + strings.Repeat(" ", w-lw-rw) + right
}

func (m *Model) footer() string {
	s := m.ctx.Styles
	st := ""
	if m.status != "" {
		if m.statusErr {
			st = s.Error.Render(clip(m.status, m.w))
		} else {
			st = s.OK.Render(clip(m.status, m.w))
		}
	}
	return st + "\n" + m.hints()
}

// hints is the one hint line of the top screen, built from the KeyMap: the
// screen's bindings, most important first, then q, with ? always kept
// where it works (not while a text field has focus).
func (m *Model) hints() string {
	k := m.ctx.Keys
	bs := m.top().ShortHelp()
	if m.capturing() {
		return hintLine(m.ctx.Styles, bs, nil, m.w)
	}
	q := k.Quit
	if m.followsList() {
		next := k.Down
		next.SetHelp("↑/↓", "other requests")
		bs = append(append([]key.Binding(nil), bs...), next)
	}
	return hintLine(m.ctx.Styles, append(append([]key.Binding(nil), bs...), q), &k.Help, m.w)
}

// followsList reports whether the top screen is a review opened from the
// queue's list (the list shows the request it reviews): list movement
// keys then move the list, and the review follows the highlighted row.
func (m *Model) followsList() bool {
	if len(m.stack) != 1 || m.queue.tab == tabOnCall {
		return false
	}
	rv, ok := m.stack[0].(*reviewScreen)
	if !ok || rv.capturesKeys() {
		return false
	}
	sel, ok := m.queue.selected()
	return ok && sel.ID == rv.id
}

// listMove reports whether msg is a list movement key that moves the queue
// although a review is on top.
func (m *Model) listMove(msg tea.KeyPressMsg) bool {
	k := m.ctx.Keys
	return m.followsList() && (key.Matches(msg, k.Up) || key.Matches(msg, k.Down))
}

// moveList moves the queue's list and opens the newly highlighted request
// at once, so the details on screen (and what a would approve) are always
// the highlighted request's.
func (m *Model) moveList(msg tea.Msg) (tea.Model, tea.Cmd) {
	before, _ := m.queue.selected()
	_, cmd := m.queue.Update(msg)
	return m, tea.Batch(cmd, m.follow(before.ID))
}

// follow replaces the review with the highlighted request's when the
// highlight moved away from before.
func (m *Model) follow(before string) tea.Cmd {
	after, ok := m.queue.selected()
	if !ok || after.ID == before {
		return nil
	}
	m.stack = nil
	rv := newReview(m.ctx, after.ID)
	rv.fromList = true
	return m.open(rv)
}

// Content renders the whole frame as a string (what View puts on screen).
func (m *Model) Content() string {
	if m.w == 0 || m.h == 0 {
		return ""
	}
	if m.w < MinWidth || m.h < MinHeight {
		msg := fmt.Sprintf("jitdesk needs a terminal of at least %d×%d; this one is %d×%d. Make it bigger (or press q to quit).", MinWidth, MinHeight, m.w, m.h)
		return fit(strings.Join(wrapInert(msg, m.w), "\n"), m.w, m.h)
	}
	bh := m.bodyHeight()
	var body string
	switch {
	case m.showHelp:
		s := m.ctx.Styles
		hm := m.help
		hm.ShowAll = true
		body = s.Title.Render("Keys — "+screenName(m.top())) + "\n\n" + hm.FullHelpView(m.top().FullHelp()) +
			"\n\n" + s.Subtle.Render("ctrl+c quits from anywhere · press any key to close this help")
	case m.split:
		lw := m.leftWidth()
		left := fit(m.queue.View(), lw, bh)
		right := fit(m.top().View(), m.w-lw-3, bh)
		sep := m.ctx.Styles.Subtle.Render(" │ ")
		l, r := strings.Split(left, "\n"), strings.Split(right, "\n")
		var b strings.Builder
		for i := 0; i < bh; i++ {
			b.WriteString(cell(l[i], lw))
			b.WriteString(sep)
			b.WriteString(r[i])
			if i < bh-1 {
				b.WriteByte('\n')
			}
		}
		body = b.String()
	default:
		body = m.top().View()
	}
	return m.header() + "\n" + fit(body, m.w, bh) + "\n" + m.footer()
}

// View builds the frame: alternate screen, mouse cell motion.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Content())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "jitdesk"
	return v
}
