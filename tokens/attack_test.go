package tokens

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// craft builds a compact JWS from arbitrary header and claims, signing the
// signing input with sign, so tests can express tokens no honest issuer makes.
func craft(t *testing.T, header map[string]any, claims any, sign func(input string) []byte) string {
	t.Helper()
	hj, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(hj) + "." + b64.EncodeToString(cj)
	return input + "." + b64.EncodeToString(sign(input))
}

// signingMethod maps an Alg to golang-jwt's method, so tests can sign
// through a path independent of IssueAccess.
func signingMethod(alg Alg) (jwt.SigningMethod, error) {
	switch alg {
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("unknown signing algorithm %q", string(alg))
}

// signer signs with k's own algorithm, so only the part under test is wrong.
func signer(t *testing.T, k Key) func(string) []byte {
	return func(input string) []byte {
		m, err := signingMethod(k.Alg)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := m.Sign(input, k.Private)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func hmacSigner(key []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

func accessHeader(k Key) map[string]any {
	return map[string]any{"alg": string(k.Alg), "typ": "at+jwt", "kid": k.Kid}
}

// claimsMap is accessClaims as a JSON object, ready to be mutated.
func claimsMap(t *testing.T, c any) map[string]any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantInvalid asserts a rejection that wraps ErrInvalidToken, names the
// reason and does not echo the token.
func wantInvalid(t *testing.T, token string, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("token accepted, want rejection containing %q", reason)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %q does not wrap ErrInvalidToken", err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Fatalf("error %q does not say %q", err, reason)
	}
	if len(token) > 20 && strings.Contains(err.Error(), token) {
		t.Fatalf("error echoes the token: %q", err)
	}
	if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) > 20 && strings.Contains(err.Error(), parts[2]) {
		t.Fatalf("error echoes the signature: %q", err)
	}
}

func unix(t time.Time) int64 { return t.Unix() }

func TestVerifyAccessRejectsAttackTokens(t *testing.T) {
	ed := mustKey(t, EdDSA)
	rs := mustKey(t, RS256)
	opts := verifyOpts(ed, rs)

	good := func() map[string]any { return claimsMap(t, accessClaims()) }
	edToken := func(h map[string]any, c map[string]any) string { return craft(t, h, c, signer(t, ed)) }

	// Sanity: the crafting path itself produces an acceptable token, so every
	// rejection below is due to the one thing each case changes.
	if _, err := VerifyAccess(edToken(accessHeader(ed), good()), opts); err != nil {
		t.Fatalf("baseline crafted token rejected: %v", err)
	}

	for _, alg := range []string{"none", "None", "NONE"} {
		t.Run("alg "+alg, func(t *testing.T) {
			h := accessHeader(ed)
			h["alg"] = alg
			tok := craft(t, h, good(), func(string) []byte { return []byte("not a signature") })
			_, err := VerifyAccess(tok, opts)
			wantInvalid(t, tok, err, "refused")
		})
	}

	t.Run("HS256 signed with the EdDSA public key bytes", func(t *testing.T) {
		h := accessHeader(ed)
		h["alg"] = "HS256"
		tok := craft(t, h, good(), hmacSigner(ed.PublicKey().Key.(ed25519.PublicKey)))
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, `alg "HS256" does not match key`)
	})
	t.Run("HS256 signed with the RS256 public key bytes", func(t *testing.T) {
		der, err := x509.MarshalPKIXPublicKey(rs.PublicKey().Key)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		for name, keyBytes := range map[string][]byte{"DER": der, "PEM": pemBytes} {
			t.Run(name, func(t *testing.T) {
				h := accessHeader(rs)
				h["alg"] = "HS256"
				tok := craft(t, h, good(), hmacSigner(keyBytes))
				_, err := VerifyAccess(tok, opts)
				wantInvalid(t, tok, err, `alg "HS256" does not match key`)
			})
		}
	})
	t.Run("alg of another supported family for the key", func(t *testing.T) {
		h := accessHeader(ed)
		h["alg"] = "RS256"
		tok := craft(t, h, good(), signer(t, rs))
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "does not match key")
	})
	t.Run("unknown kid", func(t *testing.T) {
		h := accessHeader(ed)
		h["kid"] = "abc"
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, `unknown kid "abc"`)
	})
	t.Run("missing kid", func(t *testing.T) {
		h := accessHeader(ed)
		delete(h, "kid")
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "kid is missing")
	})
	t.Run("non-string kid", func(t *testing.T) {
		h := accessHeader(ed)
		h["kid"] = 7
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "kid is missing or not a string")
	})

	pubJWK := NewJWKS([]PublicKey{ed.PublicKey()}).Keys[0]
	for name, val := range map[string]any{
		"jwk":      pubJWK,
		"jku":      "https://attacker.test/jwks.json",
		"x5u":      "https://attacker.test/cert.pem",
		"x5c":      []string{"MIIB"},
		"x5t":      "abc",
		"x5t#S256": "abc",
	} {
		t.Run("embedded "+name+" header", func(t *testing.T) {
			h := accessHeader(ed)
			h[name] = val
			tok := edToken(h, good())
			_, err := VerifyAccess(tok, opts)
			wantInvalid(t, tok, err, `header "`+name+`" is not accepted`)
		})
	}
	t.Run("crit header", func(t *testing.T) {
		h := accessHeader(ed)
		h["crit"] = []string{"exp"}
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, `"crit" is not accepted`)
	})

	claimCases := []struct {
		name   string
		mutate func(c map[string]any)
		reason string
	}{
		{"expired", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = unix(t0.Add(-2*time.Hour)), unix(t0.Add(-2*time.Hour)), unix(t0.Add(-time.Hour))
		}, "token is expired"},
		{"expired beyond leeway", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = unix(t0.Add(-time.Hour)), unix(t0.Add(-time.Hour)), unix(t0.Add(-31*time.Second))
		}, "token is expired"},
		{"exp 0", func(c map[string]any) { c["exp"] = 0 }, "token is expired"},
		{"missing exp", func(c map[string]any) { delete(c, "exp") }, "exp claim is required"},
		{"null exp", func(c map[string]any) { c["exp"] = nil }, "exp claim is required"},
		{"string exp", func(c map[string]any) { c["exp"] = "tomorrow" }, "could not JSON decode claim"},
		{"nbf in the future", func(c map[string]any) { c["nbf"] = unix(t0.Add(time.Hour)) }, "token is not valid yet"},
		{"iat in the future", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = unix(t0.Add(time.Hour)), unix(t0), unix(t0.Add(2*time.Hour))
		}, "token used before issued"},
		{"missing iat", func(c map[string]any) { delete(c, "iat") }, "iat claim is required"},
		{"wrong aud", func(c map[string]any) { c["aud"] = []string{"https://other.test"} }, "token has invalid audience"},
		{"aud that only prefixes the expected one", func(c map[string]any) { c["aud"] = "https://db.tes" }, "token has invalid audience"},
		{"missing aud", func(c map[string]any) { delete(c, "aud") }, "aud claim is required"},
		{"numeric aud", func(c map[string]any) { c["aud"] = 123 }, "could not JSON decode claim"},
		{"aud array with a number", func(c map[string]any) { c["aud"] = []any{"https://db.test", 1} }, "could not JSON decode claim"},
		{"wrong iss", func(c map[string]any) { c["iss"] = "https://evil.test" }, "token has invalid issuer"},
		{"missing iss", func(c map[string]any) { delete(c, "iss") }, "iss claim is required"},
		{"missing sub", func(c map[string]any) { delete(c, "sub") }, "sub claim is required"},
		{"missing jti", func(c map[string]any) { delete(c, "jti") }, "jti claim is required"},
		{"missing client_id", func(c map[string]any) { delete(c, "client_id") }, "client_id claim is required"},
	}
	for _, tc := range claimCases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			tok := edToken(accessHeader(ed), c)
			_, err := VerifyAccess(tok, opts)
			wantInvalid(t, tok, err, tc.reason)
		})
	}
	t.Run("missing aud with AnyAudience", func(t *testing.T) {
		c := good()
		delete(c, "aud")
		tok := edToken(accessHeader(ed), c)
		o := opts
		o.Audience, o.AnyAudience = "", true
		_, err := VerifyAccess(tok, o)
		wantInvalid(t, tok, err, "aud claim is required")
	})

	t.Run("typ JWT on an access-signed token", func(t *testing.T) {
		h := accessHeader(ed)
		h["typ"] = "JWT"
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, `typ "JWT" is not at+jwt`)
	})
	t.Run("missing typ", func(t *testing.T) {
		h := accessHeader(ed)
		delete(h, "typ")
		tok := edToken(h, good())
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "typ is missing")
	})
	t.Run("intake token presented as access token", func(t *testing.T) {
		secret, _ := NewSecret()
		tok, err := SignIntake(secret, intakeClaims())
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, `typ "JWT" is not at+jwt`)
	})

	t.Run("tampered payload", func(t *testing.T) {
		tok, err := IssueAccess(ed, accessClaims())
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		c := good()
		c["sub"] = "mallory"
		cj, _ := json.Marshal(c)
		forged := parts[0] + "." + b64.EncodeToString(cj) + "." + parts[2]
		_, err = VerifyAccess(forged, opts)
		wantInvalid(t, forged, err, "signature is invalid")
	})
	t.Run("non-canonical base64 signature", func(t *testing.T) {
		tok, err := IssueAccess(ed, accessClaims())
		if err != nil {
			t.Fatal(err)
		}
		// An Ed25519 signature is 64 bytes = 86 base64 characters, whose last
		// carries 4 unused bits. Setting them gives a different string that a
		// lenient decoder maps to the same signature bytes.
		i := strings.LastIndexByte(tok, '.')
		sig := tok[i+1:]
		last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
		alt := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|0x0f]
		if alt == sig[len(sig)-1] {
			alt = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|0x01]
		}
		forged := tok[:len(tok)-1] + string(alt)
		lenient, err1 := b64.DecodeString(forged[i+1:])
		orig, err2 := b64.DecodeString(sig)
		if err1 != nil || err2 != nil || string(lenient) != string(orig) {
			t.Fatalf("test setup: non-canonical form should decode leniently to the same bytes")
		}
		_, err = VerifyAccess(forged, opts)
		wantInvalid(t, forged, err, "illegal base64")
	})
	t.Run("non-canonical base64 header", func(t *testing.T) {
		// "e30" is {} ; "e31" has nonzero trailing bits and decodes leniently to the same.
		tok := "e31.e30.AAAA"
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "not canonical base64url")
	})
	t.Run("padded base64", func(t *testing.T) {
		tok, _ := IssueAccess(ed, accessClaims())
		forged := tok + "=="
		_, err := VerifyAccess(forged, opts)
		wantInvalid(t, forged, err, "not base64url")
	})
	t.Run("newline inside the token", func(t *testing.T) {
		tok, _ := IssueAccess(ed, accessClaims())
		forged := tok[:10] + "\n" + tok[10:]
		_, err := VerifyAccess(forged, opts)
		wantInvalid(t, forged, err, "not base64url")
	})
	t.Run("header of 100,000 dots", func(t *testing.T) {
		// Refused by length before a byte of it is scanned or decoded: the
		// reason proves which check fired, and the allocation count (of the
		// call alone, not this test's helpers) that nothing was decoded.
		tok := strings.Repeat(".", 100_000) + "e30.e30.AAAA"
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "over the 8192-byte limit")
		if allocs := testing.AllocsPerRun(10, func() { _, _ = VerifyAccess(tok, opts) }); allocs > 8 {
			t.Fatalf("%v allocations to reject an oversize token, want at most the error's own", allocs)
		}
	})
	t.Run("too many parts within the size limit", func(t *testing.T) {
		tok := strings.Repeat(".", 4000) + "e30"
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "want 3 dot-separated parts, got 4001")
	})
	t.Run("two parts", func(t *testing.T) {
		tok := "e30.e30"
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "want 3 dot-separated parts, got 2")
	})
	t.Run("oversize token", func(t *testing.T) {
		c := good()
		c["scope"] = strings.Repeat("x", MaxTokenSize)
		tok := edToken(accessHeader(ed), c)
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "over the 8192-byte limit")
	})
	t.Run("empty signature", func(t *testing.T) {
		tok, _ := IssueAccess(ed, accessClaims())
		forged := tok[:strings.LastIndexByte(tok, '.')+1]
		_, err := VerifyAccess(forged, opts)
		wantInvalid(t, forged, err, "empty signature")
	})
	t.Run("header is not an object", func(t *testing.T) {
		tok := b64.EncodeToString([]byte(`["alg"]`)) + ".e30.AAAA"
		_, err := VerifyAccess(tok, opts)
		wantInvalid(t, tok, err, "not a JSON object")
	})
}

