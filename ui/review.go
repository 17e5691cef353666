package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

type reviewMode int

const (
	modeNone reviewMode = iota
	modeDeny
	modeTTL
	modeBreakGlass
)

type reviewMsg struct {
	uid, gen int
	d        approvals.Detail
	history  []approvals.Request
	canErr   error
	bgTTL    time.Duration // break-glass grant length when bgErr is nil
	bgErr    error
	sigs     []signature.Signature
	sigErr   error
	err      error
}

// reviewScreen shows everything about one request and starts decisions.
type reviewScreen struct {
	ctx *Context
	uid int
	id  string
	// gen numbers the loads; shown is the gen on screen. A load newer than
	// what is shown is applied even when a later one is already asked for:
	// under a steady stream of changes, waiting for the latest would show
	// nothing new at all.
	gen, shown int
	// fromList says the review was opened from (or follows) the queue's
	// highlighted row: the root keeps the two paired in the split view.
	fromList bool
	// leftNote is what the split view says when this request leaves the
	// list (set by the decision that made it leave; else read from d).
	leftNote string

	d        approvals.Detail
	history  []approvals.Request
	canErr   error // nil when I may decide now
	bgTTL    time.Duration
	bgErr    error // nil when the Service lets me break glass on this request
	sigs     []signature.Signature
	sigErr   error
	loaded   bool
	err      string
	grantTTL time.Duration // 0: what was asked
	mode     reviewMode
	input    textinput.Model
	inputErr string
	notice   string
	scroll   int
	w, h     int
}

func newReview(ctx *Context, id string) *reviewScreen {
	ti := newInput(ctx.Styles)
	ti.CharLimit = approvals.MaxCommentLen
	return &reviewScreen{ctx: ctx, uid: nextUID(ctx), id: id, input: ti}
}

func (r *reviewScreen) Init() tea.Cmd { return r.load() }

func (r *reviewScreen) load() tea.Cmd {
	r.gen++
	svc, ctx, uid, gen, id, login := r.ctx.Service, r.ctx.Ctx, r.uid, r.gen, r.id, r.ctx.Login
	return func() tea.Msg {
		m := reviewMsg{uid: uid, gen: gen}
		m.d, m.err = svc.Get(ctx, id)
		if m.err != nil {
			return m
		}
		hist, err := svc.List(ctx, approvals.RequestQuery{Scope: approvals.ScopeAll, Requester: m.d.Request.Requester, Viewer: login, Limit: 6})
		if err == nil {
			for _, h := range hist {
				if h.ID != id && len(m.history) < 5 {
					m.history = append(m.history, h)
				}
			}
		}
		for _, rv := range m.d.Reviews {
			if rv.SignatureDigest != "" {
				m.sigs, m.sigErr = svc.Signatures(ctx, id)
				break
			}
		}
		m.canErr = svc.CanDecide(ctx, id, login)
		m.bgTTL, m.bgErr = svc.CanBreakGlass(ctx, id, login)
		return m
	}
}

func (r *reviewScreen) SetSize(w, h int) {
	r.w, r.h = w, h
	sizeInput(&r.input, w)
	r.clamp()
}

func (r *reviewScreen) capturesKeys() bool { return r.mode != modeNone }

// ttl is the grant lifetime the approver will agree to.
func (r *reviewScreen) ttl() time.Duration {
	if r.grantTTL > 0 {
		return r.grantTTL
	}
	return r.d.Request.TTL
}

func (r *reviewScreen) pending() bool {
	return r.loaded && r.d.Request.Status == approvals.StatusPending
}

