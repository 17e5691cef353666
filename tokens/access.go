package tokens

import (
	"errors"
	"fmt"
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
	BreakGlass       bool              `json:"break_glass,omitempty"`
}

// signingMethod maps an Alg to golang-jwt's method; there is one per Alg.
func signingMethod(alg Alg) (jwt.SigningMethod, error) {
	switch alg {
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("unknown signing algorithm %q: use one of EdDSA, RS256, ES256", string(alg))
}

// IssueAccess signs claims with key. The header is alg = key.Alg,
// typ = at+jwt and kid = key.Kid. It refuses claims missing iss, sub, aud,
// exp, iat, jti or client_id, or with exp not after iat, because
// VerifyAccess would refuse such a token anyway and it is better to fail
// at the issuer than at every resource server.
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
	method, err := signingMethod(key.Alg)
	if err != nil {
		return "", fmt.Errorf("issue access token: %w", err)
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = key.Kid
	s, err := tok.SignedString(key.Private)
	if err != nil {
		return "", fmt.Errorf("issue access token: sign with %s: %w", key.Kid, err)
	}
	return s, nil
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
// that key's one algorithm), signature with strict base64, then claims
// (exact iss, aud, exp required, iat required and not in the future, nbf,
// sub, jti, client_id) and finally revocation. Every error wraps
// ErrInvalidToken; an unknown kid's also wraps ErrUnknownKey, an expired
// token's ErrExpired and a revoked token's ErrRevoked. Errors about opts
// themselves (a caller's bug, not a bad token) do not wrap ErrInvalidToken.
func VerifyAccess(token string, opts VerifyOptions) (Verified, error) {
	if err := opts.check(); err != nil {
		return Verified{}, err
	}
	if err := precheck(token); err != nil {
		return Verified{}, err
	}
	h, err := decodeHeader(token)
	if err != nil {
		return Verified{}, err
	}
	alg, err := checkCommonHeader(h)
	if err != nil {
		return Verified{}, err
	}
	// Explicit typing (RFC 8725 §3.11) stops an intake or ID token being
	// replayed as an access token.
	typ, present, err := headerTyp(h)
	if err != nil {
		return Verified{}, err
	}
	if !present {
		return Verified{}, invalidf("header typ is missing: access tokens are typed at+jwt")
	}
	if !isAccessTyp(typ) {
		return Verified{}, invalidf("typ %q is not at+jwt", short(typ))
	}
	kid, ok := h["kid"].(string)
	if !ok || kid == "" {
		return Verified{}, invalidf("header kid is missing or not a string")
	}
	pk, ok := opts.Keys(kid)
	if !ok {
		return Verified{}, invalidAs([]error{ErrUnknownKey}, "unknown kid %q", short(kid))
	}
	// The header's alg must be the key's own algorithm: this is what stops
	// an HS256 token "signed" with a public key, and any alg downgrade.
	if alg != string(pk.Alg) {
		return Verified{}, invalidf("alg %q does not match key %q, which is %s", short(alg), short(kid), pk.Alg)
	}
	pub, err := checkPublic(pk)
	if err != nil {
		return Verified{}, invalidf("verification key: %v", err)
	}

	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{string(pk.Alg)}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if !opts.AnyAudience {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	var (
		claims AccessClaims
		kerr   error
	)
	tok, err := jwt.NewParser(popts...).ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// Re-check against the library's own decoding of the header, so our
		// view of kid and alg and the one it verifies with cannot differ.
		if t.Header["kid"] != kid || t.Header["alg"] != string(pk.Alg) {
			kerr = invalidf("header changed between decodings")
			return nil, kerr
		}
		return pub, nil
	})
	if kerr != nil {
		return Verified{}, kerr
	}
	if err != nil {
		return Verified{}, libError(err)
	}
	if tok == nil || !tok.Valid {
		return Verified{}, invalidf("token did not validate")
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
	return Verified{Claims: claims, Header: tok.Header, Kid: kid, Alg: pk.Alg}, nil
}
