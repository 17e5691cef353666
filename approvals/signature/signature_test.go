package signature

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testDigest = strings.Repeat("ab", 32)

func drawnSig() Signature {
	return Signature{
		Approver:    "alice",
		PrintedName: "Alice Example",
		Kind:        Drawn,
		Width:       120,
		Height:      32,
		Strokes: []Stroke{
			{{X: 10, Y: 20, T: 0}, {X: 30, Y: 5, T: 40}, {X: 50, Y: 25, T: 90}},
			{{X: 60, Y: 10, T: 200}, {X: 90, Y: 12, T: 260}},
		},
		Meaning:       "I approve JIT access for bob to Prod DB write for 30m — request 01J0000000000000000000000",
		SignedAt:      time.Date(2025, 3, 1, 12, 30, 45, 123_000_000, time.UTC),
		RequestDigest: testDigest,
	}
}

func typedSig() Signature {
	return TypedSignature("alice", "Alice Example", "Alice Example", "I approve <it> & more", time.Date(2025, 3, 1, 12, 30, 45, 123_456_789, time.FixedZone("CET", 3600)), testDigest)
}

func TestCanonicalIsDeterministic(t *testing.T) {
	for _, s := range []Signature{drawnSig(), typedSig()} {
		a, err := s.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			b, err := s.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("canonical bytes differ:\n%s\n%s", a, b)
			}
		}
		// A copy decoded from the canonical bytes encodes to the same bytes.
		d, err := Decode(a)
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, c) {
			t.Fatalf("decode/encode changed the bytes:\n%s\n%s", a, c)
		}
	}
}

func TestCanonicalFormat(t *testing.T) {
	b, err := typedSig().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"approver":"alice","printed_name":"Alice Example","kind":"typed","width":120,"height":32,"strokes":[],"text":"Alice Example","font":"hershey-script","meaning":"I approve <it> & more","signed_at":"2025-03-01T11:30:45.123Z","request_digest":"` + testDigest + `"}`
	if string(b) != want {
		t.Fatalf("canonical:\n got %s\nwant %s", b, want)
	}
	b, err = drawnSig().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"strokes":[[[10,20,0],[30,5,40],[50,25,90]],[[60,10,200],[90,12,260]]],"text":"","font":""`)) {
		t.Fatalf("drawn canonical: %s", b)
	}
}

func TestCanonicalTimeIsUTCMilliseconds(t *testing.T) {
	s := drawnSig()
	u := s
	u.SignedAt = s.SignedAt.In(time.FixedZone("X", -7*3600)).Add(999 * time.Microsecond)
	a, _ := s.Canonical()
	b, err := u.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("same instant (to the millisecond) in another zone encodes differently:\n%s\n%s", a, b)
	}
	// A whole second still shows three fractional digits.
	s.SignedAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c, _ := s.Canonical()
	if !bytes.Contains(c, []byte(`"signed_at":"2025-03-01T12:00:00.000Z"`)) {
		t.Fatalf("signed_at not fixed-width: %s", c)
	}
}

func TestCanonicalChangesWithEveryField(t *testing.T) {
	mutations := map[string]struct {
		base Signature
		f    func(*Signature)
	}{
		"approver":       {drawnSig(), func(s *Signature) { s.Approver = "bob" }},
		"printed_name":   {drawnSig(), func(s *Signature) { s.PrintedName = "Alice Examples" }},
		"kind":           {typedSig(), func(s *Signature) { s.Kind, s.Text, s.Font, s.Strokes = Drawn, "", "", drawnSig().Strokes }},
		"width":          {drawnSig(), func(s *Signature) { s.Width++ }},
		"height":         {drawnSig(), func(s *Signature) { s.Height++ }},
		"strokes point":  {drawnSig(), func(s *Signature) { s.Strokes[1][1].X++ }},
		"strokes time":   {drawnSig(), func(s *Signature) { s.Strokes[1][1].T++ }},
		"strokes split":  {drawnSig(), func(s *Signature) { s.Strokes = []Stroke{append(append(Stroke{}, s.Strokes[0]...), s.Strokes[1]...)} }},
		"text":           {typedSig(), func(s *Signature) { s.Text = "alice example" }},
		"font":           {typedSig(), func(s *Signature) { fonts["test-font"] = &hersheyScript; s.Font = "test-font" }},
		"meaning":        {drawnSig(), func(s *Signature) { s.Meaning += "." }},
		"signed_at":      {drawnSig(), func(s *Signature) { s.SignedAt = s.SignedAt.Add(time.Millisecond) }},
		"request_digest": {drawnSig(), func(s *Signature) { s.RequestDigest = strings.Repeat("ac", 32) }},
	}
	defer delete(fonts, "test-font")
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			a, err := m.base.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			s := m.base
			s.Strokes = clonePaths(m.base.Strokes)
			m.f(&s)
			b, err := s.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(a, b) {
				t.Fatalf("changing %s did not change the canonical bytes", name)
			}
			da, _ := m.base.Digest()
			db, _ := s.Digest()
			if da == db {
				t.Fatalf("changing %s did not change the digest", name)
			}
		})
	}
}

