package ui

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Inert makes a string from outside (a request's reason, metadata, names,
// comments, titles, error texts that quote them) safe and visible on a
// terminal. Every string that did not come from this package passes through
// it before any styling, measuring or truncation.
//
// It returns a single line in which every rune that could change what the
// terminal does, or hide or reorder text, is replaced by a visible escape:
//
//   - C0 controls (U+0000–U+001F) including ESC, \r, \b, BEL, \t and \n, and
//     DEL: \x1b, \r, \b, \a, \t, \n, \x7f … (so a CSI/OSC/DCS/APC sequence
//     shows in full: its ESC is escaped and the rest is plain text);
//   - C1 controls (U+0080–U+009F): \u009b … (U+0085 NEL too);
//   - bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069),
//     zero-width and other invisible format characters (Unicode category Cf:
//     U+200B–U+200D, U+2060–U+2064, U+FEFF, U+00AD, tag characters …),
//     line/paragraph separators (U+2028, U+2029), the combining grapheme
//     joiner U+034F, Hangul fillers, non-characters U+FFFE/U+FFFF and U+FFFD:
//     \u202e, \U000e0041 …;
//   - each byte of invalid UTF-8: \xff.
//
// A literal backslash is doubled (\\), so the output is unambiguous: the
// five characters `\x1b` in the output always mean an ESC byte was sent,
// and `\\x1b` means the text `\x1b` was sent.
func Inert(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	writeInert(&b, s, true)
	return b.String()
}

// inertJSON is Inert for lines of JSON text (decoded token parts): JSON has
// its own unambiguous escaping, so backslashes are kept as they are, and any
// character Inert escapes is shown as the JSON escape \uXXXX meaning the
// same character.
func inertJSON(s string) string {
	if isPlainJSON(s) {
		return s
	}
	var b strings.Builder
	writeInert(&b, s, false)
	return b.String()
}

func isPlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// InertLines is Inert for a multi-line field laid out by the screen itself
// (a reason): it splits on \n (a \r\n pair is split too, its \r shown as
// \r) and returns each line made inert. Nothing else is treated as a break.
func InertLines(s string) []string {
	parts := strings.Split(s, "\n")
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = Inert(p)
	}
	return out
}

// isPlain reports whether s is printable ASCII without backslashes: the
// common case, returned unchanged without allocating.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

func writeInert(b *strings.Builder, s string, doubleBackslash bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(b, `\x%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\\' && doubleBackslash:
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(c0Escape(r))
		case r >= 0x80 && r <= 0x9f:
			// As \u00XX, so a C1 character is told apart from the raw
			// (invalid UTF-8) byte of the same value, shown as \xXX.
			fmt.Fprintf(b, `\u%04x`, r)
		case hidden(r):
			if r > 0xffff {
				fmt.Fprintf(b, `\U%08x`, r)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
}

func c0Escape(r rune) string {
	switch r {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	}
	return fmt.Sprintf(`\x%02x`, r)
}

// hidden reports whether r is invisible, reorders text or breaks lines:
// shown escaped rather than as itself.
func hidden(r rune) bool {
	switch r {
	case 0x034f, // combining grapheme joiner
		0x115f, 0x1160, 0x3164, 0xffa0, // Hangul fillers (render blank)
		0x2028, 0x2029, // line / paragraph separator
		0xfffd, 0xfffe, 0xffff:
		return true
	}
	if r >= 0xfe00 && r <= 0xfe0f || r >= 0xe0100 && r <= 0xe01ef { // variation selectors
		return true
	}
	// Cf covers bidi controls (U+061C, U+200E/F, U+202A–E, U+2066–9),
	// zero-width characters (U+200B–D, U+2060, U+FEFF), soft hyphen, tag
	// characters (U+E0000–E007F) and other invisible format characters.
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) ||
		unicode.Is(unicode.Co, r) || unicode.Is(unicode.Cs, r)
}
