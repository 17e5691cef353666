package ui

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/jitdesk/jitdesk/approvals"
)

// queueTab is one of the queue's tabs.
type queueTab int

const (
	tabNeedsMe queueTab = iota
	tabPending
	tabHistory
	numTabs // the list tabs end here
	// tabOnCall is the On call tab: its own screen (oncallScreen) shown in
	// the queue's place, not a list of requests.
	tabOnCall = numTabs
	allTabs   = numTabs + 1
)

func (t queueTab) label() string {
	return [...]string{"Needs me", "All pending", "History", "On call"}[t]
}

// Queue window sizes: rows are fetched pageSize at a time and at most
// maxRows are kept; a page is prefetched when the cursor comes within
// prefetch rows of either end of what is loaded.
const (
	pageSize = 100
	maxRows  = 400
)

// pageKind says what a fetched page is for.
type pageKind int

const (
	pageFirst   pageKind = iota // replace the window with the first page
	pageLast                    // replace the window with the last page
	pageNext                    // append after the window
	pagePrev                    // prepend before the window
	pageRefresh                 // re-read the window in place (live change)
)

type pageMsg struct {
	uid, gen int
	kind     pageKind
	rows     []approvals.Request
	limit    int
	fromTop  bool // pageRefresh: the window was anchored at the start
	err      error
}

type countsMsg struct {
	uid    int
	counts [numTabs]int
	newest approvals.Request // newest request that needs me (zero if none)
	err    error
}

// queueScreen is the list of requests: a window of at most maxRows rows over
// the store's keyset pages. It never loads a whole table; View renders only
// the visible rows.
type queueScreen struct {
	ctx *Context
	uid int

	tab         queueTab
	counts      [numTabs]int
	countsKnown bool
	newestID    string // high-water mark of requests that need me (for the bell)
	newestKnown bool

	win keysetWindow
	gen int // bumped whenever the window is replaced; stale pages are dropped
	// winLoad is the gen of the window load (first, last or refresh page)
	// in flight, 0 when none is. A change that arrives meanwhile does not
	// cancel it (under a steady stream of changes no read would ever
	// land): it sets winStale, and the refresh follows when the load lands.
	winLoad     int
	winStale    bool
	countsBusy  bool // a counts read is in flight
	countsStale bool // a change arrived while it was: read again when it lands
	genCtx      context.Context
	genCancel   context.CancelFunc // cancels the store queries of the current gen
	loadingPrev bool
	loadingNext bool
	loaded      bool
	err         string
	filtering   bool
	searching   bool // a new filter's first page is on its way (old rows stay shown until it lands)
	filter      textinput.Model
	filterText  string
	marks       map[string]approvals.Request
	oncall      *oncallScreen
	w, h        int
}

func newQueue(ctx *Context) *queueScreen {
	ti := newInput(ctx.Styles)
	ti.Prompt = "/ "
	ti.Placeholder = "requester, template or reason"
	ti.CharLimit = 100
	return &queueScreen{ctx: ctx, uid: nextUID(ctx), filter: ti, marks: map[string]approvals.Request{}, win: newKeysetWindow(maxRows), oncall: newOnCall(ctx)}
}

// Init loads the first page and the counts.
func (q *queueScreen) Init() tea.Cmd {
	return tea.Batch(q.reset(pageFirst), q.loadCounts())
}

func (q *queueScreen) SetSize(w, h int) {
	q.w, q.h = w, h
	sizeInput(&q.filter, w)
	q.oncall.SetSize(w, max(h-1, 1))
	q.win.setHeight(q.listHeight())
}

// listHeight is how many rows fit under the tab and column lines.
func (q *queueScreen) listHeight() int {
	n := q.h - 2
	if q.filtering || q.filterText != "" {
		n--
	}
	return max(n, 1)
}

func (q *queueScreen) capturesKeys() bool {
	return q.filtering || q.tab == tabOnCall && q.oncall.capturesKeys()
}