func (r *reviewScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := r.ctx.Keys
	defer r.clamp()
	switch msg := msg.(type) {
	case reviewMsg:
		if msg.uid != r.uid || msg.gen <= r.shown {
			return r, nil
		}
		r.shown = msg.gen
		if msg.err != nil {
			r.err = explain(msg.err)
			return r, nil
		}
		r.err = ""
		r.d, r.history, r.canErr, r.loaded = msg.d, msg.history, msg.canErr, true
		r.bgTTL, r.bgErr = msg.bgTTL, msg.bgErr
		r.sigs, r.sigErr = msg.sigs, msg.sigErr
		if r.d.Request.Status != approvals.StatusPending && r.mode != modeNone {
			r.mode = modeNone
			r.input.Blur()
		}
		return r, nil
	case changedMsg:
		return r, r.load()
	case tea.BackgroundColorMsg:
		restyleInput(&r.input, r.ctx.Styles)
		return r, nil
	case noticeMsg:
		if msg.id == r.id {
			r.notice = msg.text
		}
		return r, nil
	case tea.PasteMsg:
		if r.mode != modeNone {
			var cmd tea.Cmd
			r.input, cmd = updateInput(r.input, msg)
			return r, cmd
		}
		return r, nil
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			r.scrollBy(-3)
		} else if msg.Button == tea.MouseWheelDown {
			r.scrollBy(3)
		}
	case tea.KeyPressMsg:
		if r.mode != modeNone {
			return r, r.updateInput(msg)
		}
		switch {
		case key.Matches(msg, k.Back):
			return r, pop(1)
		case key.Matches(msg, k.Up), key.Matches(msg, k.ScrollUp):
			// Up and Down reach the review only when it was not opened
			// from the list beside it (the root moves the list then).
			r.scrollBy(-1)
		case key.Matches(msg, k.Down), key.Matches(msg, k.ScrollDown):
			r.scrollBy(1)
		case key.Matches(msg, k.PageUp):
			r.scrollBy(-(r.h - 2))
		case key.Matches(msg, k.PageDown):
			r.scrollBy(r.h - 2)
		case key.Matches(msg, k.Home):
			r.scroll = 0
		case key.Matches(msg, k.Token):
			if r.hasGrant() {
				return r, push(newTokenScreen(r.ctx, r.id))
			}
		case key.Matches(msg, k.Approve):
			if err := r.decisionRefusal(); err != "" {
				return r, status(err, true)
			}
			if r.d.Template.Type == approvals.TypeSignAndApprove {
				return r, push(newPad(r.ctx, r.d, r.ttl()))
			}
			return r, push(newConfirm(r.ctx, decision{approve: true, d: r.d, ttl: r.ttl(), depth: 2}))
		case key.Matches(msg, k.Deny):
			if err := r.decisionRefusal(); err != "" {
				return r, status(err, true)
			}
			r.mode = modeDeny
			r.inputErr = ""
			r.input.Prompt = "deny because: "
			sizeInput(&r.input, r.w)
			r.input.Placeholder = "the requester will see this (required)"
			r.input.SetValue("")
			return r, r.input.Focus()
		case key.Matches(msg, k.BreakGlass):
			if !r.loaded {
				return r, status("still loading the request", true)
			}
			if r.bgErr != nil {
				return r, status("break-glass is not possible here: "+explain(r.bgErr), true)
			}
			if err := r.keyRefusal(); err != "" {
				return r, status(err, true)
			}
			r.mode = modeBreakGlass
			r.inputErr = ""
			r.input.Prompt = "break glass because: "
			sizeInput(&r.input, r.w)
			r.input.Placeholder = fmt.Sprintf("why this cannot wait (at least %d characters)", approvals.MinBreakGlassReason)
			r.input.SetValue("")
			return r, r.input.Focus()
		case key.Matches(msg, k.TTL):
			if err := r.refusal(); err != "" {
				return r, status(err, true)
			}
			r.mode = modeTTL
			r.inputErr = ""
			r.input.Prompt = "grant for: "
			sizeInput(&r.input, r.w)
			r.input.Placeholder = "e.g. 15m (at most " + approvals.FormatDuration(r.d.Request.TTL) + ")"
			r.input.SetValue(approvals.FormatDuration(r.ttl()))
			r.input.CursorEnd()
			return r, r.input.Focus()
		}
	}
	return r, nil
}

// refusal says why no decision can be started now ("" when one can).
func (r *reviewScreen) refusal() string {
	if !r.loaded {
		return "still loading the request"
	}
	if r.d.Request.Status != approvals.StatusPending {
		return "no action possible: this request was " + decidedLine(r.d.Request)
	}
	if r.canErr != nil {
		return explain(r.canErr)
	}
	return ""
}

