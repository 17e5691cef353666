package ui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

// oncallLimit bounds each list of the On call tab: it is a dashboard of
// what is urgent now, not a browser (the queue tabs page through the rest).
const oncallLimit = 50

type oncallMsg struct {
	uid, gen    int
	at          time.Time
	shifts      []approvals.Shift
	mine        []approvals.PendingEscalation
	escalated   []approvals.PendingEscalation
	review      []approvals.PostReview
	reviewTotal int
	err         error
}

// ackedMsg is the result of acknowledging a break-glass grant.
type ackedMsg struct {
	uid int
	who string
	err error
}

// reloadOnCallMsg asks the On call tab to re-read (after a revoke made on
// a screen above it; the change feed would tell it too, a little later).
type reloadOnCallMsg struct{}

// reloadHeaderMsg asks the root to re-read the header's on-call and
// break-glass markers (after a change this session made itself).
type reloadHeaderMsg struct{}

type oncallRowKind int

const (
	rowMine oncallRowKind = iota
	rowEscalated
	rowReview
)

// oncallRow is one selectable row: an index into one of the lists.
type oncallRow struct {
	kind oncallRowKind
	i    int
}

type oncallMode int

const (
	ocBrowse oncallMode = iota
	ocAck
	ocRevoke
)

// oncallScreen is the On call tab: who holds each rotation's pager now and
// next, the requests waiting on me with their time to escalation, the
// escalated requests, and the break-glass grants waiting for post-review,
// which the on-call reviewer acknowledges (with a comment) or revokes.
// Everything it shows is read from the Service; who may review is the
// Service's answer (PostReview.CanReview), never decided here.
type oncallScreen struct {
	ctx *Context
	uid int
	// gen numbers the loads; shown is the gen on screen. A load newer than
	// what is shown is applied even when a later one is already asked for
	// (see reviewScreen).
	gen, shown int

	at          time.Time // when the shown data was read
	shifts      []approvals.Shift
	mine        []approvals.PendingEscalation
	escalated   []approvals.PendingEscalation
	review      []approvals.PostReview
	reviewTotal int
	loaded      bool
	loading     bool
	err         string

	sel      int
	scroll   int
	spans    [][2]int // each row's first line and line count in the last frame (for clicks)
	mode     oncallMode
	input    textinput.Model
	inputErr string
	busy     bool
	w, h     int
}

func newOnCall(ctx *Context) *oncallScreen {
	ti := newInput(ctx.Styles)
	ti.CharLimit = approvals.MaxCommentLen
	return &oncallScreen{ctx: ctx, uid: nextUID(ctx), input: ti}
}

// Init loads the tab.
func (o *oncallScreen) Init() tea.Cmd { return o.load() }

func (o *oncallScreen) load() tea.Cmd {
	o.gen++
	o.loading = true
	svc, ctx, uid, gen, login, now := o.ctx.Service, o.ctx.Ctx, o.uid, o.gen, o.ctx.Login, o.ctx.Now
	return func() tea.Msg {
		m := oncallMsg{uid: uid, gen: gen, at: now()}
		if m.shifts, m.err = svc.OnCallNow(ctx, m.at); m.err != nil {
			return m
		}
		if m.mine, m.err = svc.NeedsMeEscalation(ctx, login, oncallLimit); m.err != nil {
			return m
		}
		if m.escalated, m.err = svc.Escalated(ctx, login, nil, oncallLimit); m.err != nil {
			return m
		}
		if m.review, m.err = svc.PostReviewQueue(ctx, login, nil, oncallLimit); m.err != nil {
			return m
		}
		m.reviewTotal, m.err = svc.CountAwaitingReviewFor(ctx, login)
		return m
	}
}

func (o *oncallScreen) SetSize(w, h int) {
	o.w, o.h = w, h
	sizeInput(&o.input, w)
	o.relayout()
}

func (o *oncallScreen) capturesKeys() bool { return o.mode != ocBrowse }

// rows lists the selectable rows in display order.
func (o *oncallScreen) rows() []oncallRow {
	out := make([]oncallRow, 0, len(o.mine)+len(o.escalated)+len(o.review))
	for i := range o.mine {
		out = append(out, oncallRow{rowMine, i})
	}
	for i := range o.escalated {
		out = append(out, oncallRow{rowEscalated, i})
	}
	for i := range o.review {
		out = append(out, oncallRow{rowReview, i})
	}
	return out
}

