package signature

import (
	"testing"
	"unicode/utf8"
)

func TestBrailleBitForEachDot(t *testing.T) {
	want := map[[2]int]rune{
		{0, 0}: 0x01, {0, 1}: 0x02, {0, 2}: 0x04, {0, 3}: 0x40,
		{1, 0}: 0x08, {1, 1}: 0x10, {1, 2}: 0x20, {1, 3}: 0x80,
	}
	for dot, bit := range want {
		// The dot in the second cell of the second row, so cell offsets count too.
		c := NewCanvas(3, 2)
		c.Set(2+dot[0], 4+dot[1])
		lines := c.Lines()
		got := []rune(lines[1])[1]
		if got != 0x2800|bit {
			t.Errorf("dot (col %d,row %d): cell %U, want %U", dot[0], dot[1], got, 0x2800|bit)
		}
		if lines[0] != "⠀⠀⠀" || []rune(lines[1])[0] != BlankCell || []rune(lines[1])[2] != BlankCell {
			t.Errorf("dot (col %d,row %d) set other cells: %q", dot[0], dot[1], lines)
		}
	}
	c := NewCanvas(1, 1)
	for x := range 2 {
		for y := range 4 {
			c.Set(x, y)
		}
	}
	if got := c.Lines()[0]; got != "⣿" {
		t.Errorf("full cell %q, want ⣿", got)
	}
}

func TestSetOutOfRangeIgnored(t *testing.T) {
	c := NewCanvas(2, 1)
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {4, 0}, {0, 4}, {1 << 40, 1}} {
		c.Set(p[0], p[1])
	}
	if c.DotCount() != 0 {
		t.Fatalf("DotCount = %d after out-of-range sets", c.DotCount())
	}
	c.Set(3, 3)
	c.Set(3, 3)
	if c.DotCount() != 1 || c.recount() != 1 || !c.Get(3, 3) {
		t.Fatalf("DotCount = %d, want 1", c.DotCount())
	}
}

func TestLinesHaveStableWidth(t *testing.T) {
	c := NewCanvas(7, 3)
	c.Set(5, 5)
	lines := c.Lines()
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n != 7 {
			t.Errorf("line %d has %d runes, want 7", i, n)
		}
	}
}

func TestDotCanvasClipsToDotSize(t *testing.T) {
	c := NewDotCanvas(5, 6)
	if c.Cols() != 3 || c.Rows() != 2 || c.Width() != 5 || c.Height() != 6 {
		t.Fatalf("canvas %d×%d cells, %d×%d dots", c.Cols(), c.Rows(), c.Width(), c.Height())
	}
	c.Set(5, 0)
	c.Set(0, 6)
	if c.DotCount() != 0 {
		t.Fatal("set a dot beyond the dot size")
	}
}

func TestLineJoinsFarPointsWithoutGaps(t *testing.T) {
	ends := [][2]Point{
		{{X: 0, Y: 0}, {X: 119, Y: 31}},
		{{X: 119, Y: 0}, {X: 0, Y: 31}},
		{{X: 3, Y: 30}, {X: 100, Y: 1}},
		{{X: 60, Y: 0}, {X: 61, Y: 31}},
		{{X: 0, Y: 16}, {X: 119, Y: 16}},
		{{X: 7, Y: 7}, {X: 7, Y: 7}},
	}
	for _, e := range ends {
		var pts [][2]int
		linePoints(e[0].X, e[0].Y, e[1].X, e[1].Y, func(x, y int) bool { pts = append(pts, [2]int{x, y}); return true })
		if pts[0] != [2]int{e[0].X, e[0].Y} || pts[len(pts)-1] != [2]int{e[1].X, e[1].Y} {
			t.Fatalf("line %v does not start and end at its points: %v … %v", e, pts[0], pts[len(pts)-1])
		}
		for i := 1; i < len(pts); i++ {
			dx, dy := abs(pts[i][0]-pts[i-1][0]), abs(pts[i][1]-pts[i-1][1])
			if dx > 1 || dy > 1 || dx+dy == 0 {
				t.Fatalf("line %v: step %v → %v", e, pts[i-1], pts[i])
			}
		}
		c := NewCanvas(60, 8)
		c.Line(e[0], e[1])
		want := max(abs(e[1].X-e[0].X), abs(e[1].Y-e[0].Y)) + 1
		if c.DotCount() != want {
			t.Errorf("line %v set %d dots, want %d", e, c.DotCount(), want)
		}
	}
}

func TestLineClipsPointsFarOutside(t *testing.T) {
	c := NewCanvas(10, 2)
	c.Line(Point{X: -1 << 40, Y: 3}, Point{X: 1 << 40, Y: 3})
	if c.DotCount() != 20 {
		t.Fatalf("horizontal line through the canvas set %d dots, want 20", c.DotCount())
	}
	c.Clear()
	c.Line(Point{X: -100, Y: -100}, Point{X: -5, Y: 500})
	if c.DotCount() != 0 {
		t.Fatalf("line outside the canvas set %d dots", c.DotCount())
	}
	// A clipped segment draws the same dots as the unclipped one where they overlap.
	a, b := Point{X: -7, Y: -3}, Point{X: 30, Y: 9}
	c.Clear()
	c.Line(a, b)
	ref := 0
	linePoints(a.X, a.Y, b.X, b.Y, func(x, y int) bool {
		if x >= 0 && y >= 0 && x < 20 && y < 8 {
			ref++
		}
		return true
	})
	if c.DotCount() < ref-2 || c.DotCount() > ref+2 {
		t.Fatalf("clipped line set %d dots, unclipped would set %d", c.DotCount(), ref)
	}
}

func TestDrawPathsJoinsStrokePoints(t *testing.T) {
	c := NewCanvas(10, 2)
	c.DrawPaths([]Stroke{{{X: 0, Y: 0}, {X: 5, Y: 0}, {X: 5, Y: 5}}, {{X: 10, Y: 7}}})
	if c.DotCount() != 6+5+1 {
		t.Fatalf("DotCount = %d, want 12", c.DotCount())
	}
	if c.DotCount() != c.recount() {
		t.Fatal("DotCount disagrees with the cells")
	}
}