func clonePaths(ps []Stroke) []Stroke {
	if ps == nil {
		return nil
	}
	out := make([]Stroke, len(ps))
	for i, p := range ps {
		out[i] = append(Stroke(nil), p...)
	}
	return out
}

func TestDigestIsSHA256OfCanonical(t *testing.T) {
	s := drawnSig()
	c, _ := s.Canonical()
	sum := sha256.Sum256(c)
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s, want sha256 of canonical %x", d, sum)
	}
}

func TestCanonicalRefusesInvalidSignature(t *testing.T) {
	s := drawnSig()
	s.Approver = ""
	if _, err := s.Canonical(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Canonical of invalid signature: %v", err)
	}
	if _, err := s.Digest(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Digest of invalid signature: %v", err)
	}
}

func TestDecodeAcceptsEncodingJSON(t *testing.T) {
	s := typedSig()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(json.Marshal): %v\n%s", err, b)
	}
	if !d.SignedAt.Equal(s.SignedAt) || d.SignedAt.Location() != time.UTC {
		t.Fatalf("signed_at %v, want %v in UTC", d.SignedAt, s.SignedAt)
	}
	want, _ := s.Digest()
	got, _ := d.Digest()
	if got != want {
		t.Fatal("decoded signature has another digest")
	}
}

func TestDecodeRefusesUnknownFields(t *testing.T) {
	good, _ := drawnSig().Canonical()
	cases := map[string]string{
		"unknown top-level": strings.Replace(string(good), `{"approver"`, `{"extra":1,"approver"`, 1),
		"case-folded key":   strings.Replace(string(good), `"approver"`, `"Approver"`, 1),
		"duplicate key":     strings.Replace(string(good), `{"approver":"alice"`, `{"approver":"mallory","approver":"alice"`, 1),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode accepted it: %v", err)
			}
		})
	}
}

