package signature

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"strings"
	"testing"
)

func TestRenderSVGParsesAsXML(t *testing.T) {
	for _, s := range []Signature{drawnSig(), typedSig()} {
		s.PrintedName = `Alice <"&"> Example`
		b := RenderSVG(s)
		dec := xml.NewDecoder(bytes.NewReader(b))
		var root string
		polylines, title := 0, ""
		inTitle := false
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG is not XML: %v\n%s", err, b)
			}
			switch e := tok.(type) {
			case xml.StartElement:
				if root == "" {
					root = e.Name.Local
					if e.Name.Space != "http://www.w3.org/2000/svg" {
						t.Errorf("namespace %q", e.Name.Space)
					}
					for _, a := range e.Attr {
						if a.Name.Local == "viewBox" && a.Value != "0 0 120 32" {
							t.Errorf("viewBox %q", a.Value)
						}
					}
				}
				if e.Name.Local == "polyline" {
					polylines++
				}
				inTitle = e.Name.Local == "title"
			case xml.CharData:
				if inTitle {
					title += string(e)
				}
			case xml.EndElement:
				inTitle = false
			}
		}
		if root != "svg" || polylines == 0 {
			t.Fatalf("root %q, %d polylines", root, polylines)
		}
		if !strings.Contains(title, s.PrintedName) {
			t.Fatalf("title %q does not name %q", title, s.PrintedName)
		}
	}
}

func TestRenderPNGHasDarkInk(t *testing.T) {
	for _, s := range []Signature{drawnSig(), typedSig()} {
		b, err := RenderPNG(s, 4)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if r := img.Bounds(); r.Dx() != s.Width*4 || r.Dy() != s.Height*4 {
			t.Fatalf("PNG %v, want %d×%d", r, s.Width*4, s.Height*4)
		}
		dark, light := 0, 0
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if r+g+b < 3*0x4000 {
					dark++
				} else if r+g+b > 3*0xc000 {
					light++
				}
			}
		}
		// Thick enough: more dark pixels than one per dot of ink.
		if dark < s.Ink()*4 || light < dark {
			t.Fatalf("%d dark, %d light pixels for %d dots of ink", dark, light, s.Ink())
		}
	}
}

func TestRenderPNGRefusesBadScale(t *testing.T) {
	for _, scale := range []int{0, -1, 65} {
		if _, err := RenderPNG(drawnSig(), scale); err == nil {
			t.Errorf("scale %d accepted", scale)
		}
	}
	s := drawnSig()
	s.Width, s.Height = 4096, 4096
	if _, err := RenderPNG(s, 8); err == nil {
		t.Error("a 32768×32768 PNG was accepted")
	}
}