func (q *queueScreen) baseQuery() approvals.RequestQuery {
	rq := approvals.RequestQuery{Filter: q.filterText, Limit: pageSize, Viewer: q.ctx.Login}
	switch q.tab {
	case tabNeedsMe:
		rq.Scope, rq.EligibleFor = approvals.ScopePending, q.ctx.Login
	case tabPending:
		rq.Scope = approvals.ScopePending
	case tabHistory:
		rq.Scope = approvals.ScopeDecided
	}
	return rq
}

func (q *queueScreen) cursorOf(r approvals.Request) approvals.Cursor {
	if q.tab == tabHistory {
		return approvals.Cursor{At: r.DecidedAt, ID: r.ID}
	}
	return approvals.Cursor{At: r.CreatedAt, ID: r.ID}
}

// ascending reports whether the tab's order runs from old to new.
func (q *queueScreen) ascending() bool { return q.tab != tabHistory }

func (q *queueScreen) fetch(kind pageKind, rq approvals.RequestQuery, fromTop bool) tea.Cmd {
	if q.genCtx == nil {
		q.newGen()
	}
	svc, ctx, uid, gen := q.ctx.Service, q.genCtx, q.uid, q.gen
	return func() tea.Msg {
		rows, err := svc.List(ctx, rq)
		return pageMsg{uid: uid, gen: gen, kind: kind, rows: rows, limit: rq.Limit, fromTop: fromTop, err: err}
	}
}

// newGen starts a new window generation: pages of older generations are
// dropped when they arrive, and their store queries still running (a filter
// scan superseded by the next keystroke) are cancelled.
func (q *queueScreen) newGen() {
	if q.genCancel != nil {
		q.genCancel()
	}
	q.gen++
	q.genCtx, q.genCancel = context.WithCancel(q.ctx.Ctx)
}

// reset replaces the window with the first or the last page. Its read
// starts after every change notified so far, so none is left pending.
func (q *queueScreen) reset(kind pageKind) tea.Cmd {
	q.newGen()
	q.winLoad, q.winStale = q.gen, false
	q.loadingPrev, q.loadingNext = false, false
	rq := q.baseQuery()
	if q.filterText != "" {
		// A filtered first page costs a scan until it is full: ask only for
		// what the screen shows (plus a little); neighbours come by prefetch.
		rq.Limit = max(q.listHeight()+10, 30)
	}
	if kind == pageLast {
		// A cursor beyond the end of the order: Before it is the last page.
		c := approvals.Cursor{At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: "~"}
		if !q.ascending() {
			c = approvals.Cursor{At: time.Unix(0, 0).UTC(), ID: ""}
		}
		rq.Before = &c
	}
	return q.fetch(kind, rq, false)
}

// refresh re-reads the loaded window after a change; the cursor stays on
// the same request when it is still listed (see showPage).
func (q *queueScreen) refresh() tea.Cmd {
	q.newGen()
	q.winLoad, q.winStale = q.gen, false
	q.loadingPrev, q.loadingNext = false, false
	rq := q.baseQuery()
	rq.Limit = min(500, max(pageSize, len(q.win.rows)))
	fromTop := q.win.atStart || len(q.win.rows) == 0
	if !fromTop {
		// Start just before the first loaded row (times are stored in ms).
		c := q.cursorOf(q.win.first())
		if q.ascending() {
			c = approvals.Cursor{At: c.At.Add(-time.Millisecond), ID: "~"}
		} else {
			c = approvals.Cursor{At: c.At.Add(time.Millisecond), ID: ""}
		}
		rq.After = &c
	}
	return q.fetch(pageRefresh, rq, fromTop)
}

// prefetch asks for the neighbouring page when the cursor nears an end of
// the window.
func (q *queueScreen) prefetch() tea.Cmd {
	margin := max(q.listHeight()*2, 20)
	var cmds []tea.Cmd
	if !q.loadingNext && q.win.wantNext(margin) {
		q.loadingNext = true
		rq := q.baseQuery()
		c := q.cursorOf(q.win.last())
		rq.After = &c
		cmds = append(cmds, q.fetch(pageNext, rq, false))
	}
	if !q.loadingPrev && q.win.wantPrev(margin) {
		q.loadingPrev = true
		rq := q.baseQuery()
		c := q.cursorOf(q.win.first())
		rq.Before = &c
		cmds = append(cmds, q.fetch(pagePrev, rq, false))
	}
	return tea.Batch(cmds...)
}

