package signature

import (
	"testing"
)

func TestTypedTextInksInsideCanvas(t *testing.T) {
	s := typedSig()
	s.Text = "Alice Example"
	paths := s.Paths()
	if len(paths) == 0 {
		t.Fatal("no paths for typed text")
	}
	minX, maxX, minY, maxY := s.Width, -1, s.Height, -1
	last := int64(-1)
	for _, st := range paths {
		if len(st) == 0 {
			t.Fatal("empty stroke")
		}
		for _, p := range st {
			if p.X < 0 || p.Y < 0 || p.X >= s.Width || p.Y >= s.Height {
				t.Fatalf("point %v outside %d×%d", p, s.Width, s.Height)
			}
			if p.T <= last {
				t.Fatalf("time does not advance: %d after %d", p.T, last)
			}
			last = p.T
			minX, maxX = min(minX, p.X), max(maxX, p.X)
			minY, maxY = min(minY, p.Y), max(maxY, p.Y)
		}
	}
	if paths[0][0].T != 0 {
		t.Fatalf("first point at T=%d, want 0", paths[0][0].T)
	}
	// Scaled to fit: the text spans nearly all of the width (it is wider
	// than tall), inside the margin, and is centred vertically.
	if minX < 1 || maxX > s.Width-2 || maxX-minX < s.Width*9/10 {
		t.Fatalf("text spans x %d..%d of %d", minX, maxX, s.Width)
	}
	if top, bottom := minY, s.Height-1-maxY; abs(top-bottom) > 1 {
		t.Fatalf("not centred vertically: %d dots above, %d below", top, bottom)
	}
	if ink := s.Ink(); ink < 150 {
		t.Fatalf("Ink = %d, want plenty", ink)
	}
	// The strokes of a typed signature pass the drawn-signature rules.
	d := s
	d.Kind, d.Text, d.Font, d.Strokes = Drawn, "", "", paths
	if err := d.Validate(); err != nil {
		t.Fatalf("typed paths as a drawing: %v", err)
	}
}

func TestTypedTextFitsSmallAndTallCanvases(t *testing.T) {
	for _, size := range [][2]int{{2, 4}, {10, 4}, {40, 400}, {4096, 4096}} {
		s := typedSig()
		s.Width, s.Height = size[0], size[1]
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, st := range s.Paths() {
			for _, p := range st {
				if p.X < 0 || p.Y < 0 || p.X >= s.Width || p.Y >= s.Height {
					t.Fatalf("%v: point %v outside", size, p)
				}
			}
		}
		if s.Ink() == 0 {
			t.Fatalf("%v: no ink", size)
		}
	}
}

func TestEveryPrintableASCIIGlyphDraws(t *testing.T) {
	for r := rune(0x21); r <= 0x7e; r++ {
		g := hersheyScript.glyphFor(r)
		if len(g.path) < 4 || g.advance <= 0 {
			t.Errorf("glyph %q: advance %d, %d path values", r, g.advance, len(g.path))
		}
		s := typedSig()
		s.Text = string(r)
		if s.Ink() == 0 {
			t.Errorf("glyph %q sets no dots", r)
		}
	}
	if g := hersheyScript.glyphFor(' '); len(g.path) != 0 || g.advance <= 0 {
		t.Errorf("space: advance %d, path %v", g.advance, g.path)
	}
}

func TestAccentedLettersDrawTheirBaseLetter(t *testing.T) {
	a, b := typedSig(), typedSig()
	a.Text, b.Text = "José Müller", "Jose Muller"
	if len(a.Paths()) != len(b.Paths()) || a.Ink() != b.Ink() {
		t.Fatalf("accented text draws differently from its base letters")
	}
	c := typedSig()
	c.Text = "日本"
	if err := c.Validate(); err != nil || c.Ink() == 0 {
		t.Fatalf("text outside the font: %v, ink %d", err, c.Ink())
	}
}

func TestFontsListsTheDefault(t *testing.T) {
	if f := Fonts(); len(f) != 1 || f[0] != DefaultFont {
		t.Fatalf("Fonts() = %v", f)
	}
}

func TestPathsOfDrawnSignatureIsACopy(t *testing.T) {
	s := drawnSig()
	p := s.Paths()
	p[0][0].X = 99
	if s.Strokes[0][0].X == 99 {
		t.Fatal("Paths shares memory with Strokes")
	}
}
