package tokens

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testIssuer = "https://jitdesk.test"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func mustKey(t testing.TB, alg Alg) Key {
	t.Helper()
	k, err := GenerateKey(alg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func accessClaims() AccessClaims {
	c := AccessClaims{
		ClientID: "app_1",
		Scope:    "prod-db",
		JIT: JITClaim{
			RequestID:     "req_1",
			ApprovalType:  "approve",
			Approvers:     []string{"alice"},
			Reason:        "incident 42",
			Metadata:      map[string]string{"ticket": "INC-42"},
			RequestDigest: "sha256:abc",
		},
	}
	c.Issuer = testIssuer
	c.Subject = "bob"
	c.Audience = jwt.ClaimStrings{"https://db.test"}
	c.IssuedAt = jwt.NewNumericDate(t0)
	c.NotBefore = jwt.NewNumericDate(t0)
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(15 * time.Minute))
	c.ID = "grant_1"
	return c
}

func verifyOpts(keys ...Key) VerifyOptions {
	m := map[string]PublicKey{}
	for _, k := range keys {
		m[k.Kid] = k.PublicKey()
	}
	return VerifyOptions{
		Issuer:   testIssuer,
		Audience: "https://db.test",
		Keys:     func(kid string) (PublicKey, bool) { p, ok := m[kid]; return p, ok },
		Now:      fixedNow,
		Leeway:   30 * time.Second,
	}
}

func TestIssuedAccessTokenVerifiesForEveryAlg(t *testing.T) {
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			tok, err := IssueAccess(k, accessClaims())
			if err != nil {
				t.Fatal(err)
			}
			v, err := VerifyAccess(tok, verifyOpts(k))
			if err != nil {
				t.Fatal(err)
			}
			if v.Kid != k.Kid || v.Alg != alg || v.Header["typ"] != "at+jwt" || v.Header["alg"] != string(alg) {
				t.Fatalf("verified %+v", v)
			}
			if v.Claims.JIT.RequestID != "req_1" || v.Claims.ClientID != "app_1" || v.Claims.JIT.Metadata["ticket"] != "INC-42" {
				t.Fatalf("claims %+v", v.Claims)
			}
		})
	}
}

func TestSignedIntakeTokenVerifies(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SignIntake(secret, intakeClaims())
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyIntake(tok, intakeOpts(map[string][]byte{"app_1": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "app_1" || c.Subject != "bob" || c.ID != "j1" {
		t.Fatalf("claims %+v", c)
	}
}

func intakeClaims() IntakeClaims {
	var c IntakeClaims
	c.Issuer, c.Subject, c.ID = "app_1", "bob", "j1"
	c.Audience = jwt.ClaimStrings{testIssuer}
	c.IssuedAt = jwt.NewNumericDate(t0)
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(2 * time.Minute))
	return c
}

func intakeOpts(secrets map[string][]byte) IntakeOptions {
	return IntakeOptions{
		Issuer: testIssuer,
		Secret: func(app string) ([]byte, error) {
			s, ok := secrets[app]
			if !ok {
				return nil, errors.New("unknown application")
			}
			return s, nil
		},
		Now:    fixedNow,
		Leeway: 30 * time.Second,
	}
}
