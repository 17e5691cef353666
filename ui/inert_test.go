package ui

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestInertTable(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"unicode kept", "Zoë Åström 日本 🚀", "Zoë Åström 日本 🚀"},
		{"nul", "a\x00b", `a\x00b`},
		{"esc csi", "\x1b[2J", `\x1b[2J`},
		{"osc52 with bel", "\x1b]52;c;ZXZpbA==\x07", `\x1b]52;c;ZXZpbA==\a`},
		{"osc st", "\x1b]0;title\x1b\\", `\x1b]0;title\x1b\\`},
		{"dcs", "\x1bPq\x1b\\", `\x1bPq\x1b\\`},
		{"apc", "\x1b_Gf=1\x1b\\", `\x1b_Gf=1\x1b\\`},
		{"cr keeps both halves", "rm -rf /\rls -la", `rm -rf /\rls -la`},
		{"backspace", "abc\b\bX", `abc\b\bX`},
		{"bel", "ding\a", `ding\a`},
		{"tab", "a\tb", `a\tb`},
		{"newline", "a\nb", `a\nb`},
		{"vt ff", "\v\f", `\v\f`},
		{"del", "a\x7fb", `a\x7fb`},
		{"c1 csi", "\u009b31m", `\u009b31m`},
		{"raw 0x9b byte", "\x9b31m", `\x9b31m`},
		{"c1 nel", "a\u0085b", `a\u0085b`},
		{"c1 osc", "\u009d52;c;x\u009c", `\u009d52;c;x\u009c`},
		{"rlo", "admin\u202egnp.exe", `admin\u202egnp.exe`},
		{"lre pdf", "\u202aa\u202c", `\u202aa\u202c`},
		{"isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"lrm rlm alm", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"zero width", "a\u200bb\u200cc\u200dd\u2060e\ufeff", `a\u200bb\u200cc\u200dd\u2060e\ufeff`},
		{"separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"soft hyphen", "pass\u00adword", `pass\u00adword`},
		{"tag chars", "x\U000E0041\U000E007F", `x\U000e0041\U000e007f`},
		{"hangul filler", "a\u3164b", `a\u3164b`},
		{"invalid utf8", "a\xffb\xc3", `a\xffb\xc3`},
		{"replacement char", "\ufffd", `\ufffd`},
		{"backslash doubled", `C:\temp\x1b`, `C:\\temp\\x1b`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Inert(c.in); got != c.want {
				t.Errorf("Inert(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// dangerous reports whether r must never reach the terminal from a payload.
func dangerous(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029 || r == 0xfffd:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

func TestInertPropertyNoDangerousRunesAndInjective(t *testing.T) {
	// Every byte value and a spread of runes, alone and combined.
	var inputs []string
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	for r := rune(0); r < 0x3000; r += 7 {
		inputs = append(inputs, string(r))
	}
	for r := rune(0xe0000); r < 0xe0080; r++ {
		inputs = append(inputs, string(r))
	}
	inputs = append(inputs, payloadReason, payloadDCS+payloadAPC, `\x1b`, "\\\x1b")
	seen := map[string]string{}
	for _, in := range inputs {
		out := Inert(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Inert(%q) is not valid UTF-8: %q", in, out)
		}
		for _, r := range out {
			if dangerous(r) {
				t.Fatalf("Inert(%q) = %q keeps %U", in, out, r)
			}
		}
		if prev, ok := seen[out]; ok && prev != in {
			t.Fatalf("Inert is ambiguous: %q and %q both give %q", prev, in, out)
		}
		seen[out] = in
		if Inert(out) != strings.ReplaceAll(out, `\`, `\\`) {
			t.Fatalf("Inert of its own output should only double backslashes: %q", out)
		}
	}
}

func TestInertLinesKeepsOnlyNewlinesAsBreaks(t *testing.T) {
	got := InertLines("first\r\nsecond \x1b[1mbold\u2028third")
	want := []string{`first\r`, `second \x1b[1mbold\u2028third`}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("InertLines = %q, want %q", got, want)
	}
}

func TestInertPlainStringIsNotCopied(t *testing.T) {
	s := "plain ascii text"
	if allocs := testing.AllocsPerRun(100, func() { _ = Inert(s) }); allocs != 0 {
		t.Fatalf("Inert of plain text allocates %v times", allocs)
	}
}
