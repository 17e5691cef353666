package signature

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says how a signature was made.
type Kind string

const (
	// Drawn is a signature drawn on the pad with the mouse or keyboard.
	Drawn Kind = "drawn"
	// Typed is a signature typed as text and drawn with a stroke font.
	Typed Kind = "typed"
)

// Limits and thresholds enforced by Validate.
const (
	MinWidth, MaxWidth   = 2, 4096 // canvas width in dots
	MinHeight, MaxHeight = 4, 4096 // canvas height in dots
	MaxPoints            = 20000   // points over all strokes of a drawn signature
	MaxStrokes           = 500     // strokes of a drawn signature
	MaxTextRunes         = 200     // runes of a typed signature's text
	MinInk               = 12      // distinct dots a drawn signature must set
	MinInkWidth          = 6       // dots its bounding box must span horizontally
)

// Default canvas for signatures made without a pad (a 60×8-cell pad).
const (
	DefaultWidth  = 120
	DefaultHeight = 32
)

// Sentinel errors. Errors returned by this package wrap one of them with a
// message meant for the approver.
var (
	// ErrEmpty: there is nothing to sign with (no strokes, no text).
	ErrEmpty = errors.New("signature is empty")
	// ErrTooSmall: a drawn signature has too little ink to be a signature.
	ErrTooSmall = errors.New("signature is too small")
	// ErrInvalid: the signature is malformed (missing fields, out of range).
	ErrInvalid = errors.New("invalid signature")
	// ErrNameMismatch: a typed signature is not the approver's name. The
	// caller checks this with MatchesName; the sentinel lives here.
	ErrNameMismatch = errors.New("typed name does not match the approver's name")
)

// Point is one sample of the pen. X and Y are canvas dot coordinates (0,0
// top left); T is milliseconds since the first point of the signature.
type Point struct {
	X, Y int
	T    int64
}

// MarshalJSON encodes a point compactly as [x,y,t].
func (p Point) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%d,%d]", p.X, p.Y, p.T), nil
}

// UnmarshalJSON decodes [x,y,t], refusing any other shape.
func (p *Point) UnmarshalJSON(b []byte) error {
	var v []json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || len(v) != 3 {
		return fmt.Errorf("%w: a point is [x,y,t], got %s", ErrInvalid, truncate(string(b), 40))
	}
	var n [3]int64
	for i, s := range v {
		x, err := s.Int64()
		if err != nil {
			return fmt.Errorf("%w: point coordinate %s is not an integer", ErrInvalid, s)
		}
		n[i] = x
	}
	if n[0] < -1<<31 || n[0] > 1<<31-1 || n[1] < -1<<31 || n[1] > 1<<31-1 {
		return fmt.Errorf("%w: point %s out of range", ErrInvalid, truncate(string(b), 40))
	}
	*p = Point{X: int(n[0]), Y: int(n[1]), T: n[2]}
	return nil
}

// Stroke is the path of the pen between pressing and lifting it.
type Stroke []Point

// Signature is one approver's signature bound to one request. Its JSON form
// (field names below) is what Decode reads; Canonical is its digest input.
type Signature struct {
	Approver      string    `json:"approver"`          // approver's login
	PrintedName   string    `json:"printed_name"`      // approver's display name
	Kind          Kind      `json:"kind"`              // drawn or typed
	Width         int       `json:"width"`             // canvas width in dots
	Height        int       `json:"height"`            // canvas height in dots
	Strokes       []Stroke  `json:"strokes,omitempty"` // drawn only
	Text          string    `json:"text,omitempty"`    // typed only
	Font          string    `json:"font,omitempty"`    // typed only, e.g. "hershey-script"
	Meaning       string    `json:"meaning"`           // the statement signed
	SignedAt      time.Time `json:"signed_at"`         // UTC, truncated to milliseconds
	RequestDigest string    `json:"request_digest"`    // hex SHA-256 of the canonical request shown
}

// TypedSignature builds a typed signature of text in DefaultFont on a
// DefaultWidth×DefaultHeight canvas, signed at at (made UTC and truncated to
// milliseconds). It does not validate; call Validate.
func TypedSignature(approver, printedName, text, meaning string, at time.Time, requestDigest string) Signature {
	return Signature{
		Approver:      approver,
		PrintedName:   printedName,
		Kind:          Typed,
		Width:         DefaultWidth,
		Height:        DefaultHeight,
		Text:          text,
		Font:          DefaultFont,
		Meaning:       meaning,
		SignedAt:      NormalizeTime(at),
		RequestDigest: requestDigest,
	}
}

// NormalizeTime returns t in UTC truncated to milliseconds, the precision a
// signature keeps.
func NormalizeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

