package serveconfig

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// style is how one format writes a line.
type style struct {
	sep string    // between key and value
	inf [3]string // +Inf, -Inf and NaN
}

func styleFor(format string) (style, bool) {
	switch format {
	case "", "toml":
		return style{sep: " = ", inf: [3]string{"inf", "-inf", "nan"}}, true
	case "yaml", "yml":
		return style{sep: ": ", inf: [3]string{".inf", "-.inf", ".nan"}}, true
	}
	return style{}, false
}

// Print writes settings as a config file in format ("toml", the default
// when "", or "yaml"), which Apply reads back to the same values. Each
// setting comes with its usage as a comment and a comment saying where its
// value came from. A setting at its default is written commented out, so
// the file pins nothing the program may later improve; a secret is written
// commented out as Redacted, so its value is never shown and reading the
// file back cannot set the placeholder.
func Print(w io.Writer, settings []Setting, format string) error {
	st, ok := styleFor(format)
	if !ok {
		return fmt.Errorf("%w %q: use toml or yaml", ErrUnsupportedFormat, inert(format))
	}
	var b strings.Builder
	b.WriteString("# Each setting below is a flag of the same name; the comment after it says\n")
	b.WriteString("# where its value came from. Precedence: command-line flag, then the\n")
	b.WriteString("# JITDESK_* environment variable, then this file, then the default.\n")
	b.WriteString("# Settings at their default are commented out.\n")
	for _, s := range settings {
		b.WriteString("\n")
		for _, l := range wrap(commentSafe(s.Usage), 74) {
			b.WriteString("# " + l + "\n")
		}
		if s.Env != "" {
			b.WriteString("# environment: " + commentSafe(s.Env) + "\n")
		}
		line := key(s.Name) + st.sep
		var origin string
		switch {
		case s.Secret:
			line = "# " + line + quote(Redacted)
			origin = "secret, " + s.Origin
		case s.Source == SourceDefault:
			line = "# " + line + st.render(s)
			origin = s.Origin
		default:
			line += st.render(s)
			origin = s.Origin
		}
		b.WriteString(line + "  # " + commentSafe(origin) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// render is the setting's value in the format: bare where the format
// types it (bools, numbers, lists of them), else a quoted string.
func (st style) render(s Setting) string {
	if s.List != nil {
		elems := make([]string, len(s.List))
		for i, e := range s.List {
			elems[i] = st.scalar(elemType(s.Type), e)
		}
		return "[" + strings.Join(elems, ", ") + "]"
	}
	return st.scalar(s.Type, s.Value)
}

func (st style) scalar(typ, v string) string {
	switch typ {
	case "bool":
		if b, err := strconv.ParseBool(v); err == nil {
			return strconv.FormatBool(b)
		}
	case "int", "int8", "int16", "int32", "int64", "count":
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
	case "uint", "uint8", "uint16", "uint32", "uint64":
		if u, err := strconv.ParseUint(v, 10, 64); err == nil {
			return strconv.FormatUint(u, 10)
		}
	case "float32", "float64":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			switch {
			case math.IsInf(f, 1):
				return st.inf[0]
			case math.IsInf(f, -1):
				return st.inf[1]
			case math.IsNaN(f):
				return st.inf[2]
			}
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return quote(v)
}

// quote writes s as a double-quoted string that TOML basic strings and
// YAML double-quoted scalars both read back as s, with every rune that is
// not printable escaped, so the output is also safe on a terminal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// key writes a flag name as a key; flag names are bare keys in both
// formats, but one that is not is quoted rather than trusted.
func key(name string) string {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

// commentSafe keeps text on the comment's line: newlines become spaces
// and other unprintable runes escapes.
func commentSafe(s string) string {
	return inert(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s))
}

// wrap breaks text into lines of at most width bytes at spaces (a word
// longer than width gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= width:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
