package tokens

import (
	"crypto/rand"
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
// so the caller can tell "no such application" from a storage failure);
// errors about opts themselves do not.
func VerifyIntake(token string, opts IntakeOptions) (IntakeClaims, error) {
	if err := opts.check(); err != nil {
		return IntakeClaims{}, err
	}
	if err := precheck(token); err != nil {
		return IntakeClaims{}, err
	}
	h, err := decodeHeader(token)
	if err != nil {
		return IntakeClaims{}, err
	}
	alg, err := checkCommonHeader(h)
	if err != nil {
		return IntakeClaims{}, err
	}
	// typ before alg, so an access token presented here gets the precise reason.
	typ, present, err := headerTyp(h)
	if err != nil {
		return IntakeClaims{}, err
	}
	if present && isAccessTyp(typ) {
		return IntakeClaims{}, invalidf("typ %q is an access token, not an intake token", short(typ))
	}
	// Media types are case-insensitive (RFC 8725 §3.11, RFC 7515 §4.1.9).
	if present && !strings.EqualFold(typ, "JWT") && !strings.EqualFold(typ, "application/jwt") {
		return IntakeClaims{}, invalidf("typ %q is not accepted for intake tokens: use JWT or omit it", short(typ))
	}
	if alg != jwt.SigningMethodHS256.Alg() {
		return IntakeClaims{}, invalidf("alg %q is not accepted for intake tokens: sign with HS256", short(alg))
	}

	var (
		claims IntakeClaims
		kerr   error
	)
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(opts.Issuer),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	)
	tok, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if t.Header["alg"] != jwt.SigningMethodHS256.Alg() {
			kerr = invalidf("header changed between decodings")
			return nil, kerr
		}
		// The claims are decoded but unauthenticated here: iss only picks
		// which secret to try, and must be sane before it reaches storage.
		iss := claims.Issuer
		if iss == "" {
			kerr = invalidf("iss claim is required: it names the application")
			return nil, kerr
		}
		if len(iss) > maxIssLen {
			kerr = invalidf("iss claim is %d bytes, over %d", len(iss), maxIssLen)
			return nil, kerr
		}
		secret, err := opts.Secret(iss)
		if err != nil {
			kerr = invalidf("iss %q: %w", short(iss), err)
			return nil, kerr
		}
		// An empty or short key would make HMAC forgeable; never accept it.
		if len(secret) < MinSecretLen {
			kerr = invalidf("application %q has an unusable secret (%d bytes, need at least %d)", short(iss), len(secret), MinSecretLen)
			return nil, kerr
		}
		return secret, nil
	})
	if kerr != nil {
		return IntakeClaims{}, kerr
	}
	if err != nil {
		return IntakeClaims{}, libError(err)
	}
	if tok == nil || !tok.Valid {
		return IntakeClaims{}, invalidf("token did not validate")
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
