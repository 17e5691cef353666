package signature

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestTypedNameBrailleGolden pins the braille rendering of a typed name on a
// 60×8-cell pad. Run `go test -run Golden -update` after an intended change
// and look at the diff.
func TestTypedNameBrailleGolden(t *testing.T) {
	for name, text := range map[string]string{
		"typed_alice_example": "Alice Example",
		"typed_bob_smith":     "Bob Smith-Jones",
	} {
		t.Run(name, func(t *testing.T) {
			s := typedSig()
			s.Text = text
			s.Width, s.Height = 120, 32
			c := NewCanvas(60, 8)
			c.DrawPaths(s.Paths())
			got := strings.Join(c.Lines(), "\n") + "\n"
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("braille rendering of %q changed:\ngot:\n%swant:\n%s", text, got, want)
			}
		})
	}
}
