package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// padScreen is the signature pad: a braille canvas drawn on with the mouse
// (press–drag–release is one stroke) or the keyboard (arrows move a visible
// pen, space lowers and lifts it), or a typed name drawn in a stroke font.
type padScreen struct {
	ctx *Context
	uid int
	d   approvals.Detail
	ttl time.Duration

	cols, rows int // canvas size in cells, fixed once something is drawn
	strokes    []signature.Stroke
	drawing    bool // a mouse stroke is in progress
	penDown    bool // the keyboard pen is down (its stroke is the last one)
	penX, penY int  // keyboard pen, in dots
	start      time.Time
	lastT      int64
	typed      bool
	name       textinput.Model
	// breakGlass: signing one's own request in an emergency, with reason.
	breakGlass bool
	reason     string
	err        string
	w, h       int
}

func newPad(ctx *Context, d approvals.Detail, ttl time.Duration) *padScreen {
	ti := newInput(ctx.Styles)
	ti.Prompt = "your full name: "
	ti.CharLimit = signature.MaxTextRunes
	return &padScreen{ctx: ctx, uid: nextUID(ctx), d: d, ttl: ttl, name: ti, cols: 60, rows: 8}
}

// newBreakGlassPad is the pad for a break-glass self-approval: the same
// signature, bound to the same statement, for the capped grant length the
// Service named; the confirm after it says plainly that this is break-glass.
func newBreakGlassPad(ctx *Context, d approvals.Detail, ttl time.Duration, reason string) *padScreen {
	p := newPad(ctx, d, ttl)
	p.breakGlass, p.reason = true, reason
	return p
}

func (p *padScreen) meaning() string { return approvals.Meaning(p.d.Request, p.d.Template, p.ttl) }

func (p *padScreen) SetSize(w, h int) {
	p.w, p.h = w, h
	sizeInput(&p.name, w)
	if len(p.strokes) == 0 {
		p.cols = max(min(w-2, 60), 20)
		p.rows = min(max(4, h-14), 12) // 8 rows at 80×24's body of 21 is 7
		p.penX, p.penY = p.cols/4, p.rows*2
	}
}

func (p *padScreen) capturesKeys() bool { return p.typed }

// headerLines is the text above the canvas: title, meaning, signer.
func (p *padScreen) headerLines() []string {
	s := p.ctx.Styles
	out := []string{s.Title.Render("Sign to approve")}
	if p.breakGlass {
		out = []string{s.Error.Render(clip("BREAK GLASS · sign to approve your own request", p.w))}
	}
	for _, l := range wrapInert(Inert(p.meaning()), max(p.w, 10)) {
		out = append(out, l)
	}
	name := p.ctx.Me.Name
	out = append(out, s.Subtle.Render(clip(fmt.Sprintf("Signed by %s (%s) · %s", Inert(name), Inert(p.ctx.Login), stamp(p.ctx.Now())), p.w)))
	return out
}

// canvasOrigin is where the canvas's first cell is in the view.
func (p *padScreen) canvasOrigin() (x, y int) { return 1, len(p.headerLines()) + 1 }

// dotAt converts a view cell to a canvas dot; ok is false outside the canvas.
func (p *padScreen) dotAt(x, y int) (signature.Point, bool) {
	ox, oy := p.canvasOrigin()
	cx, cy := x-ox, y-oy
	if cx < 0 || cy < 0 || cx >= p.cols || cy >= p.rows {
		return signature.Point{}, false
	}
	return signature.Point{X: 2 * cx, Y: 4*cy + 1}, true
}

func (p *padScreen) stamp() int64 {
	now := p.ctx.Now()
	if p.start.IsZero() {
		p.start = now
	}
	t := now.Sub(p.start).Milliseconds()
	if t < p.lastT {
		t = p.lastT
	}
	p.lastT = t
	return t
}

