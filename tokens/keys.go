// Package tokens owns jitdesk's signing keys and the two kinds of JWT it
// deals in: access tokens it issues on approval (RFC 9068 profile, signed
// with an asymmetric key whose kid is its RFC 7638 thumbprint) and intake
// tokens applications sign with their shared secret to ask for access.
//
// The package does no I/O and knows nothing of storage: callers hand it key
// material, key lookups, a clock and a revocation check. Verification is
// deliberately paranoid (RFC 8725): every golang-jwt default that is lenient
// is overridden, and header parameters that would let a token choose its own
// key are refused outright.
package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Alg is a JWS algorithm jitdesk signs access tokens with. Each key has
// exactly one, so a verifier never has to guess which algorithm a key is for.
type Alg string

// The signing algorithms jitdesk supports. EdDSA is the default; RS256 and
// ES256 exist for verifiers that know nothing newer.
const (
	EdDSA Alg = "EdDSA"
	RS256 Alg = "RS256"
	ES256 Alg = "ES256"
)

// algs lists the supported algorithms in the order error messages name them.
var algs = []Alg{EdDSA, RS256, ES256}

// RSABits is the modulus size GenerateKey uses for RS256 and the minimum
// ParsePrivate accepts: smaller RSA keys are no longer considered safe.
const RSABits = 2048

// ParseAlg turns an operator-supplied name into an Alg. Case is ignored
// because this parses configuration and CLI input, never token headers;
// the result is always the canonical JWS spelling.
func ParseAlg(s string) (Alg, error) {
	for _, a := range algs {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown signing algorithm %q: use one of EdDSA, RS256, ES256", s)
}

// Key is a private signing key with the metadata needed to use and publish it.
type Key struct {
	Kid       string        // RFC 7638 JWK thumbprint (base64url SHA-256)
	Alg       Alg           // the only algorithm this key signs with
	Private   crypto.Signer // ed25519.PrivateKey, *rsa.PrivateKey (>= 2048 bits), *ecdsa.PrivateKey (P-256)
	CreatedAt time.Time

	// header is the encoded JOSE header segment of every access token this
	// key signs, built once when the key is made or parsed because it never
	// changes. hdrKid and hdrAlg record what it was built for: Kid and Alg
	// are exported and may be changed on a copy, and a stale header must
	// never be signed.
	header string
	hdrKid string
	hdrAlg Alg
}

// GenerateKey makes a fresh key for alg from crypto/rand.
func GenerateKey(alg Alg, now time.Time) (Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, RSABits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		// Only the canonical constants are keys' algorithms; ParseAlg is for input.
		err = fmt.Errorf("unknown signing algorithm %q: use one of EdDSA, RS256, ES256", string(alg))
	}
	if err != nil {
		return Key{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newKey(alg, priv, now)
}

// newKey checks priv suits alg and derives the kid from its public half, so
// a kid can never disagree with the key it names.
func newKey(alg Alg, priv any, createdAt time.Time) (Key, error) {
	signer, err := checkSigner(alg, priv)
	if err != nil {
		return Key{}, err
	}
	kid, err := Thumbprint(signer.Public())
	if err != nil {
		return Key{}, err
	}
	return Key{Kid: kid, Alg: alg, Private: signer, CreatedAt: createdAt,
		header: accessHeaderSegment(alg, kid), hdrKid: kid, hdrAlg: alg}, nil
}

// accessHeaderSegment is the base64url JOSE header of an access token, its
// members in the order encoding/json gives a map (the order golang-jwt
// produced before, so tokens are byte-for-byte what they were).
func accessHeaderSegment(alg Alg, kid string) string {
	if isB64URL(alg) && isB64URL(kid) {
		// A thumbprint kid and a constant alg never need JSON escaping.
		return b64.EncodeToString([]byte(`{"alg":"` + string(alg) + `","kid":"` + kid + `","typ":"at+jwt"}`))
	}
	// A caller-built Key may carry any kid; let encoding/json escape it.
	// Marshalling a map of strings cannot fail (invalid UTF-8 is coerced).
	j, _ := json.Marshal(map[string]string{"alg": string(alg), "kid": kid, "typ": "at+jwt"})
	return b64.EncodeToString(j)
}

// isB64URL reports whether s is non-empty and only base64url characters.
func isB64URL[S ~string](s S) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// headerSegment returns k's cached header, or builds it when k was not made
// by this package or its Kid or Alg were changed since.
func (k Key) headerSegment() string {
	if k.header != "" && k.hdrKid == k.Kid && k.hdrAlg == k.Alg {
		return k.header
	}
	return accessHeaderSegment(k.Alg, k.Kid)
}

// checkSigner enforces the one key type per algorithm rule.
func checkSigner(alg Alg, priv any) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		if k, ok := priv.(ed25519.PrivateKey); ok && len(k) == ed25519.PrivateKeySize {
			return k, nil
		}
	case RS256:
		if k, ok := priv.(*rsa.PrivateKey); ok && k != nil {
			if k.N == nil || k.N.BitLen() < RSABits {
				return nil, fmt.Errorf("RS256 key is too small: %d bits, need at least %d", bitLen(k.N), RSABits)
			}
			return k, nil
		}
	case ES256:
		if k, ok := priv.(*ecdsa.PrivateKey); ok && k != nil {
			if k.Curve != elliptic.P256() {
				return nil, fmt.Errorf("ES256 key is on curve %s, need P-256", curveName(k.Curve))
			}
			return k, nil
		}
	default:
		return nil, fmt.Errorf("unknown signing algorithm %q: use one of EdDSA, RS256, ES256", string(alg))
	}
	return nil, fmt.Errorf("key of type %T does not match alg %s (want %s)", priv, alg, wantType(alg))
}

