package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestThumbprintMatchesRFC7638Example(t *testing.T) {
	// RFC 7638 §3.1: this RSA key's thumbprint is given in the RFC.
	n, err := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint %s, want %s", got, want)
	}
}

func TestGeneratedKeyKidIsItsThumbprintAndTypeFitsAlg(t *testing.T) {
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			tp, err := Thumbprint(k.Private.Public())
			if err != nil || tp != k.Kid || len(k.Kid) != 43 {
				t.Fatalf("kid %q thumbprint %q err %v", k.Kid, tp, err)
			}
			if k.Alg != alg || !k.CreatedAt.Equal(t0) {
				t.Fatalf("key %+v", k)
			}
			switch p := k.Private.(type) {
			case ed25519.PrivateKey:
			case *rsa.PrivateKey:
				if p.N.BitLen() != RSABits {
					t.Fatalf("rsa bits %d", p.N.BitLen())
				}
			case *ecdsa.PrivateKey:
				if p.Curve != elliptic.P256() {
					t.Fatal("not P-256")
				}
			default:
				t.Fatalf("type %T", p)
			}
		})
	}
}

func TestGenerateKeyRefusesUnknownAlg(t *testing.T) {
	for _, a := range []Alg{"HS256", "none", "eddsa", ""} {
		if _, err := GenerateKey(a, t0); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", a)
		}
	}
}