func TestVerifyAccessReportsRevokedAfterFullVerification(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, err := IssueAccess(k, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("revoked jti", func(t *testing.T) {
		o := verifyOpts(k)
		var asked string
		o.IsRevoked = func(jti string) (bool, error) { asked = jti; return true, nil }
		_, err := VerifyAccess(tok, o)
		wantInvalid(t, tok, err, `token revoked: jti "grant_1"`)
		if !errors.Is(err, ErrRevoked) || asked != "grant_1" {
			t.Fatalf("err %v, asked %q", err, asked)
		}
	})
	t.Run("revocation check failing is invalid, not revoked", func(t *testing.T) {
		o := verifyOpts(k)
		o.IsRevoked = func(string) (bool, error) { return false, errors.New("no such grant") }
		_, err := VerifyAccess(tok, o)
		wantInvalid(t, tok, err, "revocation check")
		if errors.Is(err, ErrRevoked) {
			t.Fatal("a failing check must not claim revocation")
		}
	})
	t.Run("not consulted for a forged token", func(t *testing.T) {
		o := verifyOpts(k)
		o.IsRevoked = func(string) (bool, error) { t.Fatal("IsRevoked called before verification passed"); return false, nil }
		forged := tok[:len(tok)-4] + "AAAA"
		if _, err := VerifyAccess(forged, o); err == nil {
			t.Fatal("forged token accepted")
		}
	})
	t.Run("not revoked passes", func(t *testing.T) {
		o := verifyOpts(k)
		o.IsRevoked = func(string) (bool, error) { return false, nil }
		if _, err := VerifyAccess(tok, o); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyIntakeRejectsAttackTokens(t *testing.T) {
	secret, _ := NewSecret()
	other, _ := NewSecret()
	secrets := map[string][]byte{"app_1": secret, "app_2": other, "app_empty": {}, "app_short": make([]byte, MinSecretLen-1)}
	opts := intakeOpts(secrets)
	hdr := func() map[string]any { return map[string]any{"alg": "HS256", "typ": "JWT"} }
	good := func() map[string]any { return claimsMap(t, intakeClaims()) }
	sign := func(h, c map[string]any) string { return craft(t, h, c, hmacSigner(secret)) }

	if _, err := VerifyIntake(sign(hdr(), good()), opts); err != nil {
		t.Fatalf("baseline crafted token rejected: %v", err)
	}

	cases := []struct {
		name   string
		mutate func(c map[string]any)
		reason string
	}{
		{"exp too far ahead", func(c map[string]any) { c["exp"] = unix(t0.Add(time.Hour)) }, "over the 5m0s maximum"},
		{"lifetime over 5 minutes", func(c map[string]any) {
			c["iat"], c["exp"] = unix(t0.Add(-10*time.Minute)), unix(t0.Add(time.Minute))
		}, "lifetime exp - iat is 11m0s"},
		{"expired", func(c map[string]any) {
			c["iat"], c["exp"] = unix(t0.Add(-5*time.Minute)), unix(t0.Add(-time.Minute))
		}, "token is expired"},
		{"iat in the future", func(c map[string]any) {
			c["iat"], c["exp"] = unix(t0.Add(2*time.Minute)), unix(t0.Add(3*time.Minute))
		}, "token used before issued"},
		{"missing exp", func(c map[string]any) { delete(c, "exp") }, "exp claim is required"},
		{"missing iat", func(c map[string]any) { delete(c, "iat") }, "iat claim is required"},
		{"missing jti", func(c map[string]any) { delete(c, "jti") }, "jti claim is required"},
		{"jti over 128 bytes", func(c map[string]any) { c["jti"] = strings.Repeat("j", MaxJTILen+1) }, "jti claim is 129 bytes"},
		{"missing sub", func(c map[string]any) { delete(c, "sub") }, "sub claim is required"},
		{"missing iss", func(c map[string]any) { delete(c, "iss") }, "iss claim is required"},
		{"missing aud", func(c map[string]any) { delete(c, "aud") }, "aud claim is required"},
		{"wrong aud", func(c map[string]any) { c["aud"] = "https://other.test" }, "token has invalid audience"},
		{"numeric aud", func(c map[string]any) { c["aud"] = 1 }, "could not JSON decode claim"},
		{"nbf in the future", func(c map[string]any) { c["nbf"] = unix(t0.Add(time.Minute)) }, "token is not valid yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			tok := sign(hdr(), c)
			_, err := VerifyIntake(tok, opts)
			wantInvalid(t, tok, err, tc.reason)
		})
	}

	t.Run("another application's secret", func(t *testing.T) {
		tok := craft(t, hdr(), good(), hmacSigner(other)) // iss is app_1
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, "signature does not verify")
	})
	t.Run("unknown application", func(t *testing.T) {
		c := good()
		c["iss"] = "app_nope"
		tok := sign(hdr(), c)
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, `iss "app_nope": unknown application`)
	})
	t.Run("empty secret", func(t *testing.T) {
		c := good()
		c["iss"] = "app_empty"
		tok := craft(t, hdr(), c, hmacSigner(nil)) // a correct HMAC under the empty key
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, "unusable secret (0 bytes")
	})
	t.Run("short secret", func(t *testing.T) {
		c := good()
		c["iss"] = "app_short"
		tok := craft(t, hdr(), c, hmacSigner(secrets["app_short"]))
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, "unusable secret (31 bytes")
	})
	for _, alg := range []string{"none", "None", "NONE"} {
		t.Run("alg "+alg, func(t *testing.T) {
			h := hdr()
			h["alg"] = alg
			tok := craft(t, h, good(), func(string) []byte { return []byte("x") })
			_, err := VerifyIntake(tok, opts)
			wantInvalid(t, tok, err, "refused")
		})
	}
	t.Run("alg HS512", func(t *testing.T) {
		h := hdr()
		h["alg"] = "HS512"
		tok := sign(h, good())
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, `alg "HS512" is not accepted`)
	})
	t.Run("access token presented as intake token", func(t *testing.T) {
		k := mustKey(t, EdDSA)
		tok, err := IssueAccess(k, accessClaims())
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, `typ "at+jwt" is an access token`)
	})
	t.Run("HS256 token with typ at+jwt", func(t *testing.T) {
		h := hdr()
		h["typ"] = "application/AT+JWT"
		tok := sign(h, good())
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, "is an access token")
	})
	t.Run("embedded jwk header", func(t *testing.T) {
		h := hdr()
		h["jwk"] = map[string]any{"kty": "oct", "k": "AAAA"}
		tok := sign(h, good())
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, `header "jwk" is not accepted`)
	})
	t.Run("tampered payload", func(t *testing.T) {
		tok := sign(hdr(), good())
		parts := strings.Split(tok, ".")
		c := good()
		c["sub"] = "root"
		cj, _ := json.Marshal(c)
		forged := parts[0] + "." + b64.EncodeToString(cj) + "." + parts[2]
		_, err := VerifyIntake(forged, opts)
		wantInvalid(t, forged, err, "signature does not verify")
	})
	t.Run("header of 100,000 dots", func(t *testing.T) {
		tok := strings.Repeat(".", 100_000)
		_, err := VerifyIntake(tok, opts)
		wantInvalid(t, tok, err, "over the 8192-byte limit")
	})
}

