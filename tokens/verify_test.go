package tokens

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestUnknownKidWrapsErrUnknownKeyAndErrInvalidToken(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, err := IssueAccess(k, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	other := mustKey(t, EdDSA)
	_, err = VerifyAccess(tok, verifyOpts(other))
	wantInvalid(t, tok, err, "unknown kid")
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("%v does not wrap ErrUnknownKey", err)
	}
	if got, want := err.Error(), `invalid token: unknown kid "`+k.Kid+`"`; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

func TestExpiredAccessTokenWrapsErrExpired(t *testing.T) {
	k := mustKey(t, EdDSA)
	for name, exp := range map[string]time.Time{
		"exp an hour ago": t0.Add(-time.Hour),
		"exp 0":           time.Unix(0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			c := accessClaims()
			c.IssuedAt, c.NotBefore = jwt.NewNumericDate(exp.Add(-time.Hour)), nil
			c.ExpiresAt = jwt.NewNumericDate(exp)
			tok, err := IssueAccess(k, c)
			if err != nil {
				t.Fatal(err)
			}
			_, err = VerifyAccess(tok, verifyOpts(k))
			wantInvalid(t, tok, err, "token is expired")
			if !errors.Is(err, ErrExpired) || !errors.Is(err, jwt.ErrTokenExpired) {
				t.Fatalf("%v does not wrap ErrExpired and the library's cause", err)
			}
			if strings.Count(err.Error(), "invalid token") != 1 {
				t.Fatalf("message repeats itself: %q", err)
			}
		})
	}
}

func TestForgedExpiredTokenIsNotReportedAsExpired(t *testing.T) {
	// ErrExpired must only ever describe a genuine token: a forgery whose
	// claims are also stale is a bad signature, nothing more.
	k := mustKey(t, EdDSA)
	c := accessClaims()
	c.IssuedAt, c.NotBefore = jwt.NewNumericDate(t0.Add(-2*time.Hour)), nil
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour))
	tok, err := IssueAccess(k, c)
	if err != nil {
		t.Fatal(err)
	}
	forged := tok[:len(tok)-4] + "AAAA"
	_, err = VerifyAccess(forged, verifyOpts(k))
	wantInvalid(t, forged, err, "signature is invalid")
	if errors.Is(err, ErrExpired) {
		t.Fatalf("forged token reported as expired: %v", err)
	}
}

func TestExpiredIntakeTokenWrapsErrExpired(t *testing.T) {
	secret, _ := NewSecret()
	c := intakeClaims()
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(t0.Add(-4*time.Minute)), jwt.NewNumericDate(t0.Add(-time.Minute))
	tok, err := SignIntake(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyIntake(tok, intakeOpts(map[string][]byte{"app_1": secret}))
	wantInvalid(t, tok, err, "token is expired")
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("%v does not wrap ErrExpired", err)
	}
}

func TestIntakeSecretLookupErrorIsWrappedForTheCaller(t *testing.T) {
	secret, _ := NewSecret()
	tok, err := SignIntake(secret, intakeClaims())
	if err != nil {
		t.Fatal(err)
	}
	errNoApp := errors.New("no such application")
	o := intakeOpts(nil)
	var asked string
	o.Secret = func(app string) ([]byte, error) { asked = app; return nil, errNoApp }
	_, err = VerifyIntake(tok, o)
	wantInvalid(t, tok, err, `iss "app_1": no such application`)
	if !errors.Is(err, errNoApp) || asked != "app_1" {
		t.Fatalf("err %v, asked %q", err, asked)
	}
}

func TestLeewayOverMaxLeewayIsRefusedAsMisconfiguration(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, _ := IssueAccess(k, accessClaims())
	o := verifyOpts(k)
	o.Leeway = MaxLeeway + time.Second
	if _, err := VerifyAccess(tok, o); err == nil || !strings.Contains(err.Error(), "Leeway") {
		t.Fatalf("access: %v", err)
	}
	o.Leeway = MaxLeeway
	if _, err := VerifyAccess(tok, o); err != nil {
		t.Fatalf("access at MaxLeeway: %v", err)
	}
	secret, _ := NewSecret()
	itok, _ := SignIntake(secret, intakeClaims())
	io := intakeOpts(map[string][]byte{"app_1": secret})
	io.Leeway = MaxLeeway + time.Second
	if _, err := VerifyIntake(itok, io); err == nil || !strings.Contains(err.Error(), "Leeway") {
		t.Fatalf("intake: %v", err)
	}
}

