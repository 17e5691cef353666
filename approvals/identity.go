package approvals

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/runenames"
)

// The identity profile: requester subjects and approver logins are
// RFC 8265 PRECIS usernames (UsernameCasePreserved: stored as sent, after
// width mapping and NFC), compared case-insensitively, and a subject that
// looks like an approver's login (UTS #39 confusable skeleton: Cyrillic
// "аlice" is "alice") is that approver. Control and format characters,
// which could hide a difference from the approver's eyes, are refused.

// CanonicalSubject checks s against the identity profile and returns it in
// its stored form, or ErrInvalid naming the first character refused.
func CanonicalSubject(field, s string) (string, error) {
	if s == "" {
		return "", invalidf("%s is required", field)
	}
	for i, r := range s {
		if bad, what := refusedRune(r); bad {
			return "", fmt.Errorf("%w: %w: %s contains %s at byte %d, %s; send the user's plain identifier", ErrInvalid, ErrBadIdentity, field, runeName(r), i, what)
		}
	}
	out, err := precis.UsernameCasePreserved.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w: %s %q is not a valid identifier (RFC 8265 username: letters, digits and printable symbols, no spaces): %v", ErrInvalid, ErrBadIdentity, field, s, err)
	}
	if len(out) > MaxRequesterLen {
		return "", invalidf("%s is %d bytes; at most %d", field, len(out), MaxRequesterLen)
	}
	return out, nil
}

// refusedRune reports control, format (bidi, zero-width) and other
// invisible characters.
func refusedRune(r rune) (bool, string) {
	switch {
	case r == 0xfffd:
		return true, "invalid UTF-8 or a replacement character"
	case unicode.Is(unicode.Cc, r):
		return true, "a control character"
	case unicode.Is(unicode.Cf, r):
		return true, "a format character (bidi or zero-width)"
	case unicode.Is(unicode.Zs, r) && r != ' ', unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return true, "a separator"
	case unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r), unicode.Is(unicode.Cn, r):
		return true, "an unassigned or private-use character"
	}
	return false, ""
}

// runeName is "U+200B (ZERO WIDTH SPACE)".
func runeName(r rune) string {
	if n := runenames.Name(r); n != "" {
		return fmt.Sprintf("U+%04X (%s)", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}

// IdentityOf is the comparison form of a subject, login or email: case
// folded, normalised, and reduced to its confusable skeleton, so two
// strings a person cannot tell apart have the same identity.
func IdentityOf(s string) string {
	if s == "" {
		return ""
	}
	folded, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		folded = strings.ToLower(s)
	}
	return strings.ToLower(confusables.Skeleton(folded))
}

// checkOperatorText refuses Unicode format and control characters in
// operator-entered names and titles, which would hide text on a screen.
func checkOperatorText(field, s string) error {
	for i, r := range s {
		if bad, what := refusedRune(r); bad {
			return invalidf("%s contains %s at byte %d, %s; type plain text", field, runeName(r), i, what)
		}
	}
	return nil
}
