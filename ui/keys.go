package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every binding of the console. Screens pick theirs for help.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	// ScrollUp and ScrollDown scroll a request's details; the movement
	// keys above move the list in every layout.
	ScrollUp, ScrollDown             key.Binding
	NextTab, PrevTab                 key.Binding
	Open, Back, Quit, Help           key.Binding
	Filter, Mark, BulkApprove, Token key.Binding

	Approve, Deny, TTL key.Binding

	PenUp, PenDown, PenLeft, PenRight key.Binding
	PenToggle, TypeName, Undo, Clear  key.Binding
	Accept                            key.Binding

	Confirm, Cancel, Focus, Press key.Binding

	Copy, Revoke key.Binding
	Submit       key.Binding

	// BreakGlass starts an emergency self-approval (review screen, only
	// when the Service allows it); Acknowledge records a break-glass
	// grant's post-review (On call tab).
	BreakGlass, Acknowledge key.Binding
}

// DefaultKeyMap returns the console's bindings.
func DefaultKeyMap() *KeyMap {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	return &KeyMap{
		Up:          b([]string{"up", "k"}, "↑/k", "up"),
		Down:        b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:      b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:    b([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		ScrollUp:    b([]string{"K", "shift+up"}, "K/⇧↑", "scroll up"),
		ScrollDown:  b([]string{"J", "shift+down"}, "J/⇧↓", "scroll down"),
		Home:        b([]string{"home", "g"}, "home/g", "first"),
		End:         b([]string{"end", "G"}, "end/G", "last"),
		NextTab:     b([]string{"tab", "right", "l"}, "tab/→", "next tab"),
		PrevTab:     b([]string{"shift+tab", "left", "h"}, "⇧tab/←", "previous tab"),
		Open:        b([]string{"enter"}, "enter", "review"),
		Back:        b([]string{"esc"}, "esc", "back"),
		Quit:        b([]string{"q", "ctrl+c"}, "q", "quit"),
		Help:        b([]string{"?"}, "?", "help"),
		Filter:      b([]string{"/"}, "/", "filter"),
		Mark:        b([]string{"space"}, "space", "mark"),
		BulkApprove: b([]string{"A"}, "A", "approve marked"),
		Token:       b([]string{"v"}, "v", "view token"),

		Approve: b([]string{"a"}, "a", "approve"),
		Deny:    b([]string{"d"}, "d", "deny"),
		TTL:     b([]string{"t"}, "t", "shorten duration"),

		PenUp:     b([]string{"up"}, "↑", "pen up"),
		PenDown:   b([]string{"down"}, "↓", "pen down"),
		PenLeft:   b([]string{"left"}, "←", "pen left"),
		PenRight:  b([]string{"right"}, "→", "pen right"),
		PenToggle: b([]string{"space"}, "space", "lower/lift pen"),
		TypeName:  b([]string{"tab"}, "tab", "type name / draw"),
		Undo:      b([]string{"u"}, "u", "undo stroke"),
		Clear:     b([]string{"x"}, "x", "clear"),
		Accept:    b([]string{"enter"}, "enter", "accept"),

		Confirm: b([]string{"y"}, "y", "confirm"),
		Press:   b([]string{"enter", "space"}, "enter", "press button"),
		Cancel:  b([]string{"n", "esc"}, "n/esc", "cancel"),
		Focus:   b([]string{"tab", "shift+tab", "left", "right"}, "tab/←/→", "switch button"),

		Copy:   b([]string{"c"}, "c", "copy token"),
		Revoke: b([]string{"r"}, "r", "revoke"),
		Submit: b([]string{"enter"}, "enter", "submit"),

		BreakGlass:  b([]string{"B"}, "B", "break glass"),
		Acknowledge: b([]string{"a"}, "a", "acknowledge break-glass"),
	}
}