func TestParseAlgListsAllowedValues(t *testing.T) {
	for in, want := range map[string]Alg{"EdDSA": EdDSA, "eddsa": EdDSA, "RS256": RS256, "es256": ES256} {
		if got, err := ParseAlg(in); err != nil || got != want {
			t.Errorf("ParseAlg(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"none", "HS256", "PS256", ""} {
		_, err := ParseAlg(in)
		if err == nil || !strings.Contains(err.Error(), "EdDSA, RS256, ES256") {
			t.Errorf("ParseAlg(%q): %v", in, err)
		}
	}
}

func TestParsePrivateRoundTripsAndRecomputesKid(t *testing.T) {
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			der, err := k.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePrivate(alg, der, t0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kid != k.Kid || p.Alg != alg || !p.CreatedAt.Equal(t0) {
				t.Fatalf("parsed %+v, want kid %s", p, k.Kid)
			}
			// A token from the parsed key verifies with the original's public key.
			tok, err := IssueAccess(p, accessClaims())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParsePrivateRefusesKeyOfAnotherAlg(t *testing.T) {
	ders := map[Alg][]byte{}
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		der, err := mustKey(t, alg).MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		ders[alg] = der
	}
	for keyAlg, der := range ders {
		for _, asAlg := range []Alg{EdDSA, RS256, ES256} {
			if asAlg == keyAlg {
				continue
			}
			t.Run(string(keyAlg)+" key as "+string(asAlg), func(t *testing.T) {
				_, err := ParsePrivate(asAlg, der, t0)
				if err == nil || !strings.Contains(err.Error(), "does not match alg "+string(asAlg)) {
					t.Fatalf("err %v", err)
				}
			})
		}
	}
	t.Run("P-384 key as ES256", func(t *testing.T) {
		p, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(p)
		if _, err := ParsePrivate(ES256, der, t0); err == nil || !strings.Contains(err.Error(), "P-384") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("1024-bit RSA key", func(t *testing.T) {
		p, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Skip(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(p)
		if _, err := ParsePrivate(RS256, der, t0); err == nil || !strings.Contains(err.Error(), "too small") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		if _, err := ParsePrivate(EdDSA, []byte("not der"), t0); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestJWKSShapePerAlg(t *testing.T) {
	want := map[Alg][]string{
		EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
		RS256: {"alg", "e", "kid", "kty", "n", "use"},
		ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
	}
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			b, err := json.Marshal(NewJWKS([]PublicKey{k.PublicKey()}))
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("%s: %v", b, err)
			}
			j := set.Keys[0]
			var names []string
			for n := range j {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, want[alg]) {
				t.Fatalf("members %v, want %v", names, want[alg])
			}
			if j["kid"] != k.Kid || j["alg"] != string(alg) || j["use"] != "sig" {
				t.Fatalf("jwk %v", j)
			}
			switch alg {
			case EdDSA:
				if j["kty"] != "OKP" || j["crv"] != "Ed25519" || len(j["x"]) != 43 {
					t.Fatalf("jwk %v", j)
				}
			case RS256:
				if j["kty"] != "RSA" || j["e"] != "AQAB" || len(j["n"]) != 342 {
					t.Fatalf("jwk %v", j)
				}
			case ES256:
				if j["kty"] != "EC" || j["crv"] != "P-256" || len(j["x"]) != 43 || len(j["y"]) != 43 {
					t.Fatalf("jwk %v", j)
				}
			}
		})
	}
}

func TestJWKSRoundTripsToWorkingVerificationKeys(t *testing.T) {
	var pubs []PublicKey
	var keys []Key
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		k := mustKey(t, alg)
		keys = append(keys, k)
		pubs = append(pubs, k.PublicKey())
	}
	b, _ := json.Marshal(NewJWKS(pubs))
	var set JWKS
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	byKid := map[string]PublicKey{}
	for _, j := range set.Keys {
		p, err := j.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		byKid[p.Kid] = p
	}
	for _, k := range keys {
		tok, _ := IssueAccess(k, accessClaims())
		o := verifyOpts()
		o.Keys = func(kid string) (PublicKey, bool) { p, ok := byKid[kid]; return p, ok }
		if _, err := VerifyAccess(tok, o); err != nil {
			t.Fatalf("%s: %v", k.Alg, err)
		}
	}
}

func TestJWKPublicKeyRefusesKidThatIsNotTheThumbprint(t *testing.T) {
	j := NewJWKS([]PublicKey{mustKey(t, EdDSA).PublicKey()}).Keys[0]
	j.Kid = "chosen-by-attacker"
	if _, err := j.PublicKey(); err == nil || !strings.Contains(err.Error(), "thumbprint") {
		t.Fatalf("err %v", err)
	}
}

func TestNewJWKSOfNothingIsAnEmptyArray(t *testing.T) {
	b, _ := json.Marshal(NewJWKS(nil))
	if string(b) != `{"keys":[]}` {
		t.Fatalf("%s", b)
	}
}

func TestNewJWKSLeavesOutKeysWhoseTypeDoesNotFitAlg(t *testing.T) {
	ed := mustKey(t, EdDSA).PublicKey()
	bad := ed
	bad.Alg = RS256
	if got := NewJWKS([]PublicKey{bad, ed}); len(got.Keys) != 1 || got.Keys[0].Alg != "EdDSA" {
		t.Fatalf("%+v", got)
	}
}

func TestIssueAccessRefusesMissingClaims(t *testing.T) {
	k := mustKey(t, EdDSA)
	for name, mut := range map[string]func(*AccessClaims){
		"iss":       func(c *AccessClaims) { c.Issuer = "" },
		"sub":       func(c *AccessClaims) { c.Subject = "" },
		"aud":       func(c *AccessClaims) { c.Audience = nil },
		"exp":       func(c *AccessClaims) { c.ExpiresAt = nil },
		"iat":       func(c *AccessClaims) { c.IssuedAt = nil },
		"jti":       func(c *AccessClaims) { c.ID = "" },
		"client_id": func(c *AccessClaims) { c.ClientID = "" },
	} {
		t.Run(name, func(t *testing.T) {
			c := accessClaims()
			mut(&c)
			_, err := IssueAccess(k, c)
			if err == nil || !strings.Contains(err.Error(), "missing required claims: "+name) {
				t.Fatalf("err %v", err)
			}
		})
	}
	t.Run("exp not after iat", func(t *testing.T) {
		c := accessClaims()
		c.ExpiresAt = c.IssuedAt
		if _, err := IssueAccess(k, c); err == nil {
			t.Fatal("issued")
		}
	})
}

func TestIssueAccessRefusesKeyWhoseTypeDoesNotFitAlg(t *testing.T) {
	k := mustKey(t, EdDSA)
	k.Alg = RS256
	if _, err := IssueAccess(k, accessClaims()); err == nil || !strings.Contains(err.Error(), "does not match alg RS256") {
		t.Fatalf("err %v", err)
	}
}

func TestIssueAccessHeaderIsTypedWithKid(t *testing.T) {
	k := mustKey(t, ES256)
	tok, err := IssueAccess(k, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	h := headerOf(t, tok)
	if len(h) != 3 || h["alg"] != "ES256" || h["typ"] != "at+jwt" || h["kid"] != k.Kid {
		t.Fatalf("header %v", h)
	}
}

func TestSignIntakeRefusesShortSecretAndBadClaims(t *testing.T) {
	if _, err := SignIntake(nil, intakeClaims()); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := SignIntake(make([]byte, MinSecretLen-1), intakeClaims()); err == nil {
		t.Error("31-byte secret accepted")
	}
	secret, _ := NewSecret()
	c := intakeClaims()
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(6 * 60e9))
	if _, err := SignIntake(secret, c); err == nil {
		t.Error("6-minute lifetime accepted")
	}
	c = intakeClaims()
	c.ID = ""
	if _, err := SignIntake(secret, c); err == nil {
		t.Error("missing jti accepted")
	}
}

func TestNewSecretIsFreshAndLongEnough(t *testing.T) {
	a, err1 := NewSecret()
	b, err2 := NewSecret()
	if err1 != nil || err2 != nil || len(a) != MinSecretLen || string(a) == string(b) {
		t.Fatalf("%x %x %v %v", a, b, err1, err2)
	}
}

func TestKeyPublicIsThePrivateKeysPublicHalf(t *testing.T) {
	for _, alg := range []Alg{EdDSA, RS256, ES256} {
		k := mustKey(t, alg)
		pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(k.Private.Public()) || !pub.Equal(k.PublicKey().Key) {
			t.Fatalf("%s: Public() %T is not the key's public half", alg, k.Public())
		}
	}
	if (Key{}).Public() != nil {
		t.Fatal("empty Key has a public key")
	}
}

// headerOf decodes a token's header with the standard library alone, so
// header tests do not depend on the verifier's own decoding.
func headerOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