func (o *oncallScreen) selected() (oncallRow, bool) {
	rs := o.rows()
	if o.sel < 0 || o.sel >= len(rs) {
		return oncallRow{}, false
	}
	return rs[o.sel], true
}

// nextChange is the earliest moment after the data was read at which what
// the tab shows changes by time alone (a hand-over, an override ending, an
// escalation falling due): the tab reloads then.
func (o *oncallScreen) nextChange() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(o.at) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, sh := range o.shifts {
		consider(sh.Until)
	}
	for _, p := range o.mine {
		consider(p.NextEscalation)
	}
	for _, p := range o.escalated {
		consider(p.NextEscalation)
	}
	return next
}

func (o *oncallScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := o.ctx.Keys
	defer o.relayout()
	switch msg := msg.(type) {
	case oncallMsg:
		if msg.uid != o.uid || msg.gen <= o.shown {
			return o, nil
		}
		o.shown = msg.gen
		o.loading = msg.gen != o.gen
		if msg.err != nil {
			o.err = explain(msg.err)
			return o, nil
		}
		var keep approvals.Request
		if r, ok := o.selected(); ok {
			keep = o.requestOf(r)
		}
		o.err = ""
		o.at, o.shifts, o.mine, o.escalated, o.review, o.reviewTotal, o.loaded =
			msg.at, msg.shifts, msg.mine, msg.escalated, msg.review, msg.reviewTotal, true
		o.keepSelection(keep.ID)
		if o.mode != ocBrowse {
			// The grant being reviewed may have been reviewed elsewhere.
			if r, ok := o.selected(); !ok || r.kind != rowReview {
				o.closeInput()
			}
		}
		return o, nil
	case ackedMsg:
		if msg.uid != o.uid {
			return o, nil
		}
		o.busy = false
		if msg.err != nil {
			return o, status(explain(msg.err), true)
		}
		o.closeInput()
		return o, tea.Batch(o.load(), reloadHeader, status("acknowledged "+msg.who+"'s break-glass grant", false))
	case changedMsg, reloadOnCallMsg:
		return o, o.load()
	case tickMsg:
		if n := o.nextChange(); !o.loading && !n.IsZero() && !o.ctx.Now().Before(n) {
			return o, o.load()
		}
		return o, nil
	case tea.BackgroundColorMsg:
		restyleInput(&o.input, o.ctx.Styles)
		return o, nil
	case tea.PasteMsg:
		if o.mode != ocBrowse {
			var cmd tea.Cmd
			o.input, cmd = updateInput(o.input, msg)
			return o, cmd
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			o.move(-1)
		case tea.MouseWheelDown:
			o.move(1)
		}
	case tea.MouseClickMsg:
		if o.mode != ocBrowse || msg.Button != tea.MouseLeft {
			return o, nil
		}
		line := o.scroll + msg.Y
		for i, sp := range o.spans {
			if line >= sp[0] && line < sp[0]+sp[1] {
				if i == o.sel {
					// A click on the selected row opens it (as enter does).
					id := o.requestOf(o.rows()[i]).ID
					return o, func() tea.Msg { return openReviewMsg{id} }
				}
				o.sel = i
			}
		}
	case tea.KeyPressMsg:
		if o.mode != ocBrowse {
			return o, o.updateInput(msg)
		}
		switch {
		case key.Matches(msg, k.Up):
			o.move(-1)
		case key.Matches(msg, k.Down):
			o.move(1)
		case key.Matches(msg, k.PageUp):
			o.move(-5)
		case key.Matches(msg, k.PageDown):
			o.move(5)
		case key.Matches(msg, k.Home):
			o.sel, o.scroll = 0, 0
		case key.Matches(msg, k.End):
			o.sel = max(len(o.rows())-1, 0)
		case key.Matches(msg, k.Open):
			if r, ok := o.selected(); ok {
				id := o.requestOf(r).ID
				return o, func() tea.Msg { return openReviewMsg{id} }
			}
		case key.Matches(msg, k.Acknowledge):
			return o, o.startReview(ocAck)
		case key.Matches(msg, k.Revoke):
			return o, o.startReview(ocRevoke)
		}
	}
	return o, nil
}

func (o *oncallScreen) move(d int) {
	n := len(o.rows())
	if n == 0 {
		return
	}
	o.sel = min(max(o.sel+d, 0), n-1)
}

// keepSelection puts the cursor back on the request it was on after a
// reload, or keeps its position when that request left the lists.
func (o *oncallScreen) keepSelection(id string) {
	rs := o.rows()
	if id != "" {
		for i, r := range rs {
			if o.requestOf(r).ID == id {
				o.sel = i
				return
			}
		}
	}
	o.sel = min(o.sel, max(len(rs)-1, 0))
}