func TestDecodeRefusesInvalidData(t *testing.T) {
	good, _ := drawnSig().Canonical()
	g := string(good)
	cases := map[string]string{
		"not JSON":         "signature",
		"array":            "[]",
		"trailing data":    g + ` {}`,
		"point as object":  strings.Replace(g, `[10,20,0]`, `{"X":10,"Y":20,"T":0}`, 1),
		"point of two":     strings.Replace(g, `[10,20,0]`, `[10,20]`, 1),
		"fractional point": strings.Replace(g, `[10,20,0]`, `[10.5,20,0]`, 1),
		"point off canvas": strings.Replace(g, `[10,20,0]`, `[500,20,0]`, 1),
		"bad kind":         strings.Replace(g, `"kind":"drawn"`, `"kind":"stamped"`, 1),
		"bad time":         strings.Replace(g, `"2025-03-01T12:30:45.123Z"`, `"yesterday"`, 1),
		"missing approver": strings.Replace(g, `"approver":"alice",`, ``, 1),
		"too large":        strings.Repeat(" ", MaxEncodedSize+1),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); err == nil {
				t.Fatal("Decode accepted it")
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	type tc struct {
		base Signature
		f    func(*Signature)
		want error
	}
	manyPoints := func(n int) []Stroke {
		var ps []Stroke
		for i := range n {
			ps = append(ps, Stroke{{X: i % 100, Y: (i / 100) % 30, T: int64(i)}})
		}
		return ps
	}
	cases := map[string]tc{
		"approver required":         {drawnSig(), func(s *Signature) { s.Approver = " " }, ErrInvalid},
		"printed name required":     {drawnSig(), func(s *Signature) { s.PrintedName = "" }, ErrInvalid},
		"meaning required":          {drawnSig(), func(s *Signature) { s.Meaning = "" }, ErrInvalid},
		"request digest required":   {drawnSig(), func(s *Signature) { s.RequestDigest = "" }, ErrInvalid},
		"request digest uppercase":  {drawnSig(), func(s *Signature) { s.RequestDigest = strings.ToUpper(testDigest) }, ErrInvalid},
		"request digest short":      {drawnSig(), func(s *Signature) { s.RequestDigest = testDigest[:62] }, ErrInvalid},
		"request digest not hex":    {drawnSig(), func(s *Signature) { s.RequestDigest = strings.Repeat("zz", 32) }, ErrInvalid},
		"signed at required":        {drawnSig(), func(s *Signature) { s.SignedAt = time.Time{} }, ErrInvalid},
		"width too small":           {drawnSig(), func(s *Signature) { s.Width = 1 }, ErrInvalid},
		"width too large":           {drawnSig(), func(s *Signature) { s.Width = 4097 }, ErrInvalid},
		"height too small":          {typedSig(), func(s *Signature) { s.Height = 3 }, ErrInvalid},
		"height too large":          {typedSig(), func(s *Signature) { s.Height = 4097 }, ErrInvalid},
		"unknown kind":              {drawnSig(), func(s *Signature) { s.Kind = "" }, ErrInvalid},
		"drawn needs strokes":       {drawnSig(), func(s *Signature) { s.Strokes = nil }, ErrEmpty},
		"drawn empty stroke":        {drawnSig(), func(s *Signature) { s.Strokes = append(s.Strokes, Stroke{}) }, ErrInvalid},
		"drawn point x outside":     {drawnSig(), func(s *Signature) { s.Strokes[0][0].X = 120 }, ErrInvalid},
		"drawn point y outside":     {drawnSig(), func(s *Signature) { s.Strokes[0][0].Y = -1 }, ErrInvalid},
		"drawn time back in stroke": {drawnSig(), func(s *Signature) { s.Strokes[0][2].T = 10 }, ErrInvalid},
		"drawn time back across":    {drawnSig(), func(s *Signature) { s.Strokes[1][0].T = 50 }, ErrInvalid},
		"drawn negative time":       {drawnSig(), func(s *Signature) { s.Strokes[0][0].T = -1 }, ErrInvalid},
		"drawn too many strokes":    {drawnSig(), func(s *Signature) { s.Strokes = manyPoints(MaxStrokes + 1) }, ErrInvalid},
		"drawn too many points": {drawnSig(), func(s *Signature) {
			st := Stroke{}
			for i := range MaxPoints + 1 {
				st = append(st, Point{X: i % 120, Y: 5, T: int64(i)})
			}
			s.Strokes = []Stroke{st}
		}, ErrInvalid},
		"drawn with text":           {drawnSig(), func(s *Signature) { s.Text = "Alice" }, ErrInvalid},
		"drawn with font":           {drawnSig(), func(s *Signature) { s.Font = DefaultFont }, ErrInvalid},
		"typed needs text":          {typedSig(), func(s *Signature) { s.Text = "  " }, ErrEmpty},
		"typed text too long":       {typedSig(), func(s *Signature) { s.Text = strings.Repeat("é", MaxTextRunes+1) }, ErrInvalid},
		"typed text unprintable":    {typedSig(), func(s *Signature) { s.Text = "Alice\x1b[2J" }, ErrInvalid},
		"typed text bidi control":   {typedSig(), func(s *Signature) { s.Text = "Alice\u202eelpmaxE" }, ErrInvalid},
		"typed text invalid UTF-8":  {typedSig(), func(s *Signature) { s.Text = "Alice\xff" }, ErrInvalid},
		"typed unknown font":        {typedSig(), func(s *Signature) { s.Font = "comic-sans" }, ErrInvalid},
		"typed no font":             {typedSig(), func(s *Signature) { s.Font = "" }, ErrInvalid},
		"typed with strokes":        {typedSig(), func(s *Signature) { s.Strokes = drawnSig().Strokes }, ErrInvalid},
		"typed text at limit is ok": {typedSig(), func(s *Signature) { s.Text = strings.Repeat("é", MaxTextRunes) }, nil},
		"drawn at the limits is ok": {drawnSig(), func(s *Signature) {
			s.Strokes = manyPoints(MaxStrokes - 1)
			st := Stroke{}
			for i := range MaxPoints - len(s.Strokes) {
				st = append(st, Point{X: i % 120, Y: 5, T: int64(1000 + i)})
			}
			s.Strokes = append(s.Strokes, st)
		}, nil},
		"drawn at canvas edge is ok": {drawnSig(), func(s *Signature) { s.Strokes[0][0] = Point{X: 119, Y: 31, T: 0} }, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := c.base
			s.Strokes = clonePaths(c.base.Strokes)
			if err := s.Validate(); err != nil {
				t.Fatalf("base signature invalid: %v", err)
			}
			c.f(&s)
			err := s.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
}

func TestNearEmptyDrawingRefused(t *testing.T) {
	cases := map[string][]Stroke{
		"single dot":    {{{X: 50, Y: 10}}},
		"short tick":    {{{X: 50, Y: 10}, {X: 53, Y: 10, T: 30}}},
		"narrow column": {{{X: 50, Y: 0}, {X: 52, Y: 31, T: 100}}},
		"a few dots":    {{{X: 10, Y: 10}}, {{X: 30, Y: 10, T: 10}}, {{X: 60, Y: 10, T: 20}}},
	}
	for name, strokes := range cases {
		t.Run(name, func(t *testing.T) {
			s := drawnSig()
			s.Strokes = strokes
			err := s.Validate()
			if !errors.Is(err, ErrTooSmall) {
				t.Fatalf("Validate = %v, want ErrTooSmall", err)
			}
			if !strings.Contains(err.Error(), "draw your signature across the pad") {
				t.Fatalf("message %q does not tell the approver what to do", err)
			}
		})
	}
}

func TestInkCountsDistinctDots(t *testing.T) {
	s := drawnSig()
	s.Strokes = []Stroke{{{X: 0, Y: 0}, {X: 9, Y: 0, T: 1}}, {{X: 0, Y: 0, T: 2}, {X: 9, Y: 0, T: 3}}, {{X: 0, Y: 5, T: 4}}}
	if got := s.Ink(); got != 11 {
		t.Fatalf("Ink = %d, want 11 (10 dots of a line drawn twice, plus one)", got)
	}
}

func TestMatchesName(t *testing.T) {
	cases := []struct {
		typed, name string
		want        bool
	}{
		{"  alice   EXAMPLE ", "Alice Example", true},
		{"Alice Example", "Alice Example", true},
		{"alice\texample", "Alice  Example", true},
		{"Alice", "Alice Example", false},
		{"Alice Examples", "Alice Example", false},
		{"AliceExample", "Alice Example", false},
		{"", "", false},
		{"   ", "Alice Example", false},
		{"josé müller", "José Müller", true},
	}
	for _, c := range cases {
		if got := MatchesName(c.typed, c.name); got != c.want {
			t.Errorf("MatchesName(%q, %q) = %v, want %v", c.typed, c.name, got, c.want)
		}
	}
}

func TestTypedSignatureNormalisesTimeAndIsValid(t *testing.T) {
	s := typedSig()
	if s.SignedAt.Location() != time.UTC || s.SignedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("SignedAt %v not UTC milliseconds", s.SignedAt)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPointJSONIsCompact(t *testing.T) {
	b, err := json.Marshal(Stroke{{X: 1, Y: 2, T: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[[1,2,3]]" {
		t.Fatalf("got %s", b)
	}
	var p Point
	if err := json.Unmarshal([]byte("[4,5,6]"), &p); err != nil || p != (Point{4, 5, 6}) {
		t.Fatalf("got %v, %v", p, err)
	}
}
