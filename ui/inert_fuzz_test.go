package ui

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzInert: whatever comes in, what reaches the terminal holds no byte
// below 0x20 but newline (and Inert itself never emits newline), no DEL, no
// ESC, no C1 control, no bidi, zero-width or separator rune, and is valid
// UTF-8 — so nothing from a request can move the cursor, write the
// clipboard or hide text.
func FuzzInert(f *testing.F) {
	for _, s := range []string{
		"rm -rf /\rls -la", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J\x1b[H", "\u009b31m", "admin\u202egnp.exe",
		"zero\u200bwidth", "line\u2028sep", "\xff\xfe", "tab\there", `back\slash`, "\x1bP+q\x1b\\", "\x1b_apc\x1b\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Inert(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Inert(%q) is not valid UTF-8: %q", in, out)
		}
		for _, r := range out {
			switch {
			case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
				t.Fatalf("Inert(%q) lets control %U through: %q", in, r, out)
			case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
				t.Fatalf("Inert(%q) lets bidi control %U through", in, r)
			case r >= 0x200b && r <= 0x200d, r == 0x2060, r == 0xfeff, r == 0x2028, r == 0x2029:
				t.Fatalf("Inert(%q) lets invisible %U through", in, r)
			}
		}
		// Nothing is silently dropped: plain printable ASCII survives as is.
		if isPlainASCII(in) && !strings.Contains(in, `\`) && out != in {
			t.Fatalf("Inert changed plain text %q to %q", in, out)
		}
	})
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