func (p *padScreen) addPoint(pt signature.Point) {
	pt.T = p.stamp()
	last := &p.strokes[len(p.strokes)-1]
	if n := len(*last); n > 0 && (*last)[n-1].X == pt.X && (*last)[n-1].Y == pt.Y {
		return
	}
	*last = append(*last, pt)
}

func (p *padScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	k := p.ctx.Keys
	switch msg := msg.(type) {
	case tea.BackgroundColorMsg:
		restyleInput(&p.name, p.ctx.Styles)
		return p, nil
	case tea.MouseClickMsg:
		if p.typed || msg.Button != tea.MouseLeft {
			return p, nil
		}
		if pt, ok := p.dotAt(msg.X, msg.Y); ok {
			p.err = ""
			p.penDown = false
			p.drawing = true
			p.strokes = append(p.strokes, nil)
			p.addPoint(pt)
		}
	case tea.MouseMotionMsg:
		if p.drawing && msg.Button == tea.MouseLeft {
			if pt, ok := p.dotAt(msg.X, msg.Y); ok {
				p.addPoint(pt)
			}
		}
	case tea.MouseReleaseMsg:
		if p.drawing {
			if pt, ok := p.dotAt(msg.X, msg.Y); ok {
				p.addPoint(pt)
			}
			p.drawing = false
		}
	case tea.PasteMsg:
		if p.typed {
			var cmd tea.Cmd
			p.name, cmd = updateInput(p.name, msg)
			return p, cmd
		}
	case tea.KeyPressMsg:
		if p.typed {
			switch msg.String() {
			case "tab", "esc":
				p.typed = false
				p.err = ""
				p.name.Blur()
				return p, nil
			case "enter":
				return p, p.accept()
			}
			var cmd tea.Cmd
			p.name, cmd = updateInput(p.name, msg)
			p.err = ""
			return p, cmd
		}
		switch {
		case key.Matches(msg, k.Back):
			return p, pop(1)
		case key.Matches(msg, k.TypeName):
			p.typed = true
			p.err = ""
			return p, p.name.Focus()
		case key.Matches(msg, k.Accept):
			return p, p.accept()
		case key.Matches(msg, k.Undo):
			if len(p.strokes) > 0 {
				p.strokes = p.strokes[:len(p.strokes)-1]
			}
			p.penDown = false
		case key.Matches(msg, k.Clear):
			p.strokes, p.penDown, p.start, p.lastT = nil, false, time.Time{}, 0
		case key.Matches(msg, k.PenToggle):
			p.penDown = !p.penDown
			if p.penDown {
				p.strokes = append(p.strokes, nil)
				p.addPoint(signature.Point{X: p.penX, Y: p.penY})
			}
		case key.Matches(msg, k.PenUp):
			p.movePen(0, -1)
		case key.Matches(msg, k.PenDown):
			p.movePen(0, 1)
		case key.Matches(msg, k.PenLeft):
			p.movePen(-1, 0)
		case key.Matches(msg, k.PenRight):
			p.movePen(1, 0)
		}
	}
	return p, nil
}

func (p *padScreen) movePen(dx, dy int) {
	p.penX = min(max(p.penX+dx, 0), 2*p.cols-1)
	p.penY = min(max(p.penY+dy, 0), 4*p.rows-1)
	if p.penDown {
		p.addPoint(signature.Point{X: p.penX, Y: p.penY})
	}
}

// signature builds the signature as it stands now.
func (p *padScreen) signature() signature.Signature {
	sig := signature.Signature{
		Approver:      p.ctx.Login,
		PrintedName:   p.ctx.Me.Name,
		Kind:          signature.Drawn,
		Width:         2 * p.cols,
		Height:        4 * p.rows,
		Meaning:       p.meaning(),
		SignedAt:      signature.NormalizeTime(p.ctx.Now()),
		RequestDigest: p.d.Digest,
	}
	if p.typed {
		sig.Kind, sig.Text, sig.Font = signature.Typed, strings.TrimSpace(p.name.Value()), signature.DefaultFont
	} else {
		for _, st := range p.strokes {
			if len(st) > 0 {
				sig.Strokes = append(sig.Strokes, append(signature.Stroke(nil), st...))
			}
		}
	}
	return sig
}