// decisionRefusal is refusal for starting a decision (approve, deny, break
// glass): also refused up front when the template requires a key signature
// and this session reaches no agent, certain to fail — said before a
// signature is drawn or a comment typed. (With an agent, the confirm screen
// asks it which key would sign.)
func (r *reviewScreen) decisionRefusal() string {
	if err := r.refusal(); err != "" {
		return err
	}
	return r.keyRefusal()
}

func (r *reviewScreen) keyRefusal() string {
	if r.d.Template.RequireKeySignature && r.ctx.KeySource == nil {
		return "SSH key signature required: " + noAgentWords
	}
	return ""
}

func (r *reviewScreen) updateInput(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		r.mode = modeNone
		r.input.Blur()
		r.inputErr = ""
		return nil
	case "enter":
		v := strings.TrimSpace(r.input.Value())
		switch r.mode {
		case modeDeny:
			if v == "" {
				r.inputErr = "a comment is required: say why, the requester will see it"
				return nil
			}
			r.mode = modeNone
			r.input.Blur()
			return push(newConfirm(r.ctx, decision{approve: false, d: r.d, comment: v, depth: 2}))
		case modeBreakGlass:
			if err := approvals.ValidateBreakGlassReason(v); err != nil {
				r.inputErr = explain(err)
				return nil
			}
			r.mode = modeNone
			r.input.Blur()
			return push(newBreakGlassPad(r.ctx, r.d, r.bgTTL, v))
		case modeTTL:
			d, err := approvals.ParseDuration(v)
			if err != nil {
				r.inputErr = explain(err)
				return nil
			}
			if d > r.d.Request.TTL {
				r.inputErr = fmt.Sprintf("%s is longer than the %s asked for; you can only shorten it", approvals.FormatDuration(d), approvals.FormatDuration(r.d.Request.TTL))
				return nil
			}
			if d < time.Minute {
				r.inputErr = "a grant lasts at least 1m"
				return nil
			}
			r.grantTTL = d
			if d == r.d.Request.TTL {
				r.grantTTL = 0
			}
			r.mode = modeNone
			r.input.Blur()
			return nil
		}
	}
	var cmd tea.Cmd
	r.input, cmd = updateInput(r.input, msg)
	return cmd
}

func (r *reviewScreen) hasGrant() bool { return r.loaded && r.d.Grant != nil }

func (r *reviewScreen) scrollBy(n int) { r.scroll += n }

// clamp keeps the scroll inside the content; it runs after every change
// (message or size), so View only reads it.
func (r *reviewScreen) clamp() {
	if !r.loaded || r.err != "" {
		r.scroll = 0
		return
	}
	r.scroll = min(max(r.scroll, 0), max(len(r.lines())-r.avail(), 0))
}

func (r *reviewScreen) lines() []string {
	return reviewLines(r.ctx.Styles, r.ctx.Now(), r.d, r.history, r.sigs, r.sigErr, r.grantTTL, r.w)
}

// avail is how many content lines fit above the foot and the scroll line.
func (r *reviewScreen) avail() int { return max(r.h-len(r.foot())-1, 1) }