// historyCountCap is where the History tab stops counting ("100,000+"):
// history grows without bound, and the count reruns after every change
// (3 ms at this cap, 33 ms for a million decided requests).
const historyCountCap = 100000

// changed follows a change of the store: the window and the counts are
// read again, each at once when no read of it is in flight, else as soon
// as that one lands (changes coalesce, but the last one always leads to a
// read that starts after it and is shown).
func (q *queueScreen) changed() tea.Cmd {
	var cmds []tea.Cmd
	if q.winLoad != 0 {
		q.winStale = true
	} else {
		cmds = append(cmds, q.refresh())
	}
	if q.countsBusy {
		q.countsStale = true
	} else {
		cmds = append(cmds, q.loadCounts())
	}
	return tea.Batch(cmds...)
}

func (q *queueScreen) loadCounts() tea.Cmd {
	q.countsBusy, q.countsStale = true, false
	svc, ctx, uid, login := q.ctx.Service, q.ctx.Ctx, q.uid, q.ctx.Login
	return func() tea.Msg {
		var m countsMsg
		m.uid = uid
		qs := [numTabs]approvals.RequestQuery{
			{Scope: approvals.ScopePending, EligibleFor: login, Viewer: login},
			{Scope: approvals.ScopePending, Viewer: login},
			{Scope: approvals.ScopeDecided, CountAtMost: historyCountCap, Viewer: login},
		}
		for i, rq := range qs {
			n, err := svc.Count(ctx, rq)
			if err != nil {
				m.err = err
				return m
			}
			m.counts[i] = n
		}
		far := approvals.Cursor{At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: "~"}
		newest, err := svc.List(ctx, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: login, Viewer: login, Before: &far, Limit: 1})
		if err != nil {
			m.err = err
			return m
		}
		if len(newest) == 1 {
			m.newest = newest[0]
		}
		return m
	}
}

func (q *queueScreen) selected() (approvals.Request, bool) { return q.win.selected() }

func (q *queueScreen) clampTop() { q.win.setHeight(q.listHeight()) }

func (q *queueScreen) move(delta int) tea.Cmd {
	if len(q.win.rows) == 0 {
		return nil
	}
	q.win.move(delta)
	return q.prefetch()
}

func (q *queueScreen) switchTab(t queueTab) tea.Cmd {
	if t == q.tab {
		return nil
	}
	if t == tabOnCall {
		q.tab = t
		return q.oncall.Init()
	}
	q.tab = t
	q.win.reset()
	q.loaded = false
	return q.reset(pageFirst)
}

