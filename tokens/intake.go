package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IntakeClaims are the claims of an intake token: iss is the application
// id, aud jitdesk's issuer, sub the user asking, jti a single-use nonce.
type IntakeClaims struct {
	jwt.RegisteredClaims
}

// MaxIntakeLifetime bounds how long an intake token lives (exp − iat) and
// how far ahead its exp may be, so a leaked token is useless quickly and the
// replay cache only has to remember jtis this long.
const MaxIntakeLifetime = 5 * time.Minute

// MinSecretLen is the shortest application secret accepted: HS256 is only
// as strong as its key, and 32 bytes matches the hash output (RFC 7518 §3.2).
const MinSecretLen = 32

// MaxJTILen bounds intake jtis, since the caller stores them for replay checks.
const MaxJTILen = 128

// maxIssLen bounds the application id looked up from an unauthenticated token.
const maxIssLen = 256

// NewSecret returns a fresh 32-byte application secret from crypto/rand.
func NewSecret() ([]byte, error) {
	b := make([]byte, MinSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("new secret: %w", err)
	}
	return b, nil
}

// SecretStringPrefix starts every secret NewSecretString makes, so a leaked
// one is recognisable (by secret scanners, and by a developer wondering what
// a string is).
const SecretStringPrefix = "jds_"

// NewSecretString returns a fresh printable application secret:
// SecretStringPrefix and then 32 random bytes as unpadded base64url (47
// characters in all). The HMAC key is the UTF-8 bytes of this whole string,
// exactly as printed, which is what jwt.sign(payload, secret) in Node and
// most JWT libraries do with a string secret; it is never decoded.
func NewSecretString() (string, error) {
	b, err := NewSecret()
	if err != nil {
		return "", err
	}
	return SecretStringPrefix + b64.EncodeToString(b), nil
}

// checkIntakeClaims holds the clock-independent rules; SignIntake applies
// them so an application (or a test) learns at signing time what
// VerifyIntake would refuse.
func checkIntakeClaims(c IntakeClaims) error {
	switch {
	case c.Issuer == "":
		return errors.New("iss claim is required: it names the application")
	case len(c.Issuer) > maxIssLen:
		return fmt.Errorf("iss claim is %d bytes, over %d", len(c.Issuer), maxIssLen)
	case c.Subject == "":
		return errors.New("sub claim is required: it names the user asking")
	case c.ID == "":
		return errors.New("jti claim is required: each intake token is single-use")
	case len(c.ID) > MaxJTILen:
		return fmt.Errorf("jti claim is %d bytes, over %d", len(c.ID), MaxJTILen)
	case len(c.Audience) == 0 || hasEmpty(c.Audience):
		return errors.New("aud claim is required: it is jitdesk's issuer")
	case c.IssuedAt == nil:
		return errors.New("iat claim is required")
	case c.ExpiresAt == nil:
		return errors.New("exp claim is required")
	}
	life := c.ExpiresAt.Sub(c.IssuedAt.Time)
	if life <= 0 {
		return errors.New("exp must be after iat")
	}
	if life > MaxIntakeLifetime {
		return fmt.Errorf("lifetime exp - iat is %s, over the %s maximum", life, MaxIntakeLifetime)
	}
	return nil
}