func bitLen(n *big.Int) int {
	if n == nil {
		return 0
	}
	return n.BitLen()
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "<none>"
	}
	return c.Params().Name
}

func wantType(alg Alg) string {
	switch alg {
	case EdDSA:
		return "an Ed25519 key"
	case RS256:
		return fmt.Sprintf("an RSA key of at least %d bits", RSABits)
	default:
		return "an ECDSA P-256 key"
	}
}

// MarshalPrivate encodes the private key as PKCS#8 DER, the form the store
// keeps, because it is self-describing for all three key types.
func (k Key) MarshalPrivate() ([]byte, error) {
	if k.Private == nil {
		return nil, errors.New("marshal private key: key is empty")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("marshal private key %s: %w", k.Kid, err)
	}
	return der, nil
}

// ParsePrivate decodes a PKCS#8 DER key, checks its type matches alg and
// recomputes the kid, so stored metadata is never trusted over the key.
func ParsePrivate(alg Alg, pkcs8 []byte, createdAt time.Time) (Key, error) {
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return Key{}, fmt.Errorf("parse %s private key: %w", alg, err)
	}
	k, err := newKey(alg, priv, createdAt)
	if err != nil {
		return Key{}, fmt.Errorf("parse %s private key: %w", alg, err)
	}
	return k, nil
}

// PublicKey is a verification key: what a verifier looks up by kid.
type PublicKey struct {
	Kid string
	Alg Alg
	Key crypto.PublicKey // ed25519.PublicKey, *rsa.PublicKey or *ecdsa.PublicKey
}

// Public returns the public half of k (nil for an empty Key), so callers
// need not reach through Private, which may be nil.
func (k Key) Public() crypto.PublicKey {
	if k.Private == nil {
		return nil
	}
	return k.Private.Public()
}

// PublicKey returns the public half of k, for verification and publication.
func (k Key) PublicKey() PublicKey {
	return PublicKey{Kid: k.Kid, Alg: k.Alg, Key: k.Public()}
}

// b64 is unpadded base64url, the encoding every JOSE member uses.
var b64 = base64.RawURLEncoding

// Thumbprint computes the RFC 7638 JWK thumbprint of pub: SHA-256 over the
// key's required members in lexicographic order with no whitespace.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := jwkOf(pub)
	if err != nil {
		return "", err
	}
	return j.thumbprint(), nil
}

// thumbprint hashes the RFC 7638 canonical form. Members are base64url or
// fixed names, so no JSON escaping is ever needed.
func (j JWK) thumbprint() string {
	var canon string
	switch j.Kty {
	case "OKP":
		canon = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "RSA":
		canon = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		canon = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// JWK is one public key as published in the JWKS (RFC 7517), signature use only.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the JSON Web Key Set jitdesk publishes for verifiers.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// jwkOf returns the key-type members of pub's JWK (no kid, alg or use).
func jwkOf(pub crypto.PublicKey) (JWK, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return JWK{}, fmt.Errorf("ed25519 public key is %d bytes, want %d", len(p), ed25519.PublicKeySize)
		}
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p)}, nil
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.E <= 0 {
			return JWK{}, errors.New("rsa public key is empty")
		}
		return JWK{Kty: "RSA", N: b64.EncodeToString(p.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())}, nil
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return JWK{}, errors.New("ecdsa public key must be on P-256")
		}
		pt, err := p.Bytes() // 0x04 || X || Y, coordinates already padded to 32 bytes as RFC 7518 requires
		if err != nil {
			return JWK{}, fmt.Errorf("ecdsa public key: %w", err)
		}
		return JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:65])}, nil
	default:
		return JWK{}, fmt.Errorf("unsupported public key type %T: want Ed25519, RSA or ECDSA P-256", pub)
	}
}

