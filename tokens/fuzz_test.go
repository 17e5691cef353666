package tokens

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyAccess feeds arbitrary strings to access-token verification.
// Property: nothing panics, and nothing but a token the fuzz key really
// signed is ever accepted.
func FuzzVerifyAccess(f *testing.F) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	key, err := GenerateKey(EdDSA, now)
	if err != nil {
		f.Fatal(err)
	}
	var c AccessClaims
	c.Issuer, c.Subject, c.ID, c.ClientID, c.Scope = "iss", "alice", "jti1", "app", "k8s"
	c.Audience = []string{"aud"}
	c.IssuedAt, c.ExpiresAt = numericDate(now), numericDate(now.Add(time.Hour))
	good, err := IssueAccess(key, c)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", "..", "a.b.c", good + "x", "eyJhbGciOiJub25lIn0.e30.", good[:len(good)-3]} {
		f.Add(s)
	}
	opts := VerifyOptions{
		Issuer: "iss", Audience: "aud", Now: func() time.Time { return now },
		Keys: func(kid string) (PublicKey, bool) { return key.PublicKey(), kid == key.Kid },
	}
	pub := key.Private.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, token string) {
		v, err := VerifyAccess(token, opts)
		if err != nil {
			return
		}
		// Accepted: it must carry a valid signature by the fuzz key.
		if !verifiesWith(token, pub) || v.Kid != key.Kid {
			t.Fatalf("accepted a token the key did not sign: %q", token)
		}
	})
}

// FuzzVerifyIntake: arbitrary input never panics and is only accepted when
// it is a correctly signed HS256 intake token.
func FuzzVerifyIntake(f *testing.F) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	secret := make([]byte, 32)
	var c IntakeClaims
	c.Issuer, c.Subject, c.ID = "app", "alice", "j1"
	c.Audience = []string{"urn:jitdesk"}
	c.IssuedAt, c.ExpiresAt = numericDate(now), numericDate(now.Add(time.Minute))
	good, err := SignIntake(secret, c)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "a.b.c", good + "=", "eyJhbGciOiJIUzI1NiJ9.e30.x"} {
		f.Add(s)
	}
	opts := IntakeOptions{Issuer: "urn:jitdesk", Now: func() time.Time { return now }, Secret: func(string) ([]byte, error) { return secret, nil }}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := VerifyIntake(token, opts)
		if err != nil {
			return
		}
		if got.Subject == "" || got.ID == "" || got.Issuer == "" {
			t.Fatalf("accepted a token without sub/jti/iss: %q", token)
		}
	})
}

func numericDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// verifiesWith checks the EdDSA signature over the signing input directly,
// independently of the code under test.
func verifiesWith(token string, pub ed25519.PublicKey) bool {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	return err == nil && ed25519.Verify(pub, []byte(token[:i]), sig)
}