func (q *queueScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	if cmd, done := q.updateOnCall(msg); done {
		return q, cmd
	}
	k := q.ctx.Keys
	switch msg := msg.(type) {
	case pageMsg:
		if msg.uid != q.uid {
			return q, nil
		}
		return q, q.applyPage(msg)
	case countsMsg:
		if msg.uid != q.uid {
			return q, nil
		}
		return q, q.applyCounts(msg)
	case changedMsg:
		return q, q.changed()
	case tea.BackgroundColorMsg:
		restyleInput(&q.filter, q.ctx.Styles)
		return q, nil
	case tea.KeyPressMsg:
		if q.filtering {
			return q, q.updateFilter(msg)
		}
		switch {
		case key.Matches(msg, k.Up):
			return q, q.move(-1)
		case key.Matches(msg, k.Down):
			return q, q.move(1)
		case key.Matches(msg, k.PageUp):
			return q, q.move(-q.listHeight())
		case key.Matches(msg, k.PageDown):
			return q, q.move(q.listHeight())
		case key.Matches(msg, k.Home):
			if q.win.atStart {
				q.win.selectRow(0)
				return q, q.prefetch()
			}
			return q, q.reset(pageFirst)
		case key.Matches(msg, k.End):
			if q.win.atEnd {
				q.win.selectRow(len(q.win.rows) - 1)
				return q, q.prefetch()
			}
			return q, q.reset(pageLast)
		case key.Matches(msg, k.NextTab):
			return q, q.switchTab((q.tab + 1) % allTabs)
		case key.Matches(msg, k.PrevTab):
			return q, q.switchTab((q.tab + allTabs - 1) % allTabs)
		case key.Matches(msg, k.Filter):
			q.filtering = true
			q.filter.SetValue(q.filterText)
			q.filter.CursorEnd()
			q.clampTop()
			return q, q.filter.Focus()
		case key.Matches(msg, k.Back):
			if q.filterText != "" {
				q.filterText = ""
				q.filter.SetValue("")
				return q, q.reset(pageFirst)
			}
		case key.Matches(msg, k.Open):
			if r, ok := q.selected(); ok {
				id := r.ID
				return q, func() tea.Msg { return openReviewMsg{id} }
			}
		case key.Matches(msg, k.Token):
			if r, ok := q.selected(); ok && r.Status == approvals.StatusApproved {
				return q, push(newTokenScreen(q.ctx, r.ID))
			}
		case key.Matches(msg, k.Mark):
			if r, ok := q.selected(); ok && r.Status == approvals.StatusPending {
				if _, marked := q.marks[r.ID]; marked {
					delete(q.marks, r.ID)
				} else {
					q.marks[r.ID] = r
				}
				return q, q.move(1)
			}
		case key.Matches(msg, k.BulkApprove):
			if len(q.marks) == 0 {
				return q, status("mark requests with space first, then press A", true)
			}
			return q, push(newBulkConfirm(q.ctx, q.markedList()))
		}
	case tea.PasteMsg:
		if q.filtering {
			return q, q.updateFilter(msg)
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			return q, q.move(-3)
		case tea.MouseWheelDown:
			return q, q.move(3)
		}
	case tea.MouseClickMsg:
		if msg.Button != tea.MouseLeft {
			return q, nil
		}
		if msg.Y == 0 {
			if t, ok := q.tabAt(msg.X); ok {
				return q, q.switchTab(t)
			}
			return q, nil
		}
		row := q.win.top + msg.Y - 2
		if msg.Y >= 2 && row >= 0 && row < len(q.win.rows) && msg.Y-2 < q.listHeight() {
			if row == q.win.sel {
				// A click on the selected row opens it (as enter does).
				id := q.win.rows[row].ID
				return q, func() tea.Msg { return openReviewMsg{id} }
			}
			q.win.selectRow(row)
			return q, q.prefetch()
		}
	case bulkDoneMsg:
		for _, id := range msg.approved {
			delete(q.marks, id)
		}
		return q, q.changed()
	}
	return q, nil
}

// updateOnCall routes what belongs to the On call tab: its own results
// always (they carry its uid), live changes and the clock while it shows,
// and keys, paste and mouse while it is the open tab (tab switching and
// clicks on the tab line stay with the queue). done reports that the
// message was the tab's alone.
func (q *queueScreen) updateOnCall(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case oncallMsg, ackedMsg, reloadOnCallMsg:
		_, cmd := q.oncall.Update(msg)
		return cmd, true
	case tea.BackgroundColorMsg:
		q.oncall.Update(msg)
		return nil, false
	case tickMsg:
		if q.tab != tabOnCall {
			return nil, true
		}
		_, cmd := q.oncall.Update(msg)
		return cmd, true
	case changedMsg:
		if q.tab == tabOnCall {
			_, cmd := q.oncall.Update(msg)
			return tea.Batch(cmd, q.changed()), true
		}
		return nil, false
	}
	if q.tab != tabOnCall {
		return nil, false
	}
	k := q.ctx.Keys
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if !q.oncall.capturesKeys() {
			switch {
			case key.Matches(msg, k.NextTab):
				return q.switchTab((q.tab + 1) % allTabs), true
			case key.Matches(msg, k.PrevTab):
				return q.switchTab((q.tab + allTabs - 1) % allTabs), true
			}
		}
		_, cmd := q.oncall.Update(msg)
		return cmd, true
	case tea.PasteMsg, tea.MouseWheelMsg:
		_, cmd := q.oncall.Update(msg)
		return cmd, true
	case tea.MouseClickMsg:
		if msg.Y == 0 {
			if t, ok := q.tabAt(msg.X); ok && msg.Button == tea.MouseLeft {
				return q.switchTab(t), true
			}
			return nil, true
		}
		msg.Y-- // below the tab line
		_, cmd := q.oncall.Update(msg)
		return cmd, true
	case tea.MouseMsg:
		return nil, true
	}
	return nil, false
}