func (o *oncallScreen) requestOf(r oncallRow) approvals.Request {
	switch r.kind {
	case rowMine:
		return o.mine[r.i].Request
	case rowEscalated:
		return o.escalated[r.i].Request
	}
	return o.review[r.i].Request
}

// startReview opens the comment (acknowledge) or reason (revoke) input for
// the selected break-glass grant, when the Service says I may review it.
func (o *oncallScreen) startReview(mode oncallMode) tea.Cmd {
	r, ok := o.selected()
	if !ok || r.kind != rowReview {
		return status("select a break-glass grant under “Break-glass to review” first", true)
	}
	it := o.review[r.i]
	if it.CanReview != nil {
		return status(reviewRefusal(it.CanReview), true)
	}
	if mode == ocRevoke && it.Grant.Revoked() {
		return status("this grant is already revoked; acknowledge it with a to finish its review", true)
	}
	o.mode, o.inputErr = mode, ""
	o.input.SetValue("")
	if mode == ocAck {
		o.input.Prompt = "acknowledge: "
		o.input.Placeholder = "what you checked (required)"
	} else {
		o.input.Prompt = "revoke because: "
		o.input.Placeholder = Inert(it.Grant.Subject) + " will lose access now (required)"
	}
	sizeInput(&o.input, o.w)
	return o.input.Focus()
}

func (o *oncallScreen) closeInput() {
	o.mode, o.inputErr = ocBrowse, ""
	o.input.Blur()
}

func (o *oncallScreen) updateInput(msg tea.KeyPressMsg) tea.Cmd {
	if o.busy {
		return nil
	}
	switch msg.String() {
	case "esc":
		o.closeInput()
		return nil
	case "enter":
		v := strings.TrimSpace(o.input.Value())
		r, ok := o.selected()
		if !ok || r.kind != rowReview {
			o.closeInput()
			return nil
		}
		it := o.review[r.i]
		if v == "" {
			if o.mode == ocAck {
				o.inputErr = "a comment is required: say what you checked"
			} else {
				o.inputErr = "a reason is required: " + Inert(it.Grant.Subject) + " will see it"
			}
			return nil
		}
		if o.mode == ocRevoke {
			o.closeInput()
			return push(newRevokeConfirm(o.ctx, it.Grant, it.Request.TemplateTitle, &it, v))
		}
		o.busy = true
		svc, ctx, uid, login, id, who := o.ctx.Service, o.ctx.Ctx, o.uid, o.ctx.Login, it.Grant.ID, Inert(it.Grant.Subject)
		return func() tea.Msg {
			_, err := svc.AcknowledgeBreakGlass(ctx, id, login, v)
			return ackedMsg{uid: uid, who: who, err: err}
		}
	}
	var cmd tea.Cmd
	o.input, cmd = updateInput(o.input, msg)
	o.inputErr = ""
	return cmd
}

func reloadHeader() tea.Msg { return reloadHeaderMsg{} }

// reviewRefusal says in plain words why the viewer may not review a
// break-glass grant (the Service's reason).
func reviewRefusal(err error) string {
	switch {
	case errors.Is(err, approvals.ErrSelfApproval):
		return "you used this break-glass grant; someone else has to review it"
	case errors.Is(err, approvals.ErrNotEligible):
		return "you are not a reviewer for this grant's template"
	}
	return explain(err)
}

// whoLabel names an approver for the tab: "alex (you)" for the viewer.
func whoLabel(login, me string) string {
	if login == "" {
		return "nobody"
	}
	if login == me {
		return Inert(login) + " (you)"
	}
	return Inert(login)
}

// shiftLine renders one rotation's now and next at width w. Pure.
func shiftLine(s *Styles, now time.Time, sh approvals.Shift, me string, rw, w int) string {
	holder := whoLabel(sh.Holder, me)
	if sh.Override != nil {
		holder += " · override to " + clock(sh.Override.Until)
	}
	next := "no hand-over scheduled"
	if !sh.Until.IsZero() {
		who := whoLabel(sh.Next, me)
		if sh.NextByOverride {
			who += " (override)"
		}
		next = fmt.Sprintf("→ %s at %s · in %s", who, clock(sh.Until), countdown(now, sh.Until))
	}
	hw := min(max(w/3, 14), 34)
	h := cell(holder, hw)
	if sh.Holder == me && me != "" {
		h = s.OK.Render(h)
	}
	return clip("  "+cell(Inert(sh.Rotation), rw)+" "+h+" "+s.Subtle.Render(next), w)
}

