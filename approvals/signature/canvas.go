package signature

import (
	"math"
	"math/bits"
	"strings"
)

// BlankCell is the empty braille cell, used for cells with no dot set so
// every line has the same width.
const BlankCell = '\u2800'

// dotBits[row][col] is the braille bit of the dot at (col,row) in a cell.
var dotBits = [4][2]uint8{
	{0x01, 0x08},
	{0x02, 0x10},
	{0x04, 0x20},
	{0x40, 0x80},
}

// Canvas is a grid of braille cells, each holding 2×4 dots. Dot (x,y) lies
// in cell (x/2, y/4). The zero value is an empty 0×0 canvas.
type Canvas struct {
	cols, rows int
	w, h       int // dot bounds; Set ignores dots outside them
	cells      []uint8
	count      int
}

// NewCanvas returns a canvas of cols×rows cells, that is 2*cols × 4*rows
// dots. Negative sizes are taken as 0.
func NewCanvas(cols, rows int) *Canvas {
	cols, rows = max(cols, 0), max(rows, 0)
	return &Canvas{cols: cols, rows: rows, w: 2 * cols, h: 4 * rows, cells: make([]uint8, cols*rows)}
}

// NewDotCanvas returns the smallest canvas holding width×height dots; dots
// beyond width×height are never set, so DotCount matches a canvas of exactly
// that size.
func NewDotCanvas(width, height int) *Canvas {
	width, height = max(width, 0), max(height, 0)
	c := NewCanvas((width+1)/2, (height+3)/4)
	c.w, c.h = width, height
	return c
}

// Cols returns the canvas width in cells.
func (c *Canvas) Cols() int { return c.cols }

// Rows returns the canvas height in cells.
func (c *Canvas) Rows() int { return c.rows }

// Width returns the canvas width in dots.
func (c *Canvas) Width() int { return c.w }

// Height returns the canvas height in dots.
func (c *Canvas) Height() int { return c.h }

// Set sets the dot at (x,y); dots outside the canvas are ignored.
func (c *Canvas) Set(x, y int) {
	if x < 0 || y < 0 || x >= c.w || y >= c.h {
		return
	}
	i := (y/4)*c.cols + x/2
	b := dotBits[y%4][x%2]
	if c.cells[i]&b == 0 {
		c.cells[i] |= b
		c.count++
	}
}

// Get reports whether the dot at (x,y) is set.
func (c *Canvas) Get(x, y int) bool {
	if x < 0 || y < 0 || x >= c.w || y >= c.h {
		return false
	}
	return c.cells[(y/4)*c.cols+x/2]&dotBits[y%4][x%2] != 0
}

// Clear unsets every dot.
func (c *Canvas) Clear() {
	clear(c.cells)
	c.count = 0
}

// Line sets the dots of the Bresenham line from a to b, both ends included.
// Successive dots differ by at most one in each axis, so the line has no gaps.
func (c *Canvas) Line(a, b Point) {
	segment(a, b, c.w, c.h, func(x, y int) bool { c.Set(x, y); return true })
}

// linePoints calls f for each dot of the Bresenham line from (x0,y0) to
// (x1,y1) until f returns false.
func linePoints(x0, y0, x1, y1 int, f func(x, y int) bool) bool {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		if !f(x0, y0) {
			return false
		}
		if x0 == x1 && y0 == y1 {
			return true
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// segment calls f for the dots of the line from a to b that can lie on a
// w×h canvas. A segment with an end outside the canvas is first clipped to
// it, so far-away points cost nothing.
func segment(a, b Point, w, h int, f func(x, y int) bool) bool {
	in := func(p Point) bool { return p.X >= 0 && p.Y >= 0 && p.X < w && p.Y < h }
	if in(a) && in(b) {
		return linePoints(a.X, a.Y, b.X, b.Y, f)
	}
	// Liang–Barsky against [-1, w] × [-1, h], one dot of slack each side
	// so rounding never loses an edge dot.
	x0, y0 := float64(a.X), float64(a.Y)
	dx, dy := float64(b.X)-x0, float64(b.Y)-y0
	t0, t1 := 0.0, 1.0
	for _, e := range [4][2]float64{{-dx, x0 + 1}, {dx, float64(w) - x0}, {-dy, y0 + 1}, {dy, float64(h) - y0}} {
		p, q := e[0], e[1]
		if p == 0 {
			if q < 0 {
				return true
			}
			continue
		}
		r := q / p
		if p < 0 {
			t0 = max(t0, r)
		} else {
			t1 = min(t1, r)
		}
	}
	if t0 > t1 {
		return true
	}
	round := func(v float64) int { return int(math.Round(v)) }
	return linePoints(round(x0+t0*dx), round(y0+t0*dy), round(x0+t1*dx), round(y0+t1*dy), f)
}

// DrawPaths draws each stroke as lines joining its successive points; a
// stroke of one point is a single dot.
func (c *Canvas) DrawPaths(ps []Stroke) {
	c.drawUntil(ps, -1)
}

// drawUntil draws ps and reports whether at least limit dots are set,
// stopping early once they are (limit < 0: draw everything).
func (c *Canvas) drawUntil(ps []Stroke, limit int) bool {
	enough := func() bool { return limit >= 0 && c.count >= limit }
	for _, st := range ps {
		for i, p := range st {
			if enough() {
				return true
			}
			if i == 0 {
				c.Set(p.X, p.Y)
				continue
			}
			q := st[i-1]
			segment(q, p, c.w, c.h, func(x, y int) bool { c.Set(x, y); return !enough() })
		}
	}
	return limit < 0 || c.count >= limit
}

// Lines returns one string per row of cells, each of Cols() braille runes;
// cells with no dot are BlankCell.
func (c *Canvas) Lines() []string {
	out := make([]string, c.rows)
	var b strings.Builder
	for r := range c.rows {
		b.Reset()
		for _, cell := range c.cells[r*c.cols : (r+1)*c.cols] {
			b.WriteRune(BlankCell | rune(cell))
		}
		out[r] = b.String()
	}
	return out
}

// String returns Lines joined by newlines.
func (c *Canvas) String() string { return strings.Join(c.Lines(), "\n") }

// DotCount returns the number of dots set.
func (c *Canvas) DotCount() int { return c.count }

// recount is DotCount computed from the cells (for tests).
func (c *Canvas) recount() int {
	n := 0
	for _, cell := range c.cells {
		n += bits.OnesCount8(cell)
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