func (q *queueScreen) markedList() []approvals.Request {
	out := make([]approvals.Request, 0, len(q.marks))
	for _, r := range q.marks {
		out = append(out, r)
	}
	// oldest first, as the queue lists them
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (q *queueScreen) updateFilter(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyPressMsg); ok {
		switch km.String() {
		case "enter":
			q.filtering = false
			q.filter.Blur()
			q.clampTop()
			return nil
		case "esc":
			q.filtering = false
			q.filter.Blur()
			q.filter.SetValue("")
			if q.filterText != "" {
				q.filterText = ""
				return q.reset(pageFirst)
			}
			return nil
		case "up", "down", "pgup", "pgdown":
			return q.navWhileFiltering(km)
		}
	}
	var cmd tea.Cmd
	q.filter, cmd = updateInput(q.filter, msg)
	if v := strings.TrimSpace(q.filter.Value()); v != q.filterText {
		q.filterText = v
		// The rows shown stay until the new first page replaces them (no
		// blank frame per keystroke); a superseded query is cancelled.
		q.searching = true
		return tea.Batch(cmd, q.reset(pageFirst))
	}
	return cmd
}

// navWhileFiltering handles navigation keys while the filter has focus.
func (q *queueScreen) navWhileFiltering(km tea.KeyPressMsg) tea.Cmd {
	q.filtering = false
	_, cmd := q.Update(km)
	q.filtering = true
	return cmd
}

func (q *queueScreen) applyPage(m pageMsg) tea.Cmd {
	if m.gen != q.gen {
		return nil // a newer window replaced the one this page was for
	}
	cmd := q.showPage(m)
	if m.kind != pageNext && m.kind != pagePrev {
		q.winLoad = 0
		if q.winStale {
			// Changes arrived while this page was read: it is shown (it is
			// newer than what was on screen), and the window is read again.
			cmd = tea.Batch(cmd, q.refresh())
		}
	}
	return cmd
}

// showPage puts a page of the current gen on screen.
func (q *queueScreen) showPage(m pageMsg) tea.Cmd {
	if m.err != nil {
		q.err = explain(m.err)
		q.loadingNext, q.loadingPrev, q.searching = false, false, false
		return nil
	}
	q.err = ""
	switch m.kind {
	case pageFirst, pageLast:
		q.searching = false
	case pageNext:
		q.loadingNext = false
	case pagePrev:
		q.loadingPrev = false
	}
	q.win.setHeight(q.listHeight())
	// A refresh keeps the cursor on the row selected when it lands, not
	// when it was asked for: the cursor may have moved while it was read.
	keep := ""
	if r, ok := q.win.selected(); ok {
		keep = r.ID
	}
	q.win.apply(m.kind, m.rows, len(m.rows) >= m.limit, keep, m.fromTop)
	q.loaded = true
	return q.prefetch()
}

func (q *queueScreen) applyCounts(m countsMsg) tea.Cmd {
	q.countsBusy = false
	var again tea.Cmd
	if q.countsStale {
		again = q.loadCounts()
	}
	if m.err != nil {
		return again
	}
	q.counts, q.countsKnown = m.counts, true
	var cmd tea.Cmd
	if m.newest.ID != "" && m.newest.ID > q.newestID {
		if q.newestKnown {
			cmd = q.announce(m.newest)
		}
		q.newestID = m.newest.ID
	}
	q.newestKnown = true
	return tea.Batch(cmd, again)
}

