// Command genfont writes font_data.go, the stroke font that typed signatures
// are drawn with, from the Hershey font data carried by the npm package
// hersheytext (MIT licence; the Hershey data itself was created at the US
// National Bureau of Standards, see FONT-LICENSE.md).
//
// It reads the "scripts" face (Hershey Script 1-stroke) from hersheytext.json
// for the glyph strokes, and the advance widths of the same face from
// svg_fonts/HersheyScript1.svg in the same package, because the JSON carries
// no usable advance width. Only printable ASCII (0x20–0x7E) is kept.
//
// Usage (from approvals/signature, via go generate):
//
//	go run ./internal/genfont [-src DIR] [-o font_data.go]
//
// DIR is an unpacked hersheytext package (the directory holding
// hersheytext.json). Without -src the command runs `npm pack
// hersheytext@2.0.0` in a temporary directory and unpacks it, so npm is
// needed only to regenerate; the build uses the committed output.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

const (
	pkgVersion = "hersheytext@2.0.0"
	face       = "scripts"
	svgFile    = "svg_fonts/HersheyScript1.svg"
	// baseline is the JSON y coordinate of the baseline: the SVG font has
	// y = baseline - jsonY (times svgUnit).
	baseline = 22
	// svgUnit is the size of one Hershey unit in the SVG font (1000 units
	// per em).
	svgUnit = 31.5
	// penUp separates strokes in the generated data.
	penUp = -128
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("genfont: ")
	src := flag.String("src", "", "unpacked hersheytext package directory (default: npm pack "+pkgVersion+" into a temp dir)")
	out := flag.String("o", "font_data.go", "output Go file")
	flag.Parse()

	dir := *src
	if dir == "" {
		tmp, err := os.MkdirTemp("", "genfont")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		dir, err = npmPack(tmp)
		if err != nil {
			log.Fatal(err)
		}
	}
	glyphs, err := load(dir)
	if err != nil {
		log.Fatal(err)
	}
	code, err := generate(glyphs)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, code, 0o644); err != nil {
		log.Fatal(err)
	}
}

// npmPack fetches the package with the npm client and unpacks it under tmp.
func npmPack(tmp string) (string, error) {
	cmd := exec.Command("npm", "pack", "--silent", pkgVersion)
	cmd.Dir = tmp
	cmd.Stderr = os.Stderr
	name, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s: %w (or pass -src DIR)", pkgVersion, err)
	}
	f, err := os.Open(filepath.Join(tmp, strings.TrimSpace(string(name))))
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if h.Typeflag != tar.TypeReg || (h.Name != "package/hersheytext.json" && h.Name != "package/"+svgFile && h.Name != "package/LICENSE") {
			continue
		}
		p := filepath.Join(tmp, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(tmp, "package"), nil
}

type glyph struct {
	r       rune
	advance int
	strokes [][][2]int // x right, y down, baseline at 0
}

var pointRE = regexp.MustCompile(`^(-?\d+),(-?\d+)$`)

