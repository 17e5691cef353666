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

// MaxTokenSize bounds the tokens we will even look at: real ones are well
// under 2 KiB, and a limit keeps decoding cost bounded for hostile input.
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

// precheck refuses oversize and malformed tokens before any decoding. Only
// the base64url alphabet and dots are allowed, because Go's base64 decoder
// silently skips CR and LF even in strict mode.
func precheck(token string) error {
	if token == "" {
		return invalidf("empty token")
	}
	if len(token) > MaxTokenSize {
		return invalidf("token is %d bytes, over the %d-byte limit", len(token), MaxTokenSize)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return invalidf("character at offset %d is not base64url", i)
		}
	}
	if dots != 2 {
		return invalidf("want 3 dot-separated parts, got %d", dots+1)
	}
	h, rest, _ := strings.Cut(token, ".")
	p, sig, _ := strings.Cut(rest, ".")
	switch {
	case h == "":
		return invalidf("empty header")
	case p == "":
		return invalidf("empty payload")
	case sig == "":
		return invalidf("empty signature")
	}
	return nil
}

// decodeHeader strictly decodes the JOSE header so it can be vetted before
// the JWT library looks up a key or verifies anything.
func decodeHeader(token string) (map[string]any, error) {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := b64.Strict().DecodeString(seg)
	if err != nil {
		return nil, invalidf("header is not canonical base64url: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, invalidf("header is not a JSON object: %v", err)
	}
	if h == nil {
		return nil, invalidf("header is not a JSON object")
	}
	return h, nil
}

// checkCommonHeader applies the rules shared by both token kinds and
// returns the alg.
func checkCommonHeader(h map[string]any) (string, error) {
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			if name == "crit" {
				return "", invalidf("header \"crit\" is not accepted: no critical extensions are supported")
			}
			return "", invalidf("header %q is not accepted: keys come only from jitdesk's own key set", name)
		}
	}
	alg, ok := h["alg"].(string)
	if !ok || alg == "" {
		return "", invalidf("header alg is missing or not a string")
	}
	if strings.EqualFold(alg, "none") {
		return "", invalidf("alg %q is refused: tokens must be signed", short(alg))
	}
	return alg, nil
}

// headerTyp returns typ, refusing a non-string one.
func headerTyp(h map[string]any) (typ string, present bool, err error) {
	v, ok := h["typ"]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", true, invalidf("header typ is not a string")
	}
	return s, true, nil
}

// isAccessTyp reports whether typ marks an RFC 9068 access token; media
// types are case-insensitive and may carry the "application/" prefix.
func isAccessTyp(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