// announce rings the bell (and sends a desktop notification) once for a
// request that newly needs me.
func (q *queueScreen) announce(r approvals.Request) tea.Cmd {
	var cmds []tea.Cmd
	if q.ctx.Bell {
		cmds = append(cmds, tea.Raw("\a"))
	}
	if q.ctx.Notify {
		body := notifyText(fmt.Sprintf("jitdesk: %s asks for %s", r.Requester, r.TemplateTitle))
		cmds = append(cmds, tea.Raw(ansi.Notify(body)), tea.Raw(osc777("jitdesk", fmt.Sprintf("%s asks for %s", r.Requester, r.TemplateTitle))))
	}
	cmds = append(cmds, status(fmt.Sprintf("new request from %s: %s", Inert(r.Requester), Inert(r.TemplateTitle)), false))
	return tea.Batch(cmds...)
}

// maxNotifyRunes bounds a notification's text: a desktop pop-up shows a
// line or two, and a request's fields can be long.
const maxNotifyRunes = 120

// notifyText makes text safe inside an OSC notification: every control,
// escape and invisible character shown as a visible escape (Inert, so no
// BEL or ST can end the sequence early and nothing after it reaches the
// terminal as a command), and the length bounded.
func notifyText(s string) string {
	s = Inert(s)
	if r := []rune(s); len(r) > maxNotifyRunes {
		s = string(r[:maxNotifyRunes-1]) + "…"
	}
	return s
}

// osc777 is the notification of urxvt, foot, Ghostty, WezTerm and VTE
// terminals (OSC 777;notify;title;body BEL); terminals without it ignore
// it. title and body pass notifyText, and ';' (which separates OSC 777's
// fields) becomes ',' so a body cannot add a field.
func osc777(title, body string) string {
	f := func(s string) string { return strings.ReplaceAll(notifyText(s), ";", ",") }
	return ansi.URxvtExt("notify", f(title), f(body))
}

func (q *queueScreen) tabAt(x int) (queueTab, bool) {
	pos := 0
	for t := queueTab(0); t < allTabs; t++ {
		w := lipgloss.Width(q.tabLabel(t)) + 3
		if x >= pos && x < pos+w {
			return t, true
		}
		pos += w
	}
	return 0, false
}

func (q *queueScreen) tabLabel(t queueTab) string {
	if t == tabOnCall {
		return t.label()
	}
	if q.countsKnown {
		if t == tabHistory && q.counts[t] >= historyCountCap {
			return fmt.Sprintf("%s (%s+)", t.label(), thousands(historyCountCap))
		}
		return fmt.Sprintf("%s (%s)", t.label(), thousands(q.counts[t]))
	}
	return t.label()
}

// rowMarks is a row's short state: quorum progress and escalation while
// pending; the grant's state, break-glass and its review once approved.
// Every fact comes with the row from the list query (Request.Quorum,
// Request.Grant); "?" marks one the store did not supply. Pure.
func rowMarks(now time.Time, r approvals.Request) string {
	var parts []string
	switch r.Status {
	case approvals.StatusPending:
		if r.Approvals > 0 {
			if r.Quorum > 0 {
				parts = append(parts, fmt.Sprintf("%d/%d", r.Approvals, r.Quorum))
			} else {
				parts = append(parts, fmt.Sprintf("%d/?", r.Approvals))
			}
		}
		if r.Escalation > 0 {
			parts = append(parts, fmt.Sprintf("↑%d", r.Escalation))
		}
	case approvals.StatusApproved:
		if r.Grant == nil {
			return "?"
		}
		g := *r.Grant
		switch g.StateAt(now) {
		case approvals.GrantRevoked:
			parts = append(parts, "REVOKED")
		case approvals.GrantExpired:
			parts = append(parts, "expired")
		default:
			parts = append(parts, "active")
		}
		if g.BreakGlass {
			if !g.ReviewedAt.IsZero() {
				parts = append(parts, "BG✓")
			} else {
				parts = append(parts, "BG!")
			}
		}
	}
	return strings.Join(parts, " ")
}