// escalationText says when a pending request escalates next. Pure.
func escalationText(now time.Time, p approvals.PendingEscalation) string {
	switch {
	case p.Cap == 0 && p.NextEscalation.IsZero():
		return "does not escalate"
	case p.NextEscalation.IsZero():
		return fmt.Sprintf("level %d/%d, last", p.Request.Escalation, p.Cap)
	case !now.Before(p.NextEscalation):
		return "escalating now"
	}
	return "escalates in " + countdown(now, p.NextEscalation)
}

// requestLine renders a pending request row of the tab. Pure.
func requestLine(s *Styles, now time.Time, p approvals.PendingEscalation, w int, selected bool) string {
	r := p.Request
	right := escalationText(now, p)
	rw := min(22, max(w/4, 12))
	tw := max(w-2-4-1-12-1-1-rw, 6)
	prefix := "  "
	if selected {
		prefix = "› "
	}
	what := cell(Inert(r.TemplateTitle), tw)
	if tw > 44 {
		// Wide: the reason beside the title says what the page is about.
		what = cell(Inert(r.TemplateTitle), 24) + " " + cell(Inert(firstLine(r.Reason)), tw-25)
	}
	line := prefix + cell(age(now, r.CreatedAt), 4) + " " + cell(Inert(r.Requester), 12) + " " + what + " "
	rt := cell(right, rw)
	if selected {
		return s.Selected.Render(cell(line+rt, w))
	}
	if !p.NextEscalation.IsZero() && p.NextEscalation.Sub(now) <= 2*time.Minute {
		rt = s.Warn.Render(rt)
	} else {
		rt = s.Subtle.Render(rt)
	}
	return clip(line+rt, w)
}

// firstLine is the first line of a multi-line field (a reason).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// grantState says whether a grant still gives access at now, and how its
// post-review stands.
func grantState(now time.Time, g approvals.Grant) string {
	var st string
	switch g.StateAt(now) {
	case approvals.GrantRevoked:
		st = "REVOKED by " + Inert(g.RevokedBy) + " at " + clock(g.RevokedAt)
	case approvals.GrantExpired:
		st = "expired"
	default:
		st = "active " + countdown(now, g.ExpiresAt)
	}
	if g.Acknowledged() {
		return st + " · acknowledged by " + Inert(g.ReviewedBy)
	}
	return st
}

// postReviewLines renders one break-glass grant awaiting review: who used
// it, for what, when, for how long, and the reason they gave. Pure.
func postReviewLines(s *Styles, now time.Time, it approvals.PostReview, w int, selected bool) []string {
	g := it.Grant
	prefix := "  "
	if selected {
		prefix = "› "
	}
	head := fmt.Sprintf("%s%s broke glass for %s at %s · %s · %s", prefix, Inert(g.Subject), Inert(it.Request.TemplateTitle),
		clock(g.IssuedAt), approvals.FormatDuration(it.TTL), grantState(now, g))
	first := clip(head, w)
	if selected {
		first = s.Selected.Render(cell(head, w))
	}
	reason := "    “" + Inert(it.Reason) + "”"
	out := []string{first, clip(reason, w)}
	if it.CanReview != nil {
		out = append(out, s.Subtle.Render(clip("    "+reviewRefusal(it.CanReview), w)))
	}
	return out
}