// NewJWKS builds the published key set. A key this package could not have
// made (unknown type or algorithm) is left out rather than published wrong;
// the result always marshals with a "keys" array, never null.
func NewJWKS(keys []PublicKey) JWKS {
	out := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		j, err := jwkOf(k.Key)
		if err != nil {
			continue
		}
		if _, err := checkPublic(k); err != nil {
			continue
		}
		j.Kid, j.Alg, j.Use = k.Kid, string(k.Alg), "sig"
		out.Keys = append(out.Keys, j)
	}
	return out
}

// checkPublic enforces the one key type per algorithm rule on a public key,
// so a verification key can only ever check the algorithm it was made for.
func checkPublic(k PublicKey) (crypto.PublicKey, error) {
	switch k.Alg {
	case EdDSA:
		if p, ok := k.Key.(ed25519.PublicKey); ok && len(p) == ed25519.PublicKeySize {
			return p, nil
		}
	case RS256:
		if p, ok := k.Key.(*rsa.PublicKey); ok && p != nil && p.N != nil {
			if p.N.BitLen() < RSABits {
				return nil, fmt.Errorf("RS256 key %q is too small: %d bits", k.Kid, p.N.BitLen())
			}
			return p, nil
		}
	case ES256:
		if p, ok := k.Key.(*ecdsa.PublicKey); ok && p != nil && p.Curve == elliptic.P256() {
			return p, nil
		}
	default:
		return nil, fmt.Errorf("key %q has unknown alg %q", k.Kid, string(k.Alg))
	}
	return nil, fmt.Errorf("key %q of type %T does not match alg %s", k.Kid, k.Key, k.Alg)
}

// PublicKey decodes a published JWK back into a verification key. It checks
// use, alg and key type agree and that kid is the key's thumbprint, so a
// verifier fed a JWKS gets exactly the keys jitdesk published.
func (j JWK) PublicKey() (PublicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return PublicKey{}, fmt.Errorf("jwk %q: use %q is not sig", j.Kid, j.Use)
	}
	var alg Alg
	for _, a := range algs {
		if j.Alg == string(a) {
			alg = a
		}
	}
	if alg == "" {
		return PublicKey{}, fmt.Errorf("jwk %q: alg %q is not one of EdDSA, RS256, ES256", j.Kid, j.Alg)
	}
	dec := func(s string) ([]byte, error) { return b64.Strict().DecodeString(s) }
	var pub crypto.PublicKey
	switch {
	case alg == EdDSA && j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := dec(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("jwk %q: bad Ed25519 x", j.Kid)
		}
		pub = ed25519.PublicKey(x)
	case alg == RS256 && j.Kty == "RSA":
		n, errN := dec(j.N)
		e, errE := dec(j.E)
		if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return PublicKey{}, fmt.Errorf("jwk %q: bad RSA n or e", j.Kid)
		}
		ev := new(big.Int).SetBytes(e).Int64()
		if ev < 3 || ev%2 == 0 {
			return PublicKey{}, fmt.Errorf("jwk %q: bad RSA exponent %d", j.Kid, ev)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev)}
	case alg == ES256 && j.Kty == "EC" && j.Crv == "P-256":
		x, errX := dec(j.X)
		y, errY := dec(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return PublicKey{}, fmt.Errorf("jwk %q: bad P-256 x or y", j.Kid)
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return PublicKey{}, fmt.Errorf("jwk %q: %w", j.Kid, err)
		}
		pub = p
	default:
		return PublicKey{}, fmt.Errorf("jwk %q: kty %q crv %q does not fit alg %s", j.Kid, j.Kty, j.Crv, alg)
	}
	pk := PublicKey{Kid: j.Kid, Alg: alg, Key: pub}
	if _, err := checkPublic(pk); err != nil {
		return PublicKey{}, fmt.Errorf("jwk: %w", err)
	}
	if tp, _ := Thumbprint(pub); tp != j.Kid {
		return PublicKey{}, fmt.Errorf("jwk %q: kid is not the key's thumbprint %s", j.Kid, tp)
	}
	return pk, nil
}