// SignIntake signs an intake token with an application's secret: HS256,
// typ "JWT". It refuses a short secret and claims VerifyIntake would refuse
// regardless of the clock.
func SignIntake(secret []byte, c IntakeClaims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("sign intake token: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if err := checkIntakeClaims(c); err != nil {
		return "", fmt.Errorf("sign intake token: %w", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["typ"] = "JWT"
	s, err := tok.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign intake token: %w", err)
	}
	return s, nil
}

// IntakeOptions configure VerifyIntake. All fields but Leeway are required.
type IntakeOptions struct {
	Issuer string                             // jitdesk's issuer: the required aud
	Secret func(appID string) ([]byte, error) // that application's secret and nothing else
	Now    func() time.Time
	Leeway time.Duration // clock skew allowed on exp, nbf and iat; at most MaxLeeway
}

func (o IntakeOptions) check() error {
	switch {
	case o.Issuer == "":
		return errors.New("verify intake token: options: Issuer is required")
	case o.Secret == nil:
		return errors.New("verify intake token: options: Secret is required")
	case o.Now == nil:
		return errors.New("verify intake token: options: Now is required")
	case o.Leeway < 0:
		return errors.New("verify intake token: options: Leeway is negative")
	case o.Leeway > MaxLeeway:
		return fmt.Errorf("verify intake token: options: Leeway %s is over the %s maximum", o.Leeway, MaxLeeway)
	}
	return nil
}

// VerifyIntake verifies an application's intake token: HS256 only with the
// secret of the application named by iss (at least MinSecretLen bytes), not
// typed as an access token, aud containing opts.Issuer, exp and iat required
// with exp − iat ≤ MaxIntakeLifetime and exp no further ahead than that,
// sub and jti (≤ MaxJTILen) present. Replay is the caller's job: it must
// burn the jti. Every error about the token wraps ErrInvalidToken (an
// expired one also ErrExpired, and an error from opts.Secret is wrapped too,
// so the caller can tell "no such application" from a storage failure, and
// a bad signature also jwt.ErrTokenSignatureInvalid, with a message saying
// what the developer should check); errors about opts themselves do not.
// The secret is used as given: for a secret from NewSecretString, the
// caller passes the bytes of the printed string.
func VerifyIntake(token string, opts IntakeOptions) (IntakeClaims, error) {
	if err := opts.check(); err != nil {
		return IntakeClaims{}, err
	}
	seg, err := split(token)
	if err != nil {
		return IntakeClaims{}, err
	}
	h, err := parseHeader(seg.header)
	if err != nil {
		return IntakeClaims{}, err
	}
	if h.forbidden != "" {
		return IntakeClaims{}, forbiddenHeaderError(h.forbidden)
	}
	if err := checkAlg(h); err != nil {
		return IntakeClaims{}, err
	}
	// typ before alg, so an access token presented here gets the precise reason.
	if h.typErr {
		return IntakeClaims{}, invalidf("header typ is not a string")
	}
	if h.hasTyp && isAccessTyp(h.typ) {
		return IntakeClaims{}, invalidf("typ %q is an access token, not an intake token", short(h.typ))
	}
	// Media types are case-insensitive (RFC 8725 §3.11, RFC 7515 §4.1.9).
	if h.hasTyp && !strings.EqualFold(h.typ, "JWT") && !strings.EqualFold(h.typ, "application/jwt") {
		return IntakeClaims{}, invalidf("typ %q is not accepted for intake tokens: use JWT or omit it", short(h.typ))
	}
	if h.alg != jwt.SigningMethodHS256.Alg() {
		return IntakeClaims{}, invalidf("alg %q is not accepted for intake tokens: sign with HS256", short(h.alg))
	}
	sig, err := b64.Strict().DecodeString(seg.sig)
	if err != nil {
		return IntakeClaims{}, invalidAs(nil, "%w: could not base64 decode signature: %w", jwt.ErrTokenMalformed, err)
	}
	raw, err := b64.Strict().DecodeString(seg.payload)
	if err != nil {
		return IntakeClaims{}, invalidAs(nil, "%w: could not base64 decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	// The claims are decoded but unauthenticated here: iss only picks which
	// secret to try, and must be sane before it reaches storage.
	claims, err := decodeIntakeClaims(raw)
	if err != nil {
		return IntakeClaims{}, invalidAs(nil, "%w: could not JSON decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	iss := claims.Issuer
	if iss == "" {
		return IntakeClaims{}, invalidf("iss claim is required: it names the application")
	}
	if len(iss) > maxIssLen {
		return IntakeClaims{}, invalidf("iss claim is %d bytes, over %d", len(iss), maxIssLen)
	}
	secret, err := opts.Secret(iss)
	if err != nil {
		return IntakeClaims{}, invalidf("iss %q: %w", short(iss), err)
	}
	// An empty or short key would make HMAC forgeable; never accept it.
	if len(secret) < MinSecretLen {
		return IntakeClaims{}, invalidf("application %q has an unusable secret (%d bytes, need at least %d)", short(iss), len(secret), MinSecretLen)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(seg.signingInput))
	if !hmac.Equal(mac.Sum(nil), sig) {
		// The usual causes, in the order developers hit them; nothing here
		// depends on the secret or says how close the MAC came.
		return IntakeClaims{}, invalidAs([]error{jwt.ErrTokenSignatureInvalid},
			"signature does not verify: sign with the application's secret exactly as printed (the whole string, not a decoding of it), with iss = the application id and aud = %s; check the clock too",
			opts.Issuer)
	}
	validator := jwt.NewValidator(
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(opts.Issuer),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	)
	if err := validator.Validate(claims.RegisteredClaims); err != nil {
		return IntakeClaims{}, libError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	if err := checkIntakeClaims(claims); err != nil {
		return IntakeClaims{}, invalidf("%v", err)
	}
	// Implied by iat not being in the future and the lifetime bound, but
	// checked directly because the caller's replay cache relies on it: a jti
	// need only be remembered until now + MaxIntakeLifetime + leeway.
	if limit := opts.Now().Add(MaxIntakeLifetime + opts.Leeway); claims.ExpiresAt.After(limit) {
		return IntakeClaims{}, invalidf("exp is %s ahead, over the %s maximum", claims.ExpiresAt.Sub(opts.Now()).Round(time.Second), MaxIntakeLifetime)
	}
	return claims, nil
}