// body lays out the tab, says which line the selected row starts on and
// where each row is (its first line and line count, for clicks). Pure.
func (o *oncallScreen) body(now time.Time) ([]string, int, [][2]int) {
	s := o.ctx.Styles
	me := o.ctx.Login
	var out []string
	selLine := 0
	var spans [][2]int
	section := func(title string) {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, s.Title.Render(clip(title, o.w)))
	}
	section("On call now")
	if len(o.shifts) == 0 {
		out = append(out, s.Subtle.Render(clip("  No rotations yet (jitdesk oncall add NAME --member …).", o.w)))
	}
	rw := 8
	for _, sh := range o.shifts {
		rw = max(rw, lipgloss.Width(Inert(sh.Rotation)))
	}
	rw = min(rw, 20)
	for _, sh := range o.shifts {
		out = append(out, shiftLine(s, now, sh, me, rw, o.w))
	}
	idx := 0
	section(fmt.Sprintf("Paging me (%d)", len(o.mine)))
	if len(o.mine) == 0 {
		out = append(out, s.Subtle.Render("  No escalating request waits on you."))
	}
	for _, p := range o.mine {
		if idx == o.sel {
			selLine = len(out)
		}
		spans = append(spans, [2]int{len(out), 1})
		out = append(out, requestLine(s, now, p, o.w, idx == o.sel))
		idx++
	}
	section(fmt.Sprintf("Escalated (%d)", len(o.escalated)))
	if len(o.escalated) == 0 {
		out = append(out, s.Subtle.Render("  No escalated requests."))
	}
	for _, p := range o.escalated {
		if idx == o.sel {
			selLine = len(out)
		}
		spans = append(spans, [2]int{len(out), 1})
		out = append(out, requestLine(s, now, p, o.w, idx == o.sel))
		idx++
	}
	title := fmt.Sprintf("Break-glass to review (%d)", o.reviewTotal)
	if o.reviewTotal > len(o.review) {
		title = fmt.Sprintf("Break-glass to review (%d, oldest %d shown)", o.reviewTotal, len(o.review))
	}
	section(title)
	if len(o.review) == 0 {
		out = append(out, s.Subtle.Render("  No break-glass grants wait for review."))
	}
	for _, it := range o.review {
		if idx == o.sel {
			selLine = len(out)
		}
		l := postReviewLines(s, now, it, o.w, idx == o.sel)
		spans = append(spans, [2]int{len(out), len(l)})
		out = append(out, l...)
		idx++
	}
	return out, selLine, spans
}

// foot is the bottom of the tab: the open input, or what the keys do for
// the selected row.
func (o *oncallScreen) foot() []string {
	s := o.ctx.Styles
	if o.mode != ocBrowse {
		l := []string{clip(o.input.View(), o.w)}
		switch {
		case o.busy:
			l = append(l, s.Subtle.Render("recording…"))
		case o.inputErr != "":
			l = append(l, s.Error.Render(clip(o.inputErr, o.w)))
		case o.mode == ocAck:
			l = append(l, s.Subtle.Render(clip("enter acknowledge · esc cancel", o.w)))
		default:
			l = append(l, s.Subtle.Render(clip("enter continue (you confirm next) · esc cancel", o.w)))
		}
		return l
	}
	// The root's hint line names the keys.
	return nil
}

// relayout keeps the selected row (and the reason under a grant) in view
// and records where the rows are for clicks; it runs after every change,
// so View only reads the result. The rotations show whenever the first
// row is selected.
func (o *oncallScreen) relayout() {
	if !o.loaded || o.err != "" {
		o.scroll, o.spans = 0, nil
		return
	}
	lines, selLine, spans := o.body(o.ctx.Now())
	o.spans = spans
	avail := max(o.h-len(o.foot()), 1)
	if o.sel == 0 {
		o.scroll = 0
	}
	if selLine < o.scroll {
		o.scroll = selLine
	}
	if selLine+2 > o.scroll+avail {
		o.scroll = selLine + 2 - avail
	}
	o.scroll = min(max(o.scroll, 0), max(len(lines)-avail, 0))
}

func (o *oncallScreen) View() string {
	s := o.ctx.Styles
	if o.err != "" {
		return s.Error.Render(clip(o.err, o.w))
	}
	if !o.loaded {
		return s.Subtle.Render("loading…")
	}
	lines, _, _ := o.body(o.ctx.Now())
	foot := o.foot()
	avail := max(o.h-len(foot), 1)
	start := min(o.scroll, max(len(lines)-avail, 0))
	body := lines[start:min(len(lines), start+avail)]
	for len(body) < avail {
		body = append(body, "")
	}
	return strings.Join(append(body, foot...), "\n")
}

func (o *oncallScreen) ShortHelp() []key.Binding {
	k := o.ctx.Keys
	if o.mode != ocBrowse {
		return []key.Binding{k.Submit, k.Back}
	}
	if r, ok := o.selected(); ok && r.kind == rowReview {
		if o.review[r.i].CanReview == nil {
			return []key.Binding{k.Acknowledge, k.Revoke, k.Open, k.NextTab, k.Up, k.Down}
		}
	}
	if _, ok := o.selected(); ok {
		return []key.Binding{k.Open, k.NextTab, k.Up, k.Down}
	}
	return []key.Binding{k.NextTab}
}

func (o *oncallScreen) FullHelp() [][]key.Binding {
	k := o.ctx.Keys
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.NextTab, k.PrevTab, k.Open},
		{k.Acknowledge, k.Revoke},
		{k.Help, k.Quit},
	}
}
