package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// boxAct is what a key or click on a confirm box asks for.
type boxAct int

const (
	boxNone   boxAct = iota
	boxCancel        // leave without doing anything
	boxSubmit        // do the irreversible thing
)

// confirmBox is the one confirm component of the console: a scrolling body
// (what is about to happen, never hidden at small sizes), two buttons with
// the focus starting on Cancel (so the key that opened it can never
// confirm it; pasted text is ignored), and below them what is going on
// (working…, or why it cannot go on). The decision, bulk and revoke
// confirms all embed it; they provide the body and the action.
//
// Everything that depends on the layout (scroll clamping, where the buttons
// are for clicks) is computed when the body, the size or the scroll
// changes — in Update, never in View.
type confirmBox struct {
	focus   int // 0 Cancel, 1 the action
	busy    bool
	stopped string // non-empty: the action can no longer be taken (failed, decided elsewhere); only back remains
	scroll  int
	bodyLen int
	w, h    int

	// derived by layout
	shown     int // body lines shown (the scroll marker included)
	scrolling bool
	buttonRow int
}

func (b *confirmBox) setSize(w, h int) {
	b.w, b.h = w, h
	b.layout()
}

// setBody records how long the body is now and re-lays the box out.
func (b *confirmBox) setBody(n int) {
	b.bodyLen = n
	b.layout()
}

// stop ends the box's action: why is shown under the buttons and only
// going back remains.
func (b *confirmBox) stop(why string) {
	b.stopped, b.focus, b.busy = why, 0, false
	b.layout()
}

func (b *confirmBox) tailLines() int {
	n := 3 // blank, buttons, blank
	if b.stopped != "" {
		return n + len(wrapInert(b.stopped, max(b.w, 10)))
	}
	return n + 1
}

func (b *confirmBox) layout() {
	room := b.bodyLen
	if b.h > 0 {
		room = max(b.h-b.tailLines(), 2)
	}
	b.scrolling = b.bodyLen > room
	if b.scrolling {
		vis := room - 1 // one line says there is more
		b.scroll = min(max(b.scroll, 0), b.bodyLen-vis)
		b.shown = room
	} else {
		b.scroll, b.shown = 0, b.bodyLen
	}
	b.buttonRow = b.shown + 1
}

// visible is how many body lines fit beside the scroll marker.
func (b *confirmBox) visible() int {
	if b.scrolling {
		return b.shown - 1
	}
	return b.shown
}

func (b *confirmBox) scrollBy(n int) {
	b.scroll += n
	b.layout()
}

// update handles keys, wheel and clicks; the owner acts on the result.
func (b *confirmBox) update(k *KeyMap, s *Styles, msg tea.Msg) boxAct {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Cancel):
			return boxCancel
		case b.busy:
			return boxNone
		case key.Matches(msg, k.Up), key.Matches(msg, k.ScrollUp):
			b.scrollBy(-1)
		case key.Matches(msg, k.Down), key.Matches(msg, k.ScrollDown):
			b.scrollBy(1)
		case key.Matches(msg, k.PageUp):
			b.scrollBy(-max(b.visible()-1, 1))
		case key.Matches(msg, k.PageDown):
			b.scrollBy(max(b.visible()-1, 1))
		case key.Matches(msg, k.Focus):
			if b.stopped == "" {
				b.focus = 1 - b.focus
			}
		case key.Matches(msg, k.Confirm):
			if b.stopped == "" {
				return boxSubmit
			}
		case key.Matches(msg, k.Press):
			if b.focus == 0 || b.stopped != "" {
				return boxCancel
			}
			return boxSubmit
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			b.scrollBy(-3)
		case tea.MouseWheelDown:
			b.scrollBy(3)
		}
	case tea.MouseClickMsg:
		if b.busy || msg.Button != tea.MouseLeft || msg.Y != b.buttonRow {
			return boxNone
		}
		if msg.X < lipgloss.Width(buttons(s, []string{"Cancel"}, 1)) {
			return boxCancel
		}
		if b.stopped != "" {
			return boxNone
		}
		if b.focus == 1 {
			return boxSubmit
		}
		b.focus = 1 // the first click focuses, a second confirms
	}
	return boxNone
}

// view renders the box: body (scrolled), buttons, and the line under them.
// note is what to say while waiting for a choice; busyText while working.
func (b *confirmBox) view(s *Styles, body []string, action, note, busyText string) string {
	var lines []string
	vis := b.visible()
	start := min(b.scroll, max(len(body)-vis, 0))
	lines = append(lines, body[start:min(len(body), start+vis)]...)
	if b.scrolling {
		more := len(body) - start - vis
		lines = append(lines, s.Subtle.Render(clip(fmt.Sprintf("  ↑/↓ scroll · %d more line(s) above, %d below", start, max(more, 0)), b.w)))
	}
	labels := []string{"Cancel", action}
	if action == "" {
		labels = []string{"Back"} // nothing to do: no button for it
	}
	lines = append(lines, "", buttons(s, labels, b.focus), "")
	switch {
	case b.busy:
		lines = append(lines, s.Subtle.Render(busyText))
	case b.stopped != "":
		for _, l := range wrapInert(b.stopped, max(b.w, 10)) {
			lines = append(lines, s.Error.Render(l))
		}
	default:
		lines = append(lines, s.Subtle.Render(clip(note, b.w)))
	}
	return strings.Join(lines, "\n")
}

func buttons(s *Styles, labels []string, focus int) string {
	var bs []string
	for i, l := range labels {
		st := s.Button
		if i == focus {
			st = s.ButtonOn
		}
		bs = append(bs, st.Render("[ "+l+" ]"))
	}
	return strings.Join(bs, "  ")
}

// boxHelp is the hint line of a confirm: the action's key first.
func (b *confirmBox) help(k *KeyMap, action string) []key.Binding {
	if b.stopped != "" {
		back := k.Cancel
		back.SetHelp(k.Cancel.Help().Key, "go back")
		return []key.Binding{back}
	}
	y := k.Confirm
	y.SetHelp(k.Confirm.Help().Key, strings.ToLower(action))
	out := []key.Binding{y, k.Cancel, k.Focus, k.Press}
	if b.scrolling {
		sc := k.Down
		sc.SetHelp("↑/↓", "scroll")
		out = append(out, sc)
	}
	return out
}
