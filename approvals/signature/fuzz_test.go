package signature

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to the strict decoder. Properties:
// nothing panics; whatever decodes is valid, and re-encoding it is stable
// (Decode(Canonical(s)) gives the same canonical bytes and digest).
func FuzzDecode(f *testing.F) {
	typed := TypedSignature("alice", "Alice Example", "Alice Example", "I approve", time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if b, err := typed.Canonical(); err == nil {
		f.Add(b)
	}
	drawn := typed
	drawn.Kind, drawn.Text, drawn.Font = Drawn, "", ""
	drawn.Strokes = []Stroke{{{X: 1, Y: 1, T: 0}, {X: 40, Y: 20, T: 30}, {X: 80, Y: 5, T: 60}}}
	if b, err := drawn.Canonical(); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"kind":"drawn","strokes":[[[1,2,3]]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid signature: %v", err)
		}
		c1, err := s.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Decode(c1)
		if err != nil {
			t.Fatalf("canonical bytes do not decode: %v", err)
		}
		c2, _ := s2.Canonical()
		if !bytes.Equal(c1, c2) {
			t.Fatal("canonical encoding is not stable")
		}
	})
}
