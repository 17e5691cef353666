package signature

import (
	"math"
	"slices"
)

// DefaultFont is the font of typed signatures: Hershey Script 1-stroke.
const DefaultFont = "hershey-script"

// penUp separates strokes in a glyph's path.
const penUp = -128

// glyph is one character of a stroke font: its advance width and its path
// as x,y pairs in font units (y down, baseline at 0) with penUp between
// strokes.
type glyph struct {
	advance int
	path    []int8
}

// strokeFont is a single-line vector font for printable ASCII.
type strokeFont struct {
	glyphs [95]glyph // 0x20..0x7E
}

var fonts = map[string]*strokeFont{
	DefaultFont: &hersheyScript,
}

// Fonts returns the names of the fonts a typed signature may use, sorted.
func Fonts() []string {
	names := make([]string, 0, len(fonts))
	for n := range fonts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func lookupFont(name string) *strokeFont { return fonts[name] }

// PointInterval is the time offset synthesised between successive points of
// a typed signature's strokes, in milliseconds.
const PointInterval = 10

// glyphFor returns the glyph drawn for r: its own for printable ASCII, the
// base letter for common accented Latin letters (the accent is not drawn),
// a space for other spaces and '?' for anything else.
func (f *strokeFont) glyphFor(r rune) *glyph {
	if r >= 0x20 && r <= 0x7e {
		return &f.glyphs[r-0x20]
	}
	if b, ok := latinBase[r]; ok {
		return &f.glyphs[b-0x20]
	}
	if r == '\u00a0' || r == '\u2007' || r == '\u202f' {
		return &f.glyphs[0]
	}
	return &f.glyphs['?'-0x20]
}

// layout lays text out left to right in font units, then scales it
// uniformly so its ink fits a w×h canvas inside a small margin, centred
// both ways, and rounds to dots. Consecutive duplicate dots are dropped and
// T advances PointInterval per point across all strokes.
func (f *strokeFont) layout(text string, w, h int) []Stroke {
	type fpt struct{ x, y float64 }
	var strokes [][]fpt
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	pen := 0
	for _, r := range text {
		g := f.glyphFor(r)
		var cur []fpt
		for i := 0; i+1 < len(g.path); i += 2 {
			if g.path[i] == penUp {
				if len(cur) > 0 {
					strokes = append(strokes, cur)
				}
				cur = nil
				i-- // penUp is a single value
				continue
			}
			p := fpt{float64(pen + int(g.path[i])), float64(g.path[i+1])}
			minX, maxX = min(minX, p.x), max(maxX, p.x)
			minY, maxY = min(minY, p.y), max(maxY, p.y)
			cur = append(cur, p)
		}
		if len(cur) > 0 {
			strokes = append(strokes, cur)
		}
		pen += g.advance
	}
	if len(strokes) == 0 || w <= 0 || h <= 0 {
		return nil
	}
	margin := float64(min(2, (w-1)/4, (h-1)/4))
	availW, availH := float64(w-1)-2*margin, float64(h-1)-2*margin
	bw, bh := maxX-minX, maxY-minY
	scale := math.Inf(1)
	if bw > 0 {
		scale = availW / bw
	}
	if bh > 0 {
		scale = min(scale, availH/bh)
	}
	if math.IsInf(scale, 1) { // a single dot
		scale = 1
	}
	offX := margin + (availW-bw*scale)/2
	offY := margin + (availH-bh*scale)/2
	clamp := func(v float64, hi int) int { return min(max(int(math.Round(v)), 0), hi-1) }

	out := make([]Stroke, 0, len(strokes))
	var t int64
	first := true
	for _, st := range strokes {
		var s Stroke
		for _, p := range st {
			d := Point{X: clamp(offX+(p.x-minX)*scale, w), Y: clamp(offY+(p.y-minY)*scale, h)}
			if n := len(s); n > 0 && s[n-1].X == d.X && s[n-1].Y == d.Y {
				continue
			}
			if !first {
				t += PointInterval
			}
			first = false
			d.T = t
			s = append(s, d)
		}
		out = append(out, s)
	}
	return out
}

// latinBase maps accented Latin letters to the ASCII letter drawn for them.
var latinBase = func() map[rune]rune {
	m := map[rune]rune{}
	for base, variants := range map[rune]string{
		'A': "ÀÁÂÃÄÅĀĂĄ", 'a': "àáâãäåāăą", 'C': "ÇĆĈĊČ", 'c': "çćĉċč",
		'D': "ĎĐÐ", 'd': "ďđ", 'E': "ÈÉÊËĒĔĖĘĚ", 'e': "èéêëēĕėęě",
		'G': "ĜĞĠĢ", 'g': "ĝğġģ", 'H': "ĤĦ", 'h': "ĥħ",
		'I': "ÌÍÎÏĨĪĬĮİ", 'i': "ìíîïĩīĭįı", 'J': "Ĵ", 'j': "ĵ", 'K': "Ķ", 'k': "ķ",
		'L': "ĹĻĽĿŁ", 'l': "ĺļľŀł", 'N': "ÑŃŅŇ", 'n': "ñńņň",
		'O': "ÒÓÔÕÖØŌŎŐ", 'o': "òóôõöøōŏő", 'R': "ŔŖŘ", 'r': "ŕŗř",
		'S': "ŚŜŞŠ", 's': "śŝşšß", 'T': "ŢŤŦ", 't': "ţťŧ",
		'U': "ÙÚÛÜŨŪŬŮŰŲ", 'u': "ùúûüũūŭůűų", 'W': "Ŵ", 'w': "ŵ",
		'Y': "ÝŶŸ", 'y': "ýÿŷ", 'Z': "ŹŻŽ", 'z': "źżž",
	} {
		for _, v := range variants {
			m[v] = base
		}
	}
	return m
}()
