package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// es256Parts splits an ES256 token's signature into r and s.
func es256Parts(t *testing.T, tok string) (input string, r, s *big.Int) {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature: %v, %d bytes", err, len(sig))
	}
	return tok[:i], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
}

func TestES256HighSTwinOfARealTokenIsRefused(t *testing.T) {
	k := mustKey(t, ES256)
	tok, err := IssueAccess(k, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
		t.Fatalf("the low-S original: %v", err)
	}
	input, r, s := es256Parts(t, tok)
	n := elliptic.P256().Params().N
	twinS := new(big.Int).Sub(n, s)
	// The twin is a mathematically valid signature of the same input: that
	// is the malleability being refused, not some broken signature.
	digest := sha256.Sum256([]byte(input))
	if !ecdsa.Verify(k.PublicKey().Key.(*ecdsa.PublicKey), digest[:], r, twinS) {
		t.Fatal("test setup: (r, N-s) should verify with crypto/ecdsa")
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	twinS.FillBytes(sig[32:])
	twin := input + "." + b64.EncodeToString(sig)
	_, err = VerifyAccess(twin, verifyOpts(k))
	wantInvalid(t, twin, err, "ES256 signature is not canonical")
	if !errors.Is(err, errHighS) {
		t.Fatalf("%v does not wrap the high-S cause", err)
	}
}

func TestES256SignaturesIssuedAreAlwaysLowS(t *testing.T) {
	// crypto/ecdsa gives high S about half the time; forty tokens all low-S
	// happen by chance once in 2^40.
	k := mustKey(t, ES256)
	half := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	for i := 0; i < 40; i++ {
		tok, err := IssueAccess(k, accessClaims())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, s := es256Parts(t, tok); s.Cmp(half) > 0 {
			t.Fatalf("token %d has high S", i)
		}
		if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}

// claimsOfSize returns claims whose token (for key k) is as long as
// possible without exceeding limit, by sizing the reason.
func tokenNear(t *testing.T, k Key, limit int) (AccessClaims, string) {
	t.Helper()
	lo, hi := 0, limit // reason length: lo fits, hi does not
	var best AccessClaims
	var bestTok string
	for lo < hi {
		mid := (lo + hi + 1) / 2
		c := accessClaims()
		c.JIT.Reason = strings.Repeat("r", mid)
		tok, err := IssueAccess(k, c)
		switch {
		case err == nil:
			lo, best, bestTok = mid, c, tok
		case errors.Is(err, ErrTokenTooLarge):
			hi = mid - 1
		default:
			t.Fatal(err)
		}
	}
	if bestTok == "" {
		t.Fatal("no reason length fits")
	}
	return best, bestTok
}

func TestIssueAccessRefusesATokenOverMaxAccessTokenBytes(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			c, tok := tokenNear(t, k, MaxAccessTokenBytes)
			// base64 lengths step by 1 or 2, so the largest token that fits
			// is within 2 bytes of the limit.
			if len(tok) > MaxAccessTokenBytes || len(tok) < MaxAccessTokenBytes-2 {
				t.Fatalf("largest token is %d bytes", len(tok))
			}
			if _, err := VerifyAccess(tok, verifyOpts(k)); err != nil {
				t.Fatalf("a %d-byte token jitdesk issued does not verify: %v", len(tok), err)
			}
			c.JIT.Reason += "rr"
			_, err := IssueAccess(k, c)
			if !errors.Is(err, ErrTokenTooLarge) {
				t.Fatalf("over the limit: %v", err)
			}
			if !strings.Contains(err.Error(), "over the 4096-byte limit") || !strings.Contains(err.Error(), "would be 40") {
				t.Fatalf("error does not give the size and limit: %v", err)
			}
			if strings.Contains(err.Error(), "rrrr") {
				t.Fatalf("error echoes the claims: %v", err)
			}
		})
	}
}

func TestAccessTokenLimitIsWithinTheVerifiersPrecheck(t *testing.T) {
	if MaxAccessTokenBytes > MaxTokenSize {
		t.Fatalf("issuer limit %d is over the verifier's %d: issued tokens would be refused", MaxAccessTokenBytes, MaxTokenSize)
	}
}

func TestIssueAccessHeaderFollowsTheKeysCurrentKidAndAlg(t *testing.T) {
	// Kid is an exported field: a copy with another kid must not sign the
	// cached header of the original.
	k := mustKey(t, EdDSA)
	k2 := k
	k2.Kid = "renamed"
	tok, err := IssueAccess(k2, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	if h := headerOf(t, tok); h["kid"] != "renamed" || len(h) != 3 {
		t.Fatalf("header %v", h)
	}
	// A Key built by hand (no cached header) with a kid needing escapes.
	k3 := Key{Kid: `a"b\c`, Alg: EdDSA, Private: k.Private}
	tok, err = IssueAccess(k3, accessClaims())
	if err != nil {
		t.Fatal(err)
	}
	if h := headerOf(t, tok); h["kid"] != `a"b\c` || h["alg"] != "EdDSA" || h["typ"] != "at+jwt" || len(h) != 3 {
		t.Fatalf("header %v", h)
	}
	o := verifyOpts()
	o.Keys = func(kid string) (PublicKey, bool) {
		return PublicKey{Kid: kid, Alg: EdDSA, Key: k.Public()}, kid == `a"b\c`
	}
	if _, err := VerifyAccess(tok, o); err != nil {
		t.Fatalf("hand-built key's token: %v", err)
	}
}

func TestVerifiedHeaderIsTheTokensHeader(t *testing.T) {
	// Both the recognised jitdesk header and a general one give the
	// decoded header in Verified.Header.
	k := mustKey(t, EdDSA)
	tok, _ := IssueAccess(k, accessClaims())
	v, err := VerifyAccess(tok, verifyOpts(k))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Header) != 3 || v.Header["alg"] != "EdDSA" || v.Header["kid"] != k.Kid || v.Header["typ"] != "at+jwt" {
		t.Fatalf("header %v", v.Header)
	}
	h := accessHeader(k)
	h["x-extra"] = "y"
	tok = craft(t, h, claimsMap(t, accessClaims()), signer(t, k))
	v, err = VerifyAccess(tok, verifyOpts(k))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Header) != 4 || v.Header["x-extra"] != "y" || v.Header["kid"] != k.Kid {
		t.Fatalf("header %v", v.Header)
	}
}

func TestVerifiedClaimsAreTheSameWhicheverDecoderRuns(t *testing.T) {
	// A reason with a quote is outside the fast decoder's shape; the claims
	// come back the same either way.
	k := mustKey(t, EdDSA)
	for _, reason := range []string{"plain", `with "quotes" and <html>`} {
		c := accessClaims()
		c.JIT.Reason = reason
		tok, err := IssueAccess(k, c)
		if err != nil {
			t.Fatal(err)
		}
		v, err := VerifyAccess(tok, verifyOpts(k))
		if err != nil {
			t.Fatal(err)
		}
		if v.Claims.JIT.Reason != reason || v.Claims.Subject != "bob" || !v.Claims.ExpiresAt.Equal(c.ExpiresAt.Time) ||
			v.Claims.JIT.Metadata["ticket"] != "INC-42" || v.Claims.Audience[0] != "https://db.test" {
			t.Fatalf("claims %+v", v.Claims)
		}
	}
}