// reviewLines lays out the request's details at width w. Pure: every value
// from the request passes Inert here.
func reviewLines(s *Styles, now time.Time, d approvals.Detail, history []approvals.Request, sigs []signature.Signature, sigErr error, grantTTL time.Duration, w int) []string {
	req, t := d.Request, d.Template
	const lw = 12
	vw := max(w-lw-1, 10)
	var out []string
	add := func(label, value string) {
		wrapped := wrapInert(value, vw)
		for i, l := range wrapped {
			if i == 0 {
				out = append(out, kv(s, label, lw, l))
			} else {
				out = append(out, strings.Repeat(" ", lw+1)+l)
			}
		}
	}
	title := s.Title.Render(clip(Inert(t.Title), max(w-20, 10))) + "  " + badge(s, t.Type)
	out = append(out, title)
	if req.Status != approvals.StatusPending {
		dl := decidedLine(req)
		out = append(out, s.Warn.Render(clip(strings.ToUpper(dl[:1])+dl[1:]+" — no action possible", w)))
	}
	if d.Grant != nil {
		st := s.OK
		if d.Grant.StateAt(now) != approvals.GrantActive || d.Grant.BreakGlass && !d.Grant.Acknowledged() {
			st = s.Error
		}
		for _, l := range wrapInert("Grant: "+grantWords(now, *d.Grant), w) {
			out = append(out, st.Render(l))
		}
	}
	out = append(out, "")
	add("Request", req.ID)
	add("Requester", Inert(req.Requester))
	app := Inert(d.Application.Name)
	if d.Application.Audience != "" {
		app += " (" + Inert(d.Application.Audience) + ")"
	}
	add("Application", app)
	add("Template", Inert(t.Key)+" · "+t.Type.Label())
	if t.RequireKeySignature {
		add("Key signing", "required: decisions are signed with the approver's SSH key")
	}
	approved := d.ApprovedBy()
	q := fmt.Sprintf("%d of %d approval(s)", len(approved), t.Quorum)
	if len(approved) > 0 {
		names := make([]string, len(approved))
		for i, a := range approved {
			names[i] = Inert(a)
		}
		q += " · approved by " + strings.Join(names, ", ")
	}
	add("Quorum", q)
	ttl := grantTTL
	if ttl <= 0 {
		ttl = req.TTL
	}
	asked := approvals.FormatDuration(req.TTL)
	if ttl != req.TTL {
		add("Duration", fmt.Sprintf("%s (shortened from the %s asked)", approvals.FormatDuration(ttl), asked))
	} else {
		add("Duration", asked+" as asked")
	}
	if req.Status == approvals.StatusPending {
		add("Access until", fmt.Sprintf("%s if approved now", stamp(now.Add(ttl))))
	} else if d.Grant != nil {
		add("Grant", d.Grant.ID)
	}
	add("Created", fmt.Sprintf("%s (%s ago)", stamp(req.CreatedAt), age(now, req.CreatedAt)))
	if req.Status == approvals.StatusPending {
		left := countdown(now, req.ExpiresAt)
		v := fmt.Sprintf("%s (in %s)", stamp(req.ExpiresAt), left)
		if urgent(now, req) {
			v = s.Warn.Render(v)
		}
		add("Expires", v)
	} else if rec := d.Decision(); rec != nil {
		v := decidedWords(rec.Outcome, rec.By, rec.At)
		if rec.Comment != "" {
			v += ": " + Inert(rec.Comment)
		}
		add("Decided", v)
	}
	out = append(out, "", s.Label.Render("Reason"))
	for _, l := range InertLines(req.Reason) {
		for _, wl := range wrapInert(l, max(w-2, 10)) {
			out = append(out, "  "+wl)
		}
	}
	if len(req.Metadata) > 0 {
		out = append(out, "", s.Label.Render("Details"))
		keys := make([]string, 0, len(req.Metadata))
		for k := range req.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		mw := 0
		for _, k := range keys {
			mw = max(mw, len([]rune(Inert(k))))
		}
		mw = min(mw, max(w/3, 8))
		for _, k := range keys {
			vals := wrapInert(Inert(req.Metadata[k]), max(w-mw-4, 10))
			for i, v := range vals {
				if i == 0 {
					out = append(out, "  "+s.Label.Render(cell(Inert(k), mw))+"  "+v)
				} else {
					out = append(out, "  "+strings.Repeat(" ", mw)+"  "+v)
				}
			}
		}
	}
	if len(d.Reviews) > 0 {
		out = append(out, "", s.Label.Render("Reviews"))
		for _, rv := range d.Reviews {
			line := fmt.Sprintf("%s %sd at %s · %s", Inert(rv.Approver), rv.Decision, clock(rv.At), reviewKeyWords(rv))
			if rv.Comment != "" {
				line += ": " + Inert(rv.Comment)
			}
			for _, wl := range wrapInert(line, max(w-2, 10)) {
				out = append(out, "  "+wl)
			}
		}
	}
	if len(sigs) > 0 || sigErr != nil {
		out = append(out, "", s.Label.Render("Signatures"))
		if sigErr != nil {
			out = append(out, s.Error.Render(clip("  cannot show the signatures: "+explain(sigErr), w)))
		}
		for _, sig := range sigs {
			out = append(out, signatureLines(s, sig, w)...)
		}
	}
	out = append(out, "", s.Label.Render("Recent requests by "+clip(Inert(req.Requester), max(w-24, 8))))
	if len(history) == 0 {
		out = append(out, "  "+s.Subtle.Render("none before this one"))
	}
	for _, h := range history {
		st := string(h.Status)
		if h.Status != approvals.StatusPending && h.DecidedBy != "" {
			st += " by " + Inert(h.DecidedBy)
		}
		out = append(out, clip(fmt.Sprintf("  %-4s %s  %s", age(now, h.CreatedAt), cell(Inert(h.TemplateTitle), max(min(24, w/3), 8)), st), w))
	}
	return out
}