// accept validates the signature and moves on to the confirm screen.
func (p *padScreen) accept() tea.Cmd {
	if p.ctx.Me.Name == "" {
		p.err = "your approver record has not loaded; try again in a moment"
		return nil
	}
	sig := p.signature()
	if p.typed && !signature.MatchesName(sig.Text, p.ctx.Me.Name) {
		p.err = fmt.Sprintf("that is not your full name: type %q exactly as registered", Inert(p.ctx.Me.Name))
		return nil
	}
	if err := sig.Validate(); err != nil {
		p.err = explain(err)
		return nil
	}
	p.err = ""
	return push(newConfirm(p.ctx, decision{approve: true, d: p.d, ttl: p.ttl, sig: &sig, depth: 3, breakGlass: p.breakGlass, reason: p.reason}))
}

// canvasLines renders the strokes (or the typed name) on a braille canvas,
// with the keyboard pen shown in reverse video when penX >= 0.
func canvasLines(s *Styles, sig signature.Signature, cols, rows, penX, penY int) []string {
	c := signature.NewCanvas(cols, rows)
	c.DrawPaths(sig.Paths())
	lines := c.Lines()
	if penX >= 0 {
		cx, cy := penX/2, penY/4
		if cy < len(lines) {
			r := []rune(lines[cy])
			if cx < len(r) {
				lines[cy] = string(r[:cx]) + s.Pen.Render(string(r[cx])) + string(r[cx+1:])
			}
		}
	}
	return lines
}

func (p *padScreen) View() string {
	s := p.ctx.Styles
	out := p.headerLines()
	sig := p.signature()
	pen := p.penX
	if p.typed {
		pen = -1
	}
	lines := canvasLines(s, sig, p.cols, p.rows, pen, p.penY)
	top := "╭" + strings.Repeat("─", p.cols) + "╮"
	bot := "╰" + strings.Repeat("─", p.cols) + "╯"
	out = append(out, s.Subtle.Render(top))
	for _, l := range lines {
		out = append(out, s.Subtle.Render("│")+l+s.Subtle.Render("│"))
	}
	out = append(out, s.Subtle.Render(bot))
	if p.typed {
		out = append(out, clip(p.name.View(), p.w))
		out = append(out, s.Subtle.Render(clip("Type your full name as registered, then accept.", p.w)))
	} else {
		mode := "pen up"
		if p.penDown {
			mode = "pen DOWN"
		}
		hint := fmt.Sprintf("Draw your signature with the mouse, or with the keyboard pen (now %s); or type your name instead.", mode)
		for _, l := range wrapInert(hint, max(p.w, 10)) {
			out = append(out, s.Subtle.Render(l))
		}
	}
	if p.err != "" {
		for _, l := range wrapInert(p.err, max(p.w, 10)) {
			out = append(out, s.Error.Render(l))
		}
	}
	return strings.Join(out, "\n")
}

func (p *padScreen) ShortHelp() []key.Binding {
	k := p.ctx.Keys
	if p.typed {
		draw := k.TypeName
		draw.SetHelp(k.TypeName.Help().Key, "draw instead")
		return []key.Binding{k.Accept, draw}
	}
	return []key.Binding{k.Accept, k.PenToggle, k.TypeName, k.Back, k.Undo, k.Clear}
}

func (p *padScreen) FullHelp() [][]key.Binding {
	k := p.ctx.Keys
	return [][]key.Binding{
		{k.PenUp, k.PenDown, k.PenLeft, k.PenRight, k.PenToggle},
		{k.TypeName, k.Undo, k.Clear, k.Accept, k.Back},
	}
}
