package signature

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
)

// RenderSVG returns a standalone SVG document of the signature's Paths:
// one polyline per stroke (a dot for a one-point stroke), black on white,
// with viewBox equal to the canvas size in dots and points at dot centres.
// The printed name is the document's title.
func RenderSVG(s Signature) []byte {
	w, h := max(s.Width, 1), max(s.Height, 1)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 %d %d" width="%d" height="%d">`+"\n", w, h, w*4, h*4)
	b.WriteString("<title>Signature of ")
	_ = xml.EscapeText(&b, []byte(s.PrintedName))
	b.WriteString("</title>\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	b.WriteString(`<g fill="none" stroke="#000" stroke-width="1" stroke-linecap="round" stroke-linejoin="round">` + "\n")
	coord := func(v int) string { return strconv.FormatFloat(float64(v)+0.5, 'f', -1, 64) }
	for _, st := range s.Paths() {
		switch len(st) {
		case 0:
		case 1:
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="0.5" fill="#000" stroke="none"/>`+"\n", coord(st[0].X), coord(st[0].Y))
		default:
			b.WriteString(`<polyline points="`)
			for i, p := range st {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(coord(p.X) + "," + coord(p.Y))
			}
			b.WriteString(`"/>` + "\n")
		}
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes()
}

// MaxPNGPixels bounds the image RenderPNG makes.
const MaxPNGPixels = 1 << 26

// RenderPNG returns a PNG of the signature's Paths, scale pixels a dot,
// black ink on white. Lines are drawn with a round pen about 0.6 dot (at
// least 2 pixels) wide. scale must be 1..64 and the image at most
// MaxPNGPixels.
func RenderPNG(s Signature, scale int) ([]byte, error) {
	if scale < 1 || scale > 64 {
		return nil, fmt.Errorf("%w: PNG scale %d, want 1..64", ErrInvalid, scale)
	}
	if s.Width < 1 || s.Height < 1 || s.Width > MaxWidth || s.Height > MaxHeight {
		return nil, fmt.Errorf("%w: canvas %d×%d dots", ErrInvalid, s.Width, s.Height)
	}
	w, h := s.Width*scale, s.Height*scale
	if w*h > MaxPNGPixels {
		return nil, fmt.Errorf("%w: a %d×%d PNG is too large; use a smaller scale", ErrInvalid, w, h)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	r := max(1, (scale*3)/10) // pen radius in pixels: diameter ≈ 0.6 dot
	var disc [][2]int
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if dx*dx+dy*dy <= r*r+r/2 {
				disc = append(disc, [2]int{dx, dy})
			}
		}
	}
	stamp := func(x, y int) bool {
		for _, d := range disc {
			if px, py := x+d[0], y+d[1]; px >= 0 && py >= 0 && px < w && py < h {
				img.SetGray(px, py, color.Gray{})
			}
		}
		return true
	}
	centre := func(p Point) Point { return Point{X: p.X*scale + scale/2, Y: p.Y*scale + scale/2} }
	for _, st := range s.Paths() {
		for i, p := range st {
			if i == 0 {
				c := centre(p)
				stamp(c.X, c.Y)
				continue
			}
			segment(centre(st[i-1]), centre(p), w, h, stamp)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