// columns is the set of queue columns that fit a width.
type columns struct {
	age, requester, title, reason, app, ttl, badge, marks, right int
}

func queueColumns(w int, history bool) columns {
	c := columns{age: 4, requester: 12, app: 14, ttl: 5, badge: 7, marks: 11, right: 8}
	if history {
		c.right = 18
	}
	if w < 100 {
		c.app = 0
		c.marks = 7
	}
	if w < 70 {
		c.ttl = 0
		c.requester = 10
	}
	fixed := 2 + c.age + 1 + c.requester + 1 + c.badge + 1 + c.marks + 1 + c.right
	if c.app > 0 {
		fixed += c.app + 1
	}
	if c.ttl > 0 {
		fixed += c.ttl + 1
	}
	c.title = max(w-fixed-1, 6)
	if w >= 130 && c.title > 50 {
		// Wide terminals use the room for the reason: what the access is for.
		c.reason = c.title - 25
		c.title = 24
	}
	return c
}

// renderRow renders one queue row at width w. Every field from a request
// passes Inert before it is measured or truncated.
func renderRow(s *Styles, now time.Time, r approvals.Request, c columns, w int, selected, marked, history bool) string {
	prefix := "  "
	switch {
	case marked && selected:
		prefix = "›●"
	case selected:
		prefix = "› "
	case marked:
		prefix = " ●"
	}
	typeLabel := "APPROVE"
	if r.TemplateType == approvals.TypeSignAndApprove {
		typeLabel = "SIGN"
	}
	var right string
	warn := false
	if history {
		right = string(r.Status) + " " + Inert(r.DecidedBy)
	} else {
		right = countdown(now, r.ExpiresAt)
		warn = urgent(now, r)
	}
	marks := rowMarks(now, r)
	parts := []string{
		cell(age(now, r.CreatedAt), c.age),
		cell(Inert(r.Requester), c.requester),
		cell(Inert(r.TemplateTitle), c.title),
	}
	if c.reason > 0 {
		parts = append(parts, cell(Inert(firstLine(r.Reason)), c.reason))
	}
	if c.app > 0 {
		parts = append(parts, cell(Inert(r.AppName), c.app))
	}
	if c.ttl > 0 {
		parts = append(parts, cell(approvals.FormatDuration(r.TTL), c.ttl))
	}
	if selected {
		parts = append(parts, cell(typeLabel, c.badge), cell(marks, c.marks), cell(right, c.right))
		return s.Selected.Render(cell(prefix+strings.Join(parts, " "), w))
	}
	b := cell(typeLabel, c.badge)
	if r.TemplateType == approvals.TypeSignAndApprove {
		b = s.BadgeSign.Render(b)
	} else {
		b = s.BadgePlain.Render(b)
	}
	mk := cell(marks, c.marks)
	if strings.Contains(marks, "REVOKED") || strings.Contains(marks, "BG!") || strings.Contains(marks, "↑") {
		mk = s.Warn.Render(mk)
	} else {
		mk = s.Subtle.Render(mk)
	}
	rt := cell(right, c.right)
	if warn {
		rt = s.Warn.Render(rt)
	} else if history {
		rt = s.Subtle.Render(rt)
	}
	p := prefix
	if marked {
		p = s.Marked.Render(prefix)
	}
	return clip(p+strings.Join(parts, " ")+" "+b+" "+mk+" "+rt, w)
}

func queueHeader(s *Styles, c columns, w int, history bool) string {
	parts := []string{cell("AGE", c.age), cell("REQUESTER", c.requester), cell("ACCESS", c.title)}
	if c.reason > 0 {
		parts = append(parts, cell("REASON", c.reason))
	}
	if c.app > 0 {
		parts = append(parts, cell("APP", c.app))
	}
	if c.ttl > 0 {
		parts = append(parts, cell("TTL", c.ttl))
	}
	right, mk := "LEFT", "QUORUM"
	if history {
		right, mk = "OUTCOME", "GRANT"
	}
	parts = append(parts, cell("TYPE", c.badge), cell(mk, c.marks), cell(right, c.right))
	return s.Subtle.Render(clip("  "+strings.Join(parts, " "), w))
}