// foot is what sits under the details: a notice, the open input, or why
// I cannot act here (the key hints are the root's one hint line).
func (r *reviewScreen) foot() []string {
	s := r.ctx.Styles
	var foot []string
	if r.notice != "" {
		foot = append(foot, s.OK.Render(clip(r.notice, r.w)))
	}
	switch {
	case r.mode != modeNone:
		foot = append(foot, clip(r.input.View(), r.w))
		if r.inputErr != "" {
			foot = append(foot, s.Error.Render(clip(r.inputErr, r.w)))
		} else {
			foot = append(foot, s.Subtle.Render("enter to continue (you confirm next) · esc to cancel"))
		}
	case !r.pending():
	case r.canErr != nil:
		foot = append(foot, s.Warn.Render(clip("You cannot decide this: "+explain(r.canErr), r.w)))
		if r.bgErr == nil {
			foot = append(foot, s.Error.Render(clip(fmt.Sprintf("Break glass: approve it yourself for %s, signed, reviewed later", approvals.FormatDuration(r.bgTTL)), r.w)))
		}
	}
	return foot
}

func (r *reviewScreen) View() string {
	s := r.ctx.Styles
	if r.err != "" {
		return s.Error.Render(clip(r.err, r.w)) + "\n\n" + s.Subtle.Render("esc to go back")
	}
	if !r.loaded {
		return s.Subtle.Render("loading request…")
	}
	lines := r.lines()
	foot := r.foot()
	avail := r.avail()
	maxScroll := max(len(lines)-avail, 0)
	start := min(r.scroll, maxScroll)
	body := lines[start:min(len(lines), start+avail)]
	for len(body) < avail {
		body = append(body, "")
	}
	more := ""
	if maxScroll > 0 {
		sc := r.ctx.Keys.ScrollDown.Help().Key
		more = s.Subtle.Render(clip(fmt.Sprintf("  %s scroll (%d more)", sc, maxScroll-start), r.w))
	}
	return strings.Join(body, "\n") + "\n" + more + "\n" + strings.Join(foot, "\n")
}

func (r *reviewScreen) ShortHelp() []key.Binding {
	k := r.ctx.Keys
	if r.mode != modeNone {
		return []key.Binding{k.Submit, k.Back}
	}
	sc := k.ScrollDown
	sc.SetHelp("J/K", "scroll")
	switch {
	case r.pending() && r.canErr == nil:
		a := k.Approve
		if r.d.Template.Type == approvals.TypeSignAndApprove {
			a.SetHelp(k.Approve.Help().Key, "sign and approve")
		}
		return []key.Binding{a, k.Deny, k.TTL, k.Back, sc}
	case r.pending() && r.bgErr == nil:
		return []key.Binding{k.BreakGlass, k.Back, sc}
	case r.hasGrant():
		return []key.Binding{k.Token, k.Back, sc}
	}
	return []key.Binding{k.Back, sc}
}

func (r *reviewScreen) FullHelp() [][]key.Binding {
	k := r.ctx.Keys
	return [][]key.Binding{
		{k.Approve, k.Deny, k.TTL, k.Token, k.BreakGlass},
		{k.Up, k.Down, k.ScrollUp, k.ScrollDown, k.PageUp, k.PageDown, k.Home},
		{k.Back, k.Help, k.Quit},
	}
}

// noticeMsg shows a line on the review of request id (e.g. after a partial approval).
type noticeMsg struct{ id, text string }
