package tokens

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessClaims are the claims of an access token (RFC 9068) plus jitdesk's
// "jit" object, which lets a resource server see why access was granted.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	JIT      JITClaim `json:"jit"`
}

// JITClaim records the approval behind an access token, so a resource
// server can audit or display it without calling jitdesk.
type JITClaim struct {
	RequestID        string            `json:"request_id"`
	ApprovalType     string            `json:"approval_type"`
	Approvers        []string          `json:"approvers"`
	Reason           string            `json:"reason"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	RequestDigest    string            `json:"request_digest"`
	SignatureDigests []string          `json:"signature_digests,omitempty"`
	// KeySignatureDigests name the approvals' SSHSIG signatures (SHA-256 of
	// each armored signature), for approvals signed with an SSH key.
	KeySignatureDigests []string `json:"key_signature_digests,omitempty"`
	BreakGlass          bool     `json:"break_glass,omitempty"`
}

// MaxAccessTokenBytes bounds the access tokens IssueAccess returns. It is
// half of MaxTokenSize, the most VerifyAccess will look at, and leaves room
// under the per-header limits of common proxies and servers (often 8 KiB),
// so a token jitdesk issues is one its verifiers accept.
const MaxAccessTokenBytes = 4096

// ErrTokenTooLarge is wrapped by IssueAccess's error when the signed token
// would be longer than MaxAccessTokenBytes; the message gives the size.
var ErrTokenTooLarge = errors.New("access token too large")

// accessClaimsJSON is the wire form of AccessClaims. Times are integers
// here, so marshalling avoids golang-jwt's NumericDate and ClaimStrings
// encoders (and their package-level settings); the members and their order
// are those golang-jwt produced, so tokens are unchanged.
type accessClaimsJSON struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp"`
	NotBefore *int64   `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti,omitempty"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	JIT       JITClaim `json:"jit"`

	// nbf is NotBefore's value when hasNbf. The fast encoder reads these,
	// and only the encoding/json fallback sets NotBefore, so on the fast
	// path the struct has no pointer into itself and stays on the stack.
	nbf    int64
	hasNbf bool
}

// IssueAccess signs claims with key. The header is alg = key.Alg,
// typ = at+jwt and kid = key.Kid. It refuses claims missing iss, sub, aud,
// exp, iat, jti or client_id, or with exp not after iat, because
// VerifyAccess would refuse such a token anyway and it is better to fail
// at the issuer than at every resource server. For the same reason it
// refuses, before signing, a token longer than MaxAccessTokenBytes: that
// error wraps ErrTokenTooLarge. ES256 signatures are always low-S, so a
// grant has exactly one token string.
func IssueAccess(key Key, claims AccessClaims) (string, error) {
	if key.Kid == "" {
		return "", errors.New("issue access token: key has no kid")
	}
	if _, err := checkSigner(key.Alg, key.Private); err != nil {
		return "", fmt.Errorf("issue access token: key %s: %w", key.Kid, err)
	}
	var missing []string
	if claims.Issuer == "" {
		missing = append(missing, "iss")
	}
	if claims.Subject == "" {
		missing = append(missing, "sub")
	}
	if len(claims.Audience) == 0 || hasEmpty(claims.Audience) {
		missing = append(missing, "aud")
	}
	if claims.ExpiresAt == nil {
		missing = append(missing, "exp")
	}
	if claims.IssuedAt == nil {
		missing = append(missing, "iat")
	}
	if claims.ID == "" {
		missing = append(missing, "jti")
	}
	if claims.ClientID == "" {
		missing = append(missing, "client_id")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("issue access token: missing required claims: %s", strings.Join(missing, ", "))
	}
	if !claims.ExpiresAt.After(claims.IssuedAt.Time) {
		return "", fmt.Errorf("issue access token: exp %s is not after iat %s",
			claims.ExpiresAt.UTC().Format(time.RFC3339), claims.IssuedAt.UTC().Format(time.RFC3339))
	}
	w := accessClaimsJSON{
		Issuer: claims.Issuer, Subject: claims.Subject, Audience: claims.Audience,
		ExpiresAt: claims.ExpiresAt.Unix(), IssuedAt: claims.IssuedAt.Unix(), ID: claims.ID,
		ClientID: claims.ClientID, Scope: claims.Scope, JIT: claims.JIT,
	}
	if claims.NotBefore != nil {
		w.nbf, w.hasNbf = claims.NotBefore.Unix(), true
	}
	payload, err := encodeAccessClaims(&w)
	if err != nil {
		return "", fmt.Errorf("issue access token: encode claims: %w", err)
	}
	hdr := key.headerSegment()
	sigLen := signatureSize(key)
	size := len(hdr) + 1 + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(sigLen)
	if size > MaxAccessTokenBytes {
		return "", fmt.Errorf("issue access token: the token would be %d bytes, over the %d-byte limit (claims are %d bytes of JSON): %w",
			size, MaxAccessTokenBytes, len(payload), ErrTokenTooLarge)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := sign(key, buf)
	if err != nil {
		return "", fmt.Errorf("issue access token: sign with %s: %w", key.Kid, err)
	}
	if len(sig) != sigLen {
		return "", fmt.Errorf("issue access token: sign with %s: signature is %d bytes, want %d", key.Kid, len(sig), sigLen)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// signatureSize is the length of key's JWS signature, known before signing.
func signatureSize(key Key) int {
	switch p := key.Private.(type) {
	case *rsa.PrivateKey:
		return p.Size()
	case *ecdsa.PrivateKey:
		return 2 * p256ScalarLen
	default:
		return ed25519.SignatureSize
	}
}

// p256ScalarLen is the size of a P-256 scalar: r and s are each this long in
// a JWS signature (RFC 7518 §3.4).
const p256ScalarLen = 32

// sign makes the JWS signature over input with key's one algorithm.
func sign(key Key, input []byte) ([]byte, error) {
	switch key.Alg {
	case EdDSA:
		return ed25519.Sign(key.Private.(ed25519.PrivateKey), input), nil
	case ES256:
		return signES256(key.Private.(*ecdsa.PrivateKey), input)
	case RS256:
		return jwt.SigningMethodRS256.Sign(string(input), key.Private)
	}
	return nil, fmt.Errorf("unknown signing algorithm %q: use one of EdDSA, RS256, ES256", string(key.Alg))
}

// signES256 signs with ECDSA P-256 and normalises S to the lower half of the
// group order. Both (r, s) and (r, N−s) verify, so without this a grant
// could be presented as two different token strings (ECDSA malleability);
// VerifyAccess refuses the high-S form.
func signES256(priv *ecdsa.PrivateKey, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		return nil, err
	}
	n := elliptic.P256().Params().N
	if s.Cmp(halfOrder(n)) > 0 {
		s.Sub(n, s)
	}
	out := make([]byte, 2*p256ScalarLen)
	r.FillBytes(out[:p256ScalarLen])
	s.FillBytes(out[p256ScalarLen:])
	return out, nil
}

// halfOrder is ⌊n/2⌋: a canonical ECDSA S is at most this.
func halfOrder(n *big.Int) *big.Int { return new(big.Int).Rsh(n, 1) }

// errHighS is the cause VerifyAccess gives for a high-S ES256 signature.
var errHighS = errors.New("ES256 signature is not canonical: its S is above half the group order (the high-S twin of a valid signature); jitdesk only issues low-S signatures")

// verifySignature checks sig over input with pub, which checkPublic has
// matched to alg.
func verifySignature(alg Alg, pub any, input string, sig []byte) error {
	switch alg {
	case EdDSA:
		if !ed25519.Verify(pub.(ed25519.PublicKey), []byte(input), sig) {
			return jwt.ErrEd25519Verification
		}
		return nil
	case ES256:
		if len(sig) != 2*p256ScalarLen {
			return fmt.Errorf("ES256 signature is %d bytes, want %d", len(sig), 2*p256ScalarLen)
		}
		n := elliptic.P256().Params().N
		if new(big.Int).SetBytes(sig[p256ScalarLen:]).Cmp(halfOrder(n)) > 0 {
			return errHighS
		}
		return jwt.SigningMethodES256.Verify(input, sig, pub)
	case RS256:
		return jwt.SigningMethodRS256.Verify(input, sig, pub)
	}
	return fmt.Errorf("unknown signing algorithm %q", string(alg))
}

func hasEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// VerifyOptions configure VerifyAccess. Issuer, Keys and Now are required.
type VerifyOptions struct {
	Issuer      string                             // exact iss required
	Audience    string                             // exact aud entry required; empty is an error unless AnyAudience
	AnyAudience bool                               // accept any non-empty aud (introspection, where the caller checks aud itself)
	Keys        func(kid string) (PublicKey, bool) // the published verification keys
	Now         func() time.Time                   // required, so tests and the server share one clock
	Leeway      time.Duration                      // clock skew allowed on exp, nbf and iat; at most MaxLeeway
	IsRevoked   func(jti string) (bool, error)     // optional; consulted only after everything else passed
}

// Verified is an access token that passed every check.
type Verified struct {
	Claims AccessClaims
	Header map[string]any
	Kid    string
	Alg    Alg
}

func (o VerifyOptions) check() error {
	switch {
	case o.Issuer == "":
		return errors.New("verify access token: options: Issuer is required")
	case o.Audience == "" && !o.AnyAudience:
		return errors.New("verify access token: options: Audience is required (or set AnyAudience)")
	case o.Keys == nil:
		return errors.New("verify access token: options: Keys is required")
	case o.Now == nil:
		return errors.New("verify access token: options: Now is required")
	case o.Leeway < 0:
		return errors.New("verify access token: options: Leeway is negative")
	case o.Leeway > MaxLeeway:
		return fmt.Errorf("verify access token: options: Leeway %s is over the %s maximum", o.Leeway, MaxLeeway)
	}
	return nil
}

// VerifyAccess fully verifies an access token: size and shape, header
// (no key-carrying or crit parameters, typ at+jwt, kid known, alg equal to
// that key's one algorithm), signature with strict base64 (ES256 only in
// its canonical low-S form), then claims (exact iss, aud, exp required, iat
// required and not in the future, nbf, sub, jti, client_id) and finally
// revocation. The header is decoded once, and claims only after the
// signature has checked out. Every error wraps
// ErrInvalidToken; an unknown kid's also wraps ErrUnknownKey, an expired
// token's ErrExpired and a revoked token's ErrRevoked. Errors about opts
// themselves (a caller's bug, not a bad token) do not wrap ErrInvalidToken.
func VerifyAccess(token string, opts VerifyOptions) (Verified, error) {
	if err := opts.check(); err != nil {
		return Verified{}, err
	}
	seg, err := split(token)
	if err != nil {
		return Verified{}, err
	}
	h, err := parseHeader(seg.header)
	if err != nil {
		return Verified{}, err
	}
	if h.forbidden != "" {
		return Verified{}, forbiddenHeaderError(h.forbidden)
	}
	if err := checkAlg(h); err != nil {
		return Verified{}, err
	}
	// Explicit typing (RFC 8725 §3.11) stops an intake or ID token being
	// replayed as an access token.
	if h.typErr {
		return Verified{}, invalidf("header typ is not a string")
	}
	if !h.hasTyp {
		return Verified{}, invalidf("header typ is missing: access tokens are typed at+jwt")
	}
	if !isAccessTyp(h.typ) {
		return Verified{}, invalidf("typ %q is not at+jwt", short(h.typ))
	}
	if h.kid == "" {
		return Verified{}, invalidf("header kid is missing or not a string")
	}
	pk, ok := opts.Keys(h.kid)
	if !ok {
		return Verified{}, invalidAs([]error{ErrUnknownKey}, "unknown kid %q", short(h.kid))
	}
	// The header's alg must be the key's own algorithm: this is what stops
	// an HS256 token "signed" with a public key, and any alg downgrade.
	if h.alg != string(pk.Alg) {
		return Verified{}, invalidf("alg %q does not match key %q, which is %s", short(h.alg), short(h.kid), pk.Alg)
	}
	pub, err := checkPublic(pk)
	if err != nil {
		return Verified{}, invalidf("verification key: %v", err)
	}
	sig, err := b64.Strict().DecodeString(seg.sig)
	if err != nil {
		return Verified{}, invalidAs(nil, "%w: could not base64 decode signature: %w", jwt.ErrTokenMalformed, err)
	}
	if err := verifySignature(pk.Alg, pub, seg.signingInput, sig); err != nil {
		return Verified{}, invalidAs(nil, "%w: %w", jwt.ErrTokenSignatureInvalid, err)
	}
	// The claims are only decoded once the signature has vouched for them.
	raw, err := b64.Strict().DecodeString(seg.payload)
	if err != nil {
		return Verified{}, invalidAs(nil, "%w: could not base64 decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	claims, err := decodeAccessClaims(raw)
	if err != nil {
		return Verified{}, invalidAs(nil, "%w: could not JSON decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	vopts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if !opts.AnyAudience {
		vopts = append(vopts, jwt.WithAudience(opts.Audience))
	}
	if err := jwt.NewValidator(vopts...).Validate(claims.RegisteredClaims); err != nil {
		return Verified{}, libError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	// Claims golang-jwt leaves optional even with the options above.
	switch {
	case claims.IssuedAt == nil:
		return Verified{}, invalidf("iat claim is required")
	case len(claims.Audience) == 0 || hasEmpty(claims.Audience):
		return Verified{}, invalidf("aud claim is required and may not contain empty values")
	case claims.Subject == "":
		return Verified{}, invalidf("sub claim is required")
	case claims.ID == "":
		return Verified{}, invalidf("jti claim is required")
	case claims.ClientID == "":
		return Verified{}, invalidf("client_id claim is required")
	}
	// Revocation last: it may hit storage, and only genuine tokens deserve that.
	if opts.IsRevoked != nil {
		revoked, err := opts.IsRevoked(claims.ID)
		if err != nil {
			return Verified{}, invalidf("revocation check for jti %q: %w", short(claims.ID), err)
		}
		if revoked {
			return Verified{}, invalidAs([]error{ErrRevoked}, "token revoked: jti %q", short(claims.ID))
		}
	}
	return Verified{Claims: claims, Header: h.asMap(), Kid: h.kid, Alg: pk.Alg}, nil
}