func (q *queueScreen) View() string {
	s := q.ctx.Styles
	var b strings.Builder
	// Tabs.
	var tabs []string
	for t := queueTab(0); t < allTabs; t++ {
		l := q.tabLabel(t)
		if t == q.tab {
			tabs = append(tabs, s.TabActive.Render(l))
		} else {
			tabs = append(tabs, s.Tab.Render(l))
		}
	}
	line := " " + strings.Join(tabs, "   ")
	if n := len(q.marks); n > 0 {
		line += s.Marked.Render(fmt.Sprintf("   %d marked", n))
	}
	b.WriteString(clip(line, q.w))
	b.WriteByte('\n')
	if q.tab == tabOnCall {
		b.WriteString(q.oncall.View())
		return b.String()
	}
	history := q.tab == tabHistory
	c := queueColumns(q.w, history)
	b.WriteString(queueHeader(s, c, q.w, history))
	lh := q.listHeight()
	now := q.ctx.Now()
	switch {
	case q.err != "":
		b.WriteString("\n  " + s.Error.Render(clip(q.err, q.w-2)))
	case !q.loaded:
		b.WriteString("\n  " + s.Subtle.Render("loading…"))
	case len(q.win.rows) == 0:
		msg := map[queueTab]string{tabNeedsMe: "Nothing needs you right now.", tabPending: "No pending requests.", tabHistory: "No decided requests yet."}[q.tab]
		if q.filterText != "" {
			msg = "Nothing matches “" + Inert(q.filterText) + "”."
		}
		b.WriteString("\n  " + s.Subtle.Render(clip(msg, q.w-2)))
	default:
		from, end := q.win.visible()
		for i := from; i < end; i++ {
			r := q.win.rows[i]
			_, marked := q.marks[r.ID]
			b.WriteByte('\n')
			b.WriteString(renderRow(s, now, r, c, q.w, i == q.win.sel, marked, history))
		}
		for i := end - from; i < lh; i++ {
			b.WriteByte('\n')
		}
	}
	if q.filtering {
		fv := q.filter.View()
		if q.searching {
			fv += s.Subtle.Render("  searching…")
		}
		b.WriteString("\n" + clip(fv, q.w))
	} else if q.filterText != "" {
		line := "filter: " + Inert(q.filterText) + "  (/ to edit, esc to clear)"
		if q.tab == tabHistory && utf8.RuneCountInString(strings.TrimSpace(q.filterText)) < approvals.ShortFilterMinRunes {
			line = fmt.Sprintf("filter: %s  · newest %s only; type %d+ characters to search all history", Inert(q.filterText), thousands(approvals.ShortFilterWindow), approvals.ShortFilterMinRunes)
		}
		b.WriteString("\n" + s.Info.Render(clip(line, q.w)))
	}
	return b.String()
}

func (q *queueScreen) ShortHelp() []key.Binding {
	k := q.ctx.Keys
	if q.tab == tabOnCall {
		return q.oncall.ShortHelp()
	}
	if q.filtering {
		return []key.Binding{k.Submit, k.Back}
	}
	if len(q.win.rows) == 0 {
		return []key.Binding{k.NextTab, k.Filter}
	}
	out := []key.Binding{k.Open}
	if r, ok := q.selected(); ok && r.Status == approvals.StatusApproved {
		out = append(out, k.Token)
	}
	if q.tab != tabHistory {
		out = append(out, k.Mark)
		if len(q.marks) > 0 {
			out = append(out, k.BulkApprove)
		}
	}
	return append(out, k.NextTab, k.Filter, k.Up, k.Down)
}

func (q *queueScreen) FullHelp() [][]key.Binding {
	k := q.ctx.Keys
	if q.tab == tabOnCall {
		return q.oncall.FullHelp()
	}
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.NextTab, k.PrevTab, k.Filter, k.Back},
		{k.Open, k.Token, k.Mark, k.BulkApprove},
		{k.Help, k.Quit},
	}
}