// timeLayout is RFC 3339 with exactly three fractional digits.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// canonical is the digest input: fixed field order, every field present.
type canonical struct {
	Approver      string   `json:"approver"`
	PrintedName   string   `json:"printed_name"`
	Kind          Kind     `json:"kind"`
	Width         int      `json:"width"`
	Height        int      `json:"height"`
	Strokes       []Stroke `json:"strokes"`
	Text          string   `json:"text"`
	Font          string   `json:"font"`
	Meaning       string   `json:"meaning"`
	SignedAt      string   `json:"signed_at"`
	RequestDigest string   `json:"request_digest"`
}

// Canonical returns the signature's canonical bytes: JSON with the fields in
// declaration order, all present (strokes [] when none), points as [x,y,t],
// signed_at in UTC with exactly millisecond precision, no insignificant
// whitespace, and HTML characters not escaped. The same signature always
// gives the same bytes. An invalid signature is refused (see Validate).
// Decode accepts these bytes.
func (s Signature) Canonical() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c := canonical{
		Approver:      s.Approver,
		PrintedName:   s.PrintedName,
		Kind:          s.Kind,
		Width:         s.Width,
		Height:        s.Height,
		Strokes:       s.Strokes,
		Text:          s.Text,
		Font:          s.Font,
		Meaning:       s.Meaning,
		SignedAt:      NormalizeTime(s.SignedAt).Format(timeLayout),
		RequestDigest: s.RequestDigest,
	}
	if c.Strokes == nil {
		c.Strokes = []Stroke{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Digest returns the lowercase hex SHA-256 of Canonical.
func (s Signature) Digest() (string, error) {
	b, err := s.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// fieldNames are the JSON keys Decode accepts, spelled exactly.
var fieldNames = map[string]bool{
	"approver": true, "printed_name": true, "kind": true, "width": true, "height": true,
	"strokes": true, "text": true, "font": true, "meaning": true, "signed_at": true,
	"request_digest": true,
}

// MaxEncodedSize bounds the input Decode reads.
const MaxEncodedSize = 4 << 20

// Decode reads a signature from its JSON form (as written by Canonical or
// encoding/json) strictly: one object, keys spelled exactly and not repeated,
// unknown keys refused, nothing after it; then it validates the result.
// SignedAt is returned in UTC truncated to milliseconds.
func Decode(b []byte) (Signature, error) {
	if len(b) > MaxEncodedSize {
		return Signature{}, fmt.Errorf("%w: encoded signature is larger than %d bytes", ErrInvalid, MaxEncodedSize)
	}
	if err := checkKeys(b); err != nil {
		return Signature{}, err
	}
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, ErrInvalid) {
			return Signature{}, err
		}
		return Signature{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Signature{}, fmt.Errorf("%w: data after the signature object", ErrInvalid)
	}
	s.SignedAt = NormalizeTime(s.SignedAt)
	if err := s.Validate(); err != nil {
		return Signature{}, err
	}
	return s, nil
}

// checkKeys refuses a top level that is not an object, or has keys that are
// unknown, differently cased (encoding/json would fold them) or repeated.
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: a signature is a JSON object", ErrInvalid)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		k, _ := tok.(string)
		if !fieldNames[k] {
			return fmt.Errorf("%w: unknown field %q", ErrInvalid, truncate(k, 40))
		}
		if seen[k] {
			return fmt.Errorf("%w: field %q appears twice", ErrInvalid, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

// Validate checks the signature's structure: required fields, canvas size,
// strokes inside the canvas with non-decreasing time, limits, a known font
// for typed text, and enough ink for a drawn signature. Errors wrap
// ErrInvalid, ErrEmpty or ErrTooSmall.
func (s Signature) Validate() error {
	switch {
	case strings.TrimSpace(s.Approver) == "":
		return fmt.Errorf("%w: approver is required", ErrInvalid)
	case strings.TrimSpace(s.PrintedName) == "":
		return fmt.Errorf("%w: printed name is required", ErrInvalid)
	case strings.TrimSpace(s.Meaning) == "":
		return fmt.Errorf("%w: meaning (the statement signed) is required", ErrInvalid)
	case !isDigest(s.RequestDigest):
		return fmt.Errorf("%w: request digest must be 64 lowercase hex digits", ErrInvalid)
	case s.SignedAt.IsZero():
		return fmt.Errorf("%w: signed-at time is required", ErrInvalid)
	case s.SignedAt.UTC().Year() < 1 || s.SignedAt.UTC().Year() > 9999:
		return fmt.Errorf("%w: signed-at year %d out of range", ErrInvalid, s.SignedAt.UTC().Year())
	case s.Width < MinWidth || s.Width > MaxWidth:
		return fmt.Errorf("%w: canvas width %d dots, want %d..%d", ErrInvalid, s.Width, MinWidth, MaxWidth)
	case s.Height < MinHeight || s.Height > MaxHeight:
		return fmt.Errorf("%w: canvas height %d dots, want %d..%d", ErrInvalid, s.Height, MinHeight, MaxHeight)
	}
	for _, f := range [...]struct{ name, v string }{{"approver", s.Approver}, {"printed name", s.PrintedName}, {"meaning", s.Meaning}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, f.name)
		}
	}
	switch s.Kind {
	case Drawn:
		return s.validateDrawn()
	case Typed:
		return s.validateTyped()
	default:
		return fmt.Errorf("%w: kind %q, want %q or %q", ErrInvalid, truncate(string(s.Kind), 20), Drawn, Typed)
	}
}

func (s Signature) validateDrawn() error {
	if s.Text != "" || s.Font != "" {
		return fmt.Errorf("%w: a drawn signature has no text or font", ErrInvalid)
	}
	if len(s.Strokes) == 0 {
		return fmt.Errorf("%w: draw your signature on the pad", ErrEmpty)
	}
	if len(s.Strokes) > MaxStrokes {
		return fmt.Errorf("%w: %d strokes, at most %d", ErrInvalid, len(s.Strokes), MaxStrokes)
	}
	points := 0
	last := int64(0)
	minX, maxX := s.Width, -1
	for i, st := range s.Strokes {
		if len(st) == 0 {
			return fmt.Errorf("%w: stroke %d has no points", ErrInvalid, i+1)
		}
		points += len(st)
		if points > MaxPoints {
			return fmt.Errorf("%w: more than %d points", ErrInvalid, MaxPoints)
		}
		for j, p := range st {
			if p.X < 0 || p.X >= s.Width || p.Y < 0 || p.Y >= s.Height {
				return fmt.Errorf("%w: stroke %d point %d (%d,%d) is outside the %d×%d canvas", ErrInvalid, i+1, j+1, p.X, p.Y, s.Width, s.Height)
			}
			if p.T < last {
				return fmt.Errorf("%w: stroke %d point %d goes back in time (%d ms after %d ms)", ErrInvalid, i+1, j+1, p.T, last)
			}
			last = p.T
			minX, maxX = min(minX, p.X), max(maxX, p.X)
		}
	}
	if maxX-minX+1 < MinInkWidth {
		return fmt.Errorf("%w: signature is only %d dots wide: draw your signature across the pad", ErrTooSmall, maxX-minX+1)
	}
	c := NewDotCanvas(s.Width, s.Height)
	if !c.drawUntil(s.Strokes, MinInk) {
		return fmt.Errorf("%w: signature has too little ink: draw your signature across the pad", ErrTooSmall)
	}
	return nil
}

func (s Signature) validateTyped() error {
	if len(s.Strokes) != 0 {
		return fmt.Errorf("%w: a typed signature has no strokes", ErrInvalid)
	}
	if strings.TrimSpace(s.Text) == "" {
		return fmt.Errorf("%w: type your name", ErrEmpty)
	}
	if !utf8.ValidString(s.Text) {
		return fmt.Errorf("%w: typed text is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(s.Text); n > MaxTextRunes {
		return fmt.Errorf("%w: typed text is %d characters, at most %d", ErrInvalid, n, MaxTextRunes)
	}
	for _, r := range s.Text {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: typed text contains the unprintable character %U", ErrInvalid, r)
		}
	}
	if lookupFont(s.Font) == nil {
		return fmt.Errorf("%w: unknown font %q, want one of %s", ErrInvalid, truncate(s.Font, 40), strings.Join(Fonts(), ", "))
	}
	return nil
}

// Ink returns the number of distinct dots set when Paths is rasterised on
// the signature's Width×Height canvas.
func (s Signature) Ink() int {
	if s.Width <= 0 || s.Height <= 0 || s.Width > MaxWidth || s.Height > MaxHeight {
		return 0
	}
	c := NewDotCanvas(s.Width, s.Height)
	c.DrawPaths(s.Paths())
	return c.DotCount()
}

// Paths returns the strokes to draw: a drawn signature's strokes (a copy),
// or a typed signature's text laid out in its font and scaled to fit the
// Width×Height canvas, with time offsets synthesised at 10 ms a point. It
// returns nil when there is nothing to draw (unknown font, empty text).
func (s Signature) Paths() []Stroke {
	switch s.Kind {
	case Drawn:
		out := make([]Stroke, len(s.Strokes))
		for i, st := range s.Strokes {
			out[i] = append(Stroke(nil), st...)
		}
		return out
	case Typed:
		f := lookupFont(s.Font)
		if f == nil {
			return nil
		}
		return f.layout(s.Text, s.Width, s.Height)
	}
	return nil
}

// MatchesName reports whether typed is the display name, ignoring case,
// leading and trailing whitespace and the length of inner whitespace runs.
// An empty name matches nothing. Unicode normalisation is not applied.
func MatchesName(typed, displayName string) bool {
	t, d := normalizeName(typed), normalizeName(displayName)
	return t != "" && strings.EqualFold(t, d)
}

func normalizeName(s string) string { return strings.Join(strings.Fields(s), " ") }

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
