package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// cell truncates an already-inert (or styled) string to w display columns
// and pads it to exactly w.
func cell(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, "…")
	if n := lipgloss.Width(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

// clip truncates a (styled) line to w columns without padding.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// fit makes s exactly h lines, each at most w columns (lines are truncated,
// missing lines are blank), so a frame never scrolls the terminal or leaves
// artefacts of a previous, larger frame.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// wrapInert hard-wraps an inert string to w columns (by display width,
// breaking words only when a word is longer than the line).
func wrapInert(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	out := strings.Split(ansi.Wrap(s, w, ""), "\n")
	return out
}

// age renders how long ago t was: "12s", "4m", "3h", "2d".
func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// countdown renders the time left until t: "1h02m", "4m05s", "12s",
// "expired".
func countdown(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired"
	}
	d = d.Truncate(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h >= 48:
		return fmt.Sprintf("%dd%02dh", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// urgent reports whether a pending request is near its end: under 10% of
// its pending window or 5 minutes left, whichever is larger.
func urgent(now time.Time, r approvals.Request) bool {
	left := r.ExpiresAt.Sub(now)
	window := r.ExpiresAt.Sub(r.CreatedAt)
	return left <= max(5*time.Minute, window/10)
}

// clock renders a time of day in the session's location: "14:03".
func clock(t time.Time) string { return t.Local().Format("15:04") }

// stamp renders a full local time: "2026-03-01 14:03:05".
func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// badge is the short type label of a template type.
func badge(s *Styles, t approvals.TemplateType) string {
	if t == approvals.TypeSignAndApprove {
		return s.BadgeSign.Render("SIGN")
	}
	return s.BadgePlain.Render("APPROVE")
}

// decidedLine says who decided a request and when, e.g. "approved by bob at 14:03".
func decidedLine(r approvals.Request) string {
	return decidedWords(r.Status, r.DecidedBy, r.DecidedAt)
}

// decidedWords says how a request ended, by whom, when.
func decidedWords(st approvals.Status, by string, at time.Time) string {
	if st == approvals.StatusExpired {
		return "expired at " + clock(at)
	}
	if by == "" {
		by = "unknown"
	}
	return fmt.Sprintf("%s by %s at %s", st, Inert(by), clock(at))
}

// grantWords says in a few words what a grant is at now: active with the
// time left, expired, or revoked by whom, when and why; then break-glass
// and its review. It never lets a revoked grant look live. Pure.
func grantWords(now time.Time, g approvals.Grant) string {
	var out string
	switch g.StateAt(now) {
	case approvals.GrantRevoked:
		out = fmt.Sprintf("REVOKED by %s at %s: %s", Inert(g.RevokedBy), clock(g.RevokedAt), Inert(g.RevokeReason))
	case approvals.GrantExpired:
		out = "expired at " + stamp(g.ExpiresAt)
	default:
		out = fmt.Sprintf("active until %s (%s left)", stamp(g.ExpiresAt), countdown(now, g.ExpiresAt))
	}
	if g.BreakGlass {
		if g.Acknowledged() {
			out += " · break-glass, acknowledged by " + Inert(g.ReviewedBy) + " at " + clock(g.ReviewedAt)
		} else {
			out += " · BREAK-GLASS, waiting for post-review"
		}
	}
	return out
}

// kv renders "label  value" with the label padded to lw columns.
func kv(s *Styles, label string, lw int, value string) string {
	return s.Label.Render(cell(label, lw)) + " " + value
}

// sideBySide joins two blocks of exactly h lines, the left padded to lw.
func sideBySide(left, right string, lw, h int) string {
	l := strings.Split(fit(left, lw, h), "\n")
	r := strings.Split(right, "\n")
	var b strings.Builder
	for i := 0; i < h; i++ {
		b.WriteString(cell(l[i], lw))
		if i < len(r) {
			b.WriteString(r[i])
		}
		if i < h-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func widthOf(s string) int { return lipgloss.Width(s) }

// thousands writes n with comma separators (10000 → "10,000"), as counts
// are read at a glance.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// hintLine renders a screen's one line of key hints at width w from its
// bindings, most important first: the first (the screen's primary action)
// and keep (help) always stay; the others are dropped from the end until
// the line fits. Disabled bindings are left out. Pure.
func hintLine(s *Styles, bs []key.Binding, keep *key.Binding, w int) string {
	var list []key.Binding
	for _, b := range bs {
		if b.Enabled() && b.Help().Key != "" {
			list = append(list, b)
		}
	}
	render := func(l []key.Binding) string {
		parts := make([]string, 0, len(l)+1)
		for _, b := range l {
			h := b.Help()
			parts = append(parts, s.Help.ShortKey.Render(h.Key)+" "+s.Help.ShortDesc.Render(h.Desc))
		}
		if keep != nil {
			h := keep.Help()
			parts = append(parts, s.Help.ShortKey.Render(h.Key)+" "+s.Help.ShortDesc.Render(h.Desc))
		}
		return strings.Join(parts, s.Help.ShortSeparator.Render(" · "))
	}
	for n := len(list); n >= 1; n-- {
		if line := render(list[:n]); widthOf(line) <= w || n == 1 {
			return clip(line, w)
		}
	}
	return clip(render(nil), w)
}

// signatureLines draws one stored signature for the review: who signed,
// when and how, the statement they signed, and the signature itself on a
// braille canvas, scaled down to fit w columns. Pure; every field from the
// signature passes Inert.
func signatureLines(s *Styles, sig signature.Signature, w int) []string {
	head := fmt.Sprintf("  %s (%s) · %s · signed %s", Inert(sig.PrintedName), Inert(sig.Approver), sig.Kind, stamp(sig.SignedAt))
	out := []string{"", s.Value.Bold(true).Render(clip(head, w))}
	for _, l := range wrapInert("“"+Inert(sig.Meaning)+"”", max(w-4, 10)) {
		out = append(out, "    "+s.Subtle.Render(l))
	}
	cols := max(min(w-6, (sig.Width+1)/2), 4)
	scaled := sig
	dw, dh := max(sig.Width, 1), max(sig.Height, 1)
	if 2*cols < dw {
		num, den := 2*cols, dw
		sc := func(v int) int { return v * num / den }
		scaled.Strokes = nil
		for _, st := range sig.Paths() {
			ns := make(signature.Stroke, len(st))
			for i, p := range st {
				ns[i] = signature.Point{X: sc(p.X), Y: sc(p.Y), T: p.T}
			}
			scaled.Strokes = append(scaled.Strokes, ns)
		}
		scaled.Kind, dw, dh = signature.Drawn, 2*cols, max(sc(dh), 4)
	}
	c := signature.NewDotCanvas(dw, dh)
	c.DrawPaths(scaled.Paths())
	for _, l := range c.Lines() {
		out = append(out, "    "+s.Pen.UnsetReverse().Render(l))
	}
	return out
}