func TestVerifyIntakeAcceptsATokenWithoutTyp(t *testing.T) {
	secret, _ := NewSecret()
	tok := craft(t, map[string]any{"alg": "HS256"}, claimsMap(t, intakeClaims()), hmacSigner(secret))
	if _, err := VerifyIntake(tok, intakeOpts(map[string][]byte{"app_1": secret})); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAccessHonoursLeewayOnExp(t *testing.T) {
	k := mustKey(t, EdDSA)
	c := accessClaims()
	c.IssuedAt = jwt.NewNumericDate(t0.Add(-time.Hour))
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(-20 * time.Second))
	tok, err := IssueAccess(k, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
		t.Fatalf("expired 20s ago with 30s leeway: %v", err)
	}
}

func TestVerifyAccessAcceptsApplicationAtJwtTyp(t *testing.T) {
	k := mustKey(t, EdDSA)
	h := accessHeader(k)
	h["typ"] = "application/AT+JWT"
	tok := craft(t, h, claimsMap(t, accessClaims()), signer(t, k))
	if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAccessAnyAudienceAcceptsAnyNonEmptyAud(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, _ := IssueAccess(k, accessClaims())
	o := verifyOpts(k)
	o.Audience, o.AnyAudience = "", true
	v, err := VerifyAccess(tok, o)
	if err != nil || v.Claims.Audience[0] != "https://db.test" {
		t.Fatalf("%v %+v", err, v.Claims.Audience)
	}
}

func TestVerifyOptionsMissingRequiredFieldsAreRefused(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, _ := IssueAccess(k, accessClaims())
	for name, mut := range map[string]func(*VerifyOptions){
		"no issuer":   func(o *VerifyOptions) { o.Issuer = "" },
		"no audience": func(o *VerifyOptions) { o.Audience = "" },
		"no keys":     func(o *VerifyOptions) { o.Keys = nil },
		"no clock":    func(o *VerifyOptions) { o.Now = nil },
		"neg leeway":  func(o *VerifyOptions) { o.Leeway = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			o := verifyOpts(k)
			mut(&o)
			if _, err := VerifyAccess(tok, o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	secret, _ := NewSecret()
	itok, _ := SignIntake(secret, intakeClaims())
	for name, mut := range map[string]func(*IntakeOptions){
		"no issuer": func(o *IntakeOptions) { o.Issuer = "" },
		"no secret": func(o *IntakeOptions) { o.Secret = nil },
		"no clock":  func(o *IntakeOptions) { o.Now = nil },
	} {
		t.Run("intake "+name, func(t *testing.T) {
			o := intakeOpts(map[string][]byte{"app_1": secret})
			mut(&o)
			if _, err := VerifyIntake(itok, o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
