package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Errors returned by verification. Every verification failure wraps
// ErrInvalidToken, with the precise reason in the message (never the token
// itself, which is a credential). A revoked token's error wraps both
// ErrInvalidToken and ErrRevoked, so callers that only ask "is it valid?"
// still refuse it.
var (
	ErrInvalidToken = errors.New("invalid token")
	ErrRevoked      = errors.New("token revoked")
)

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