// load reads the strokes from the JSON and the advances from the SVG font.
func load(dir string) ([]glyph, error) {
	b, err := os.ReadFile(filepath.Join(dir, "hersheytext.json"))
	if err != nil {
		return nil, err
	}
	var fonts map[string]struct {
		Name  string `json:"name"`
		Chars []struct {
			D string `json:"d"`
		} `json:"chars"`
	}
	if err := json.Unmarshal(b, &fonts); err != nil {
		return nil, fmt.Errorf("hersheytext.json: %w", err)
	}
	f, ok := fonts[face]
	if !ok {
		return nil, fmt.Errorf("hersheytext.json: no face %q", face)
	}
	// chars[0] is '!' (0x21); the face has no glyph for space.
	if len(f.Chars) < 0x7e-0x21+1 {
		return nil, fmt.Errorf("face %q has %d glyphs, want at least %d", face, len(f.Chars), 0x7e-0x21+1)
	}
	adv, err := advances(filepath.Join(dir, svgFile))
	if err != nil {
		return nil, err
	}
	var out []glyph
	for r := rune(0x20); r <= 0x7e; r++ {
		a, ok := adv[r]
		if !ok {
			return nil, fmt.Errorf("%s: no advance for %q", svgFile, r)
		}
		g := glyph{r: r, advance: a}
		if r != ' ' {
			g.strokes, err = parsePath(f.Chars[r-0x21].D)
			if err != nil {
				return nil, fmt.Errorf("glyph %q: %w", r, err)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// parsePath reads hersheytext's path strings: "M x,y L x,y x,y ... M ...".
func parsePath(d string) ([][][2]int, error) {
	var strokes [][][2]int
	for _, tok := range strings.Fields(d) {
		switch {
		case strings.HasPrefix(tok, "M"):
			strokes = append(strokes, nil)
			tok = tok[1:]
		case strings.HasPrefix(tok, "L"):
			tok = tok[1:]
		}
		if tok == "" {
			continue
		}
		m := pointRE.FindStringSubmatch(tok)
		if m == nil || len(strokes) == 0 {
			return nil, fmt.Errorf("bad path token %q", tok)
		}
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		y -= baseline
		if x <= penUp || x > 127 || y <= penUp || y > 127 {
			return nil, fmt.Errorf("coordinate %d,%d out of int8 range", x, y)
		}
		strokes[len(strokes)-1] = append(strokes[len(strokes)-1], [2]int{x, y})
	}
	return strokes, nil
}

// advances reads horiz-adv-x of each glyph of the SVG font, in Hershey units.
func advances(path string) (map[rune]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Glyphs []struct {
			Unicode string `xml:"unicode,attr"`
			Adv     string `xml:"horiz-adv-x,attr"`
		} `xml:"defs>font>glyph"`
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[rune]int{}
	for _, g := range doc.Glyphs {
		rs := []rune(g.Unicode)
		if len(rs) != 1 || rs[0] < 0x20 || rs[0] > 0x7e {
			continue
		}
		v, err := strconv.ParseFloat(g.Adv, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: glyph %q: %w", path, g.Unicode, err)
		}
		u := v / svgUnit
		if math.Abs(u-math.Round(u)) > 0.05 {
			return nil, fmt.Errorf("%s: glyph %q: advance %v is not a whole number of Hershey units", path, g.Unicode, v)
		}
		out[rs[0]] = int(math.Round(u))
	}
	return out, nil
}

func generate(glyphs []glyph) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/genfont from " + pkgVersion + " (face \"" + face + "\"); DO NOT EDIT.\n\n")
	b.WriteString("// The Hershey Fonts were originally created by Dr. A. V. Hershey while working at the\n")
	b.WriteString("// U. S. National Bureau of Standards. See FONT-LICENSE.md.\n\n")
	b.WriteString("package signature\n\n")
	b.WriteString("// hersheyScript is Hershey Script 1-stroke for printable ASCII (0x20–0x7E): per glyph,\n")
	b.WriteString("// the advance width and x,y pairs in font units (y down, baseline at 0), strokes\n")
	b.WriteString("// separated by penUp.\n")
	b.WriteString("var hersheyScript = strokeFont{\n")
	b.WriteString("glyphs: [95]glyph{\n")
	for _, g := range glyphs {
		fmt.Fprintf(&b, "{advance: %d", g.advance)
		if len(g.strokes) > 0 {
			b.WriteString(", path: []int8{")
			for i, s := range g.strokes {
				if i > 0 {
					fmt.Fprintf(&b, "penUp, ")
				}
				for _, p := range s {
					fmt.Fprintf(&b, "%d, %d, ", p[0], p[1])
				}
			}
			b.WriteString("}")
		}
		fmt.Fprintf(&b, "}, // %q\n", g.r)
	}
	b.WriteString("},\n}\n")
	return format.Source(b.Bytes())
}
