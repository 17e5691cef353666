package tokens

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewSecretStringIsPrintableFreshAndLongEnough(t *testing.T) {
	a, err1 := NewSecretString()
	b, err2 := NewSecretString()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if a == b {
		t.Fatal("two secrets are equal")
	}
	for _, s := range []string{a, b} {
		rest, ok := strings.CutPrefix(s, "jds_")
		if !ok || len(s) < MinSecretLen || len(s) != 47 {
			t.Fatalf("secret %d chars, prefix %v", len(s), ok)
		}
		raw, err := b64.Strict().DecodeString(rest)
		if err != nil || len(raw) != 32 {
			t.Fatalf("after the prefix: %d bytes, %v (want unpadded base64url of 32 bytes)", len(raw), err)
		}
	}
}

func TestIntakeTokenSignedWithThePrintedSecretStringVerifies(t *testing.T) {
	// What an application does in Node: jwt.sign(payload, secret) with the
	// string as printed, i.e. HMAC keyed by its UTF-8 bytes. The craft path
	// signs with a plain HMAC, independent of SignIntake.
	printed, err := NewSecretString()
	if err != nil {
		t.Fatal(err)
	}
	opts := intakeOpts(map[string][]byte{"app_1": []byte(printed)})
	nodeStyle := craft(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claimsMap(t, intakeClaims()), hmacSigner([]byte(printed)))
	if _, err := VerifyIntake(nodeStyle, opts); err != nil {
		t.Fatalf("token signed with the printed string: %v", err)
	}
	ours, err := SignIntake([]byte(printed), intakeClaims())
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(ours, '.')
	if want := b64.EncodeToString(hmacSigner([]byte(printed))(ours[:i])); ours[i+1:] != want {
		t.Fatal("SignIntake with the printed string's bytes is not an HMAC keyed by that string")
	}
}

func TestIntakeSignatureFailureSaysWhatToCheck(t *testing.T) {
	printed, _ := NewSecretString()
	opts := intakeOpts(map[string][]byte{"app_1": []byte(printed)})
	// The commonest mistake: keying the HMAC with a decoding of the string.
	decoded, err := b64.DecodeString(strings.TrimPrefix(printed, "jds_"))
	if err != nil {
		t.Fatal(err)
	}
	tok := craft(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claimsMap(t, intakeClaims()), hmacSigner(decoded))
	_, err = VerifyIntake(tok, opts)
	want := "invalid token: signature does not verify: sign with the application's secret exactly as printed " +
		"(the whole string, not a decoding of it), with iss = the application id and aud = " + testIssuer + "; check the clock too"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("%v does not wrap ErrInvalidToken and jwt.ErrTokenSignatureInvalid", err)
	}
	if errors.Is(err, ErrExpired) {
		t.Fatal("a bad signature is not an expiry")
	}
	for _, secretish := range []string{printed, strings.TrimPrefix(printed, "jds_")[:12]} {
		if strings.Contains(err.Error(), secretish) {
			t.Fatal("error reveals the secret")
		}
	}
}

func TestNewSecretStillGivesRawBytes(t *testing.T) {
	s, err := NewSecret()
	if err != nil || len(s) != MinSecretLen {
		t.Fatalf("%d bytes, %v", len(s), err)
	}
	tok, err := SignIntake(s, intakeClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyIntake(tok, intakeOpts(map[string][]byte{"app_1": s})); err != nil {
		t.Fatal(err)
	}
}
