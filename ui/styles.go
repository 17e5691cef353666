package ui

import (
	"image/color"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// Styles is every style the console uses, picked per session by the
// terminal's answer to "is your background dark?" (built once per process
// for each answer, see Shared). Colours are picked with
// lipgloss.LightDark (never compat.AdaptiveColor, which would ask the
// server's terminal rather than the SSH client's); the program downsamples
// them to the session's colour profile, so NO_COLOR and dumb terminals get
// plain text with attributes at most.
type Styles struct {
	IsDark bool

	App        lipgloss.Style
	Header     lipgloss.Style
	HeaderDim  lipgloss.Style
	Footer     lipgloss.Style
	Title      lipgloss.Style
	Subtle     lipgloss.Style
	Label      lipgloss.Style
	Value      lipgloss.Style
	Warn       lipgloss.Style
	Error      lipgloss.Style
	OK         lipgloss.Style
	Info       lipgloss.Style
	TabActive  lipgloss.Style
	Tab        lipgloss.Style
	Selected   lipgloss.Style
	Row        lipgloss.Style
	Marked     lipgloss.Style
	BadgeSign  lipgloss.Style
	BadgePlain lipgloss.Style
	Pane       lipgloss.Style
	PaneFocus  lipgloss.Style
	Button     lipgloss.Style
	ButtonOn   lipgloss.Style
	Canvas     lipgloss.Style
	Pen        lipgloss.Style
	Code       lipgloss.Style
	Help       help.Styles
	// Input is how text inputs are drawn on this background.
	Input textinput.Styles
}

// Shared is what every console session of a process would otherwise build
// identically: the styles for either background and the key bindings. An
// SSH server builds it once (NewShared) and hands it to each session
// through Options.Shared, so fifty sessions hold one copy, not fifty. It is
// immutable once built: sessions only read it (a screen that relabels a
// binding's help changes its own copy of the key.Binding value).
type Shared struct {
	dark, light *Styles
	keys        *KeyMap
}

// NewShared builds the values every session shares.
func NewShared() *Shared {
	return &Shared{dark: NewStyles(true), light: NewStyles(false), keys: DefaultKeyMap()}
}

// styles returns the styles for a dark or light background.
func (sh *Shared) styles(isDark bool) *Styles {
	if isDark {
		return sh.dark
	}
	return sh.light
}

// NewStyles returns the styles for a dark or light background.
func NewStyles(isDark bool) *Styles {
	ld := lipgloss.LightDark(isDark)
	c := func(light, dark string) color.Color { return ld(lipgloss.Color(light), lipgloss.Color(dark)) }
	accent := c("#5A3FC0", "#B7A6FF")
	subtle := c("#6B6B6B", "#9A9A9A")
	warn := c("#B35900", "#FFB454")
	bad := c("#C4002B", "#FF6B81")
	good := c("#1A7F37", "#5FD787")
	selBg := c("#E4DEFF", "#3B3270")
	selFg := c("#1A1A1A", "#FFFFFF")
	border := c("#B9B9B9", "#4A4A4A")

	s := &Styles{IsDark: isDark}
	s.App = lipgloss.NewStyle()
	s.Header = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.HeaderDim = lipgloss.NewStyle().Foreground(subtle)
	s.Footer = lipgloss.NewStyle().Foreground(subtle)
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Subtle = lipgloss.NewStyle().Foreground(subtle)
	s.Label = lipgloss.NewStyle().Foreground(subtle)
	s.Value = lipgloss.NewStyle()
	s.Warn = lipgloss.NewStyle().Foreground(warn).Bold(true)
	s.Error = lipgloss.NewStyle().Foreground(bad).Bold(true)
	s.OK = lipgloss.NewStyle().Foreground(good).Bold(true)
	s.Info = lipgloss.NewStyle().Foreground(accent)
	s.TabActive = lipgloss.NewStyle().Bold(true).Underline(true).Foreground(accent)
	s.Tab = lipgloss.NewStyle().Foreground(subtle)
	s.Selected = lipgloss.NewStyle().Background(selBg).Foreground(selFg).Bold(true)
	s.Row = lipgloss.NewStyle()
	s.Marked = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.BadgeSign = lipgloss.NewStyle().Foreground(warn).Bold(true)
	s.BadgePlain = lipgloss.NewStyle().Foreground(good)
	s.Pane = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(border)
	s.PaneFocus = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(accent)
	s.Button = lipgloss.NewStyle().Foreground(subtle).Padding(0, 1)
	s.ButtonOn = lipgloss.NewStyle().Reverse(true).Bold(true).Padding(0, 1)
	s.Canvas = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(border)
	s.Pen = lipgloss.NewStyle().Reverse(true)
	s.Code = lipgloss.NewStyle().Foreground(accent)
	s.Help = help.DefaultStyles(isDark)
	s.Input = inputStyles(s)
	return s
}

// inputStyles are a text input's styles in the session's colours.
func inputStyles(s *Styles) textinput.Styles {
	st := textinput.DefaultStyles(s.IsDark)
	// The defaults draw the prompt in ANSI 7 (light grey), unreadable on a
	// light background: use the session's own colours.
	st.Focused.Prompt, st.Blurred.Prompt = s.Info, s.Subtle
	st.Focused.Placeholder, st.Blurred.Placeholder = s.Subtle, s.Subtle
	st.Cursor.Color = s.Info.GetForeground()
	st.Cursor.Blink = false
	return st
}

// newInput returns a text input with a steady cursor: no blink timers, so an
// idle SSH session sends nothing, and tests need no clock.
func newInput(s *Styles) textinput.Model {
	ti := textinput.New()
	restyleInput(&ti, s)
	return ti
}

// restyleInput gives an input the styles of the session's background (the
// answer to the background query may arrive after the input was made).
func restyleInput(ti *textinput.Model, s *Styles) {
	ti.SetStyles(s.Input)
}

// updateInput updates a text input and then drops from its value every
// rune Inert would escape that the input itself keeps (bidi controls,
// zero-width and other invisible format characters; it already drops C0/C1
// controls): the input echoes its value raw, and a pasted \u202e would
// otherwise reorder what the approver sees they typed.
func updateInput(ti textinput.Model, msg tea.Msg) (textinput.Model, tea.Cmd) {
	ti, cmd := ti.Update(msg)
	v := ti.Value()
	if Inert(v) != v {
		clean := strings.Map(func(r rune) rune {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || hidden(r) {
				return -1
			}
			return r
		}, v)
		if clean != v {
			pos := ti.Position()
			ti.SetValue(clean)
			ti.SetCursor(min(pos, len([]rune(clean))))
		}
	}
	return ti, cmd
}

// sizeInput fits an input, prompt and cursor included, in w columns.
func sizeInput(ti *textinput.Model, w int) {
	ti.SetWidth(max(w-lipgloss.Width(ti.Prompt)-2, 4))
}