func TestIntakeTypIsMatchedCaseInsensitively(t *testing.T) {
	secret, _ := NewSecret()
	opts := intakeOpts(map[string][]byte{"app_1": secret})
	for _, typ := range []string{"JWT", "jwt", "application/JWT", "Application/jwt"} {
		t.Run(typ, func(t *testing.T) {
			tok := craft(t, map[string]any{"alg": "HS256", "typ": typ}, claimsMap(t, intakeClaims()), hmacSigner(secret))
			if _, err := VerifyIntake(tok, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("other typ refused", func(t *testing.T) {
		tok := craft(t, map[string]any{"alg": "HS256", "typ": "dpop+jwt"}, claimsMap(t, intakeClaims()), hmacSigner(secret))
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, `typ "dpop+jwt" is not accepted`)
	})
}

func TestVerifyErrorsNeverContainTheToken(t *testing.T) {
	// Sweep every single-character corruption of a real token: whatever the
	// reason given, the message must not carry the credential or its signature.
	k := mustKey(t, EdDSA)
	tok, _ := IssueAccess(k, accessClaims())
	opts := verifyOpts(k)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	for i := 0; i < len(tok); i += 7 {
		if tok[i] == '.' {
			continue
		}
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad := tok[:i] + string(c) + tok[i+1:]
		_, err := VerifyAccess(bad, opts)
		if err == nil {
			t.Fatalf("corruption at %d accepted", i)
		}
		if strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), sig[:40]) {
			t.Fatalf("error at %d echoes the token: %q", i, err)
		}
	}
}

func TestMalformedShapesAreRejectedWithoutAllocationBlowUp(t *testing.T) {
	// The shape check is one pass over the bytes; the only allocations are
	// the error's own, however many dots the input holds.
	k := mustKey(t, EdDSA)
	opts := verifyOpts(k)
	for name, tok := range map[string]string{
		"100,000 dots":           strings.Repeat(".", 100_000),
		"8 KiB of dots":          strings.Repeat(".", MaxTokenSize),
		"100,000 dots then JWS":  strings.Repeat(".", 100_000) + "e30.e30.AAAA",
		"4,000 three-char parts": strings.Repeat("e30.", 2000),
	} {
		t.Run(name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := VerifyAccess(tok, opts); err == nil {
					t.Fatal("accepted")
				}
			})
			if allocs > 8 {
				t.Fatalf("%v allocations to reject", allocs)
			}
		})
	}
}

// checkExactHeader asserts that a header recognised without a JSON decode
// is exactly what a JSON decode would have found: the same members and
// values, and nothing else.
func checkExactHeader(t *testing.T, raw string) {
	t.Helper()
	h, ok := exactHeader(raw)
	if !ok {
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("recognised %q, which is not JSON: %v", raw, err)
	}
	if got := h.asMap(); !reflect.DeepEqual(got, m) {
		t.Fatalf("recognised %q as %v, JSON says %v", raw, got, m)
	}
	if !h.algOK || !h.hasTyp || h.typErr || h.forbidden != "" {
		t.Fatalf("recognised %q with flags %+v", raw, h)
	}
}

var exactHeaderCases = []string{
	`{"alg":"EdDSA","kid":"abc","typ":"at+jwt"}`, `{"alg":"HS256","typ":"JWT"}`,
	`{"alg":"EdDSA","kid":"a\"b","typ":"at+jwt"}`, `{"alg":"EdDSA","kid":"","typ":"at+jwt"}`,
	`{"alg":"EdDSA","kid":"a","jwk":{},"x":"","typ":"at+jwt"}`, `{"alg":"EdDSA","kid":"a","kid":"b","typ":"at+jwt"}`,
	`{"alg":"EdDSA","kid":"a","typ":"at+jwt"} `, `{"alg":"none","kid":"a","typ":"at+jwt"}`,
	`{"alg":"EdDSA","kid":"a\u0041","typ":"at+jwt"}`, `{"alg":"","kid":"a","typ":"at+jwt"}`,
}

func TestExactHeaderRecognitionMatchesJSONDecoding(t *testing.T) {
	recognised := 0
	for _, raw := range exactHeaderCases {
		checkExactHeader(t, raw)
		if _, ok := exactHeader(raw); ok {
			recognised++
		}
	}
	if recognised != 3 { // the first two, and alg none (refused later by checkAlg)
		t.Fatalf("recognised %d of the cases, want 3", recognised)
	}
}

// FuzzExactHeader: a header recognised without decoding is always what
// decoding it would give.
func FuzzExactHeader(f *testing.F) {
	for _, raw := range exactHeaderCases {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkExactHeader(t, raw) })
}
