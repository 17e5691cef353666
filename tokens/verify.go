package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by verification. Every verification failure wraps
// ErrInvalidToken, with the precise reason in the message (never the token
// itself, which is a credential). The narrower sentinels are wrapped as well
// as ErrInvalidToken, never instead of it, so callers that only ask "is it
// valid?" still refuse the token, and callers that want to say why (an
// introspection log, a client told to ask again) can.
var (
	// ErrInvalidToken is wrapped by every verification failure.
	ErrInvalidToken = errors.New("invalid token")
	// ErrRevoked: the token is genuine and current but its jti was revoked.
	ErrRevoked = errors.New("token revoked")
	// ErrUnknownKey: the header's kid names no key in the verification set
	// (a forgery, or a token signed by a key that has since been removed).
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrExpired: the signature checked out but exp has passed (beyond the
	// leeway). Other claim failures may be reported alongside it.
	ErrExpired = errors.New("token expired")
)

// MaxLeeway caps the clock-skew allowance: more than this is not skew but a
// broken clock, and would stretch intake tokens' five-minute window.
const MaxLeeway = 5 * time.Minute

// tokenError is a verification failure whose message is exactly
// "invalid token: <reason>" while errors.Is also finds the narrower
// sentinels and the underlying cause (for example a golang-jwt error).
type tokenError struct {
	msg  string
	errs []error
}

func (e *tokenError) Error() string   { return e.msg }
func (e *tokenError) Unwrap() []error { return e.errs }

// invalidAs is invalidf that also wraps the given sentinels and cause
// without repeating them in the message.
func invalidAs(sentinels []error, format string, args ...any) error {
	cause := fmt.Errorf(format, args...)
	errs := append([]error{ErrInvalidToken}, sentinels...)
	return &tokenError{msg: ErrInvalidToken.Error() + ": " + cause.Error(), errs: append(errs, cause)}
}

// libError wraps an error from golang-jwt's parse, adding ErrExpired when
// the library reports expiry (it does so only after the signature has
// verified, so ErrExpired never vouches for a forgery).
func libError(err error) error {
	var sentinels []error
	if errors.Is(err, jwt.ErrTokenExpired) {
		sentinels = append(sentinels, ErrExpired)
	}
	return invalidAs(sentinels, "%w", err)
}

// MaxTokenSize bounds the tokens we will even look at: jitdesk issues none
// over MaxAccessTokenBytes, and a limit keeps decoding cost bounded for
// hostile input.
const MaxTokenSize = 8 << 10

// forbiddenHeaders are JOSE header parameters that let a token name or carry
// its own verification key (RFC 8725 §3.10) or demand extensions we do not
// implement (crit, RFC 7515 §4.1.11). Keys only ever come from jitdesk's own
// set, so any of these is an attack or a misconfiguration.
var forbiddenHeaders = []string{"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// short keeps attacker-chosen header values from bloating error messages and logs.
func short(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// segments are the three parts of a compact JWS, and the signing input
// (header.payload) the signature covers.
type segments struct {
	header, payload, sig, signingInput string
}

// split refuses oversize and malformed tokens before any decoding and
// returns the parts. Only the base64url alphabet and dots are allowed,
// because Go's base64 decoder silently skips CR and LF even in strict mode.
func split(token string) (segments, error) {
	if token == "" {
		return segments{}, invalidf("empty token")
	}
	if len(token) > MaxTokenSize {
		return segments{}, invalidf("token is %d bytes, over the %d-byte limit", len(token), MaxTokenSize)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return segments{}, invalidf("character at offset %d is not base64url", i)
		}
	}
	if dots != 2 {
		return segments{}, invalidf("want 3 dot-separated parts, got %d", dots+1)
	}
	h, rest, _ := strings.Cut(token, ".")
	p, sig, _ := strings.Cut(rest, ".")
	switch {
	case h == "":
		return segments{}, invalidf("empty header")
	case p == "":
		return segments{}, invalidf("empty payload")
	case sig == "":
		return segments{}, invalidf("empty signature")
	}
	return segments{header: h, payload: p, sig: sig, signingInput: token[:len(h)+1+len(p)]}, nil
}

// joseHeader is what verification needs of a decoded JOSE header.
type joseHeader struct {
	alg, kid, typ string
	algOK         bool   // alg is present and a string
	hasTyp        bool   // typ is present
	typErr        bool   // typ is present but not a string
	forbidden     string // the first of forbiddenHeaders present, if any
	m             map[string]any
}

// The exact headers jitdesk writes. A header that is byte-for-byte one of
// these is recognised without a JSON decode: it has exactly the members
// alg, kid and typ, all plain strings, so the general path would find the
// same values. Anything else, however close, takes the general path.
const (
	accessHeaderPrefix = `{"alg":"`
	accessHeaderMiddle = `","kid":"`
	accessHeaderSuffix = `","typ":"at+jwt"}`
	intakeHeader       = `{"alg":"HS256","typ":"JWT"}`
)

// parseHeader strictly decodes the JOSE header once, so it can be vetted
// before any key is looked up or anything verified.
func parseHeader(seg string) (joseHeader, error) {
	raw, err := b64.Strict().DecodeString(seg)
	if err != nil {
		return joseHeader{}, invalidf("header is not canonical base64url: %v", err)
	}
	if h, ok := exactHeader(string(raw)); ok {
		return h, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return joseHeader{}, invalidf("header is not a JSON object: %v", err)
	}
	if m == nil {
		return joseHeader{}, invalidf("header is not a JSON object")
	}
	h := joseHeader{m: m}
	for _, name := range forbiddenHeaders {
		if _, ok := m[name]; ok {
			h.forbidden = name
			break
		}
	}
	h.alg, h.algOK = m["alg"].(string)
	h.kid, _ = m["kid"].(string)
	if v, ok := m["typ"]; ok {
		h.hasTyp = true
		h.typ, ok = v.(string)
		h.typErr = !ok
	}
	return h, nil
}

// exactHeader recognises the headers jitdesk itself writes.
func exactHeader(raw string) (joseHeader, bool) {
	if raw == intakeHeader {
		return joseHeader{alg: "HS256", algOK: true, typ: "JWT", hasTyp: true}, true
	}
	rest, ok := strings.CutPrefix(raw, accessHeaderPrefix)
	if !ok {
		return joseHeader{}, false
	}
	rest, ok = strings.CutSuffix(rest, accessHeaderSuffix)
	if !ok {
		return joseHeader{}, false
	}
	alg, kid, ok := strings.Cut(rest, accessHeaderMiddle)
	if !ok || !isB64URL(alg) || !isB64URL(kid) {
		return joseHeader{}, false
	}
	return joseHeader{alg: alg, algOK: true, kid: kid, typ: "at+jwt", hasTyp: true}, true
}

// asMap returns the header as golang-jwt would have decoded it, for Verified.
func (h joseHeader) asMap() map[string]any {
	if h.m != nil {
		return h.m
	}
	m := map[string]any{"alg": h.alg, "typ": h.typ}
	if h.kid != "" {
		m["kid"] = h.kid
	}
	return m
}

func forbiddenHeaderError(name string) error {
	if name == "crit" {
		return invalidf("header \"crit\" is not accepted: no critical extensions are supported")
	}
	return invalidf("header %q is not accepted: keys come only from jitdesk's own key set", name)
}

// checkAlg applies the alg rules shared by both token kinds.
func checkAlg(h joseHeader) error {
	if !h.algOK || h.alg == "" {
		return invalidf("header alg is missing or not a string")
	}
	if strings.EqualFold(h.alg, "none") {
		return invalidf("alg %q is refused: tokens must be signed", short(h.alg))
	}
	return nil
}

// isAccessTyp reports whether typ marks an RFC 9068 access token; media
// types are case-insensitive and may carry the "application/" prefix.
func isAccessTyp(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
