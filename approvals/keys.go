package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/tokens"
)

func jwtTime(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// parsedKey returns the parsed signing key, cached by kid (key material for
// a kid never changes, and parsing RSA keys is not free).
func (s *Service) parsedKey(k SigningKey) (tokens.Key, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if pk, ok := s.keys[k.Kid]; ok {
		return pk, nil
	}
	alg, err := tokens.ParseAlg(k.Alg)
	if err != nil {
		return tokens.Key{}, err
	}
	der, err := s.unseal(sealSigningKey, k.Kid, k.Private)
	if err != nil {
		return tokens.Key{}, err
	}
	pk, err := tokens.ParsePrivate(alg, der, k.CreatedAt)
	if err != nil {
		return tokens.Key{}, fmt.Errorf("signing key %s: %w", k.Kid, err)
	}
	if pk.Kid != k.Kid {
		return tokens.Key{}, fmt.Errorf("signing key %s: stored kid does not match its thumbprint %s", k.Kid, pk.Kid)
	}
	s.keys[k.Kid] = pk
	return pk, nil
}

// JWKSMaxAge is how long a verifier may cache the published key set (the
// JWKS answer's Cache-Control max-age). A staged rotation publishes the
// next key this long before it signs, so no cached key set meets an
// unknown kid.
const JWKSMaxAge = 5 * time.Minute

// signsAt reports whether k is the kind of key that signs at now: already
// activated and not yet retired.
func signsAt(k SigningKey, now time.Time) bool {
	return !now.Before(k.ActivatesAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt))
}

// pendingAt reports whether k is published but does not sign yet.
func pendingActivation(k SigningKey, now time.Time) bool {
	return now.Before(k.ActivatesAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt))
}

// activeKey is the signing key of now: the newest one activated and not
// retired.
func (s *Service) activeKey(tx ReadTx) (tokens.Key, error) {
	keys, err := tx.SigningKeys()
	if err != nil {
		return tokens.Key{}, err
	}
	now := s.Now()
	for _, k := range keys {
		if signsAt(k, now) {
			return s.parsedKey(k)
		}
	}
	return tokens.Key{}, errors.New("no active signing key: run `jitdesk init` or `jitdesk keys rotate`")
}

// Init makes sure a signing key exists; it is safe to run again.
func (s *Service) Init(ctx context.Context, actor string) (created bool, err error) {
	err = s.store.Update(ctx, func(tx Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		now := s.Now()
		for _, k := range keys {
			if signsAt(k, now) || pendingActivation(k, now) {
				return nil
			}
		}
		created = true
		_, err = s.addKey(tx, actor, tokens.EdDSA)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("init: %w", err)
	}
	return created, nil
}

func (s *Service) addKey(tx Tx, actor string, alg tokens.Alg) (SigningKey, error) {
	return s.addKeyFrom(tx, actor, alg, time.Time{})
}

// addKeyFrom adds a key that signs from activatesAt (zero: at once).
func (s *Service) addKeyFrom(tx Tx, actor string, alg tokens.Alg, activatesAt time.Time) (SigningKey, error) {
	now := s.Now()
	k, err := tokens.GenerateKey(alg, now)
	if err != nil {
		return SigningKey{}, err
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		return SigningKey{}, err
	}
	sealed, err := s.seal(sealSigningKey, k.Kid, der)
	if err != nil {
		return SigningKey{}, err
	}
	sk := SigningKey{Kid: k.Kid, Alg: string(alg), Private: sealed, CreatedAt: now, ActivatesAt: activatesAt}
	if err := tx.InsertSigningKey(sk); err != nil {
		return SigningKey{}, err
	}
	change := map[string]any{"alg": string(alg)}
	if !activatesAt.IsZero() {
		change["activates_at"] = auditTime(activatesAt)
	}
	if err := s.audit(tx, now, actor, NewConfigChange(ActionKeyCreated, k.Kid, nil, change)); err != nil {
		return SigningKey{}, err
	}
	return sk, nil
}

// ErrRotationPending is returned by RotateKey while the previous
// rotation's key is published but not yet signing.
var ErrRotationPending = errors.New("a key rotation is already pending")

// RotateKey stages a new key of alg: it is published at once and signs
// from JWKSMaxAge later, when every cached copy of the key set has had time
// to see it (ActivateKey brings that forward). The key signing now retires
// then, and stays published until the last token it signed has expired.
func (s *Service) RotateKey(ctx context.Context, actor, alg string) (SigningKey, error) {
	a, err := tokens.ParseAlg(alg)
	if err != nil {
		return SigningKey{}, invalidf("%v", err)
	}
	var out SigningKey
	err = s.store.Update(ctx, func(tx Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		now := s.Now()
		at := now.Add(JWKSMaxAge)
		for _, k := range keys {
			if pendingActivation(k, now) {
				return fmt.Errorf("%w: %s signs from %s; run `jitdesk keys activate` to sign with it now, or wait", ErrRotationPending, k.Kid, k.ActivatesAt.UTC().Format(time.RFC3339))
			}
		}
		for _, k := range keys {
			if !signsAt(k, now) {
				continue
			}
			if err := tx.RetireSigningKey(k.Kid, at, k.PublishUntil); err != nil {
				return err
			}
			if err := s.audit(tx, now, actor, NewConfigChange(ActionKeyRetired, k.Kid, nil, map[string]any{"publish_until": auditTime(k.PublishUntil), "retires_at": auditTime(at)})); err != nil {
				return err
			}
		}
		out, err = s.addKeyFrom(tx, actor, a, at)
		return err
	})
	if err != nil {
		return SigningKey{}, fmt.Errorf("rotate key: %w", err)
	}
	out.Private = nil
	return out, nil
}

// ActivateKey makes the pending key of a staged rotation sign now (and
// retires the key it replaces now), for an operator who knows no verifier
// caches the key set longer. ErrNotFound when no rotation is pending.
func (s *Service) ActivateKey(ctx context.Context, actor string) (SigningKey, error) {
	var out SigningKey
	err := s.store.Update(ctx, func(tx Tx) error {
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		now := s.Now()
		for _, k := range keys {
			if !pendingActivation(k, now) {
				continue
			}
			if err := tx.ActivateSigningKey(k.Kid, now); err != nil {
				return err
			}
			out = k
			out.ActivatesAt, out.Private = now, nil
			return s.audit(tx, now, actor, NewConfigChange(ActionKeyActivated, k.Kid, map[string]any{"activates_at": auditTime(k.ActivatesAt)}, map[string]any{"activates_at": auditTime(now)}))
		}
		return fmt.Errorf("%w: no key rotation is pending (`jitdesk keys rotate` stages one)", ErrNotFound)
	})
	if err != nil {
		return SigningKey{}, fmt.Errorf("activate key: %w", err)
	}
	return out, nil
}

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	Kid          string
	Alg          string
	CreatedAt    time.Time
	RetiredAt    time.Time
	PublishUntil time.Time
	// ActivatesAt is when a staged key starts signing (zero: it did at creation).
	ActivatesAt time.Time
	Active      bool // signs new tokens now
	// Pending is a staged key: published, signing from ActivatesAt.
	Pending   bool
	Published bool
}

// Keys lists signing keys, newest first, without private material.
func (s *Service) Keys(ctx context.Context) ([]KeyInfo, error) {
	var keys []SigningKey
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		keys, err = tx.SigningKeys()
		return err
	})
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo{
			Kid: k.Kid, Alg: k.Alg, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil, ActivatesAt: k.ActivatesAt,
			Active: signsAt(k, now), Pending: pendingActivation(k, now), Published: published(k, now),
		})
	}
	return out, nil
}

// published reports whether k's public key is in the key set at now: from
// its creation (a staged key before it signs) until the last token it
// signed has expired.
func published(k SigningKey, now time.Time) bool {
	return k.RetiredAt.IsZero() || now.Before(k.RetiredAt) || now.Before(k.PublishUntil)
}

// publicKeys returns the verification keys that are still published.
func (s *Service) publicKeys(tx ReadTx) (map[string]tokens.PublicKey, error) {
	keys, err := tx.SigningKeys()
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := map[string]tokens.PublicKey{}
	for _, k := range keys {
		if !published(k, now) {
			continue
		}
		pk, err := s.parsedKey(k)
		if err != nil {
			return nil, err
		}
		out[k.Kid] = pk.PublicKey()
	}
	return out, nil
}

// JWKS returns the published public keys.
func (s *Service) JWKS(ctx context.Context) (tokens.JWKS, error) {
	var keys map[string]tokens.PublicKey
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		keys, err = s.publicKeys(tx)
		return err
	})
	if err != nil {
		return tokens.JWKS{}, fmt.Errorf("jwks: %w", err)
	}
	list := make([]tokens.PublicKey, 0, len(keys))
	for _, k := range keys {
		list = append(list, k)
	}
	slices.SortFunc(list, func(a, b tokens.PublicKey) int {
		if a.Kid < b.Kid {
			return -1
		}
		return 1
	})
	return tokens.NewJWKS(list), nil
}

// VerifiedToken is an access token that passed every check, with its grant.
type VerifiedToken struct {
	tokens.Verified
	Grant Grant
}

// VerifyToken fully verifies an access token against this deployment's keys:
// signature, algorithm, typ, iss, exp/nbf/iat, that it is a grant this
// jitdesk issued, that aud is that grant's audience, and that it is not
// revoked. audience, when set, must also match.
func (s *Service) VerifyToken(ctx context.Context, token, audience string) (VerifiedToken, error) {
	var out VerifiedToken
	err := s.store.View(ctx, func(tx ReadTx) error {
		keys, err := s.publicKeys(tx)
		if err != nil {
			return err
		}
		v, err := tokens.VerifyAccess(token, tokens.VerifyOptions{
			Issuer:      s.issuer,
			Audience:    audience,
			AnyAudience: audience == "",
			Keys: func(kid string) (tokens.PublicKey, bool) {
				k, ok := keys[kid]
				return k, ok
			},
			Now:    s.Now,
			Leeway: 30 * time.Second,
			IsRevoked: func(jti string) (bool, error) {
				g, err := tx.Grant(jti)
				if err != nil {
					return false, fmt.Errorf("jti %q is not a grant issued here: %w", jti, err)
				}
				return g.Revoked(), nil
			},
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		g, err := tx.Grant(v.Claims.ID)
		if err != nil {
			return fmt.Errorf("%w: jti %q is not a grant issued here", ErrUnauthenticated, v.Claims.ID)
		}
		if !slices.Contains(v.Claims.Audience, g.Audience) || len(v.Claims.Audience) != 1 {
			return fmt.Errorf("%w: aud %v is not the grant's audience %q", ErrUnauthenticated, []string(v.Claims.Audience), g.Audience)
		}
		out = VerifiedToken{Verified: v, Grant: g}
		return nil
	})
	if err != nil {
		return VerifiedToken{}, fmt.Errorf("verify token: %w", err)
	}
	return out, nil
}

// Token returns the grant with its token of an approved request, to the
// application that made it (its pick-up): appID is required and must own
// the request. Approvers see tokens through RevealToken. Errors:
// ErrNotFound, ErrNotPending while the request is pending, ErrRevoked, or
// the request's final status.
func (s *Service) Token(ctx context.Context, requestID, appID string) (Grant, error) {
	if appID == "" {
		return Grant{}, invalidf("token pick-up is the calling application's; an approver sees a token with RevealToken")
	}
	var d Detail
	var g Grant
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		if d, err = loadDetail(tx, requestID); err != nil {
			return err
		}
		if d.Request.AppID != appID {
			return ErrNotFound
		}
		if d.Grant != nil {
			if g, err = tx.GrantByRequest(requestID); err != nil { // with the token loadDetail leaves out
				return err
			}
			g.Token, err = s.openToken(g)
		}
		return err
	})
	if err != nil {
		return Grant{}, fmt.Errorf("request %s: %w", requestID, err)
	}
	if d.Grant == nil {
		return Grant{}, &StatusError{Status: d.Request.Status, Request: d.Request}
	}
	if g.Revoked() {
		g.Token = ""
		return g, fmt.Errorf("request %s: %w by %s at %s", requestID, ErrRevoked, g.RevokedBy, g.RevokedAt.Format(time.RFC3339))
	}
	return g, nil
}

// StatusError says a request has no token because of its status.
type StatusError struct {
	Status  Status
	Request Request
}

func (e *StatusError) Error() string {
	if e.Status == StatusPending {
		return fmt.Sprintf("request %s is still pending (%d approval(s) so far); no token yet", e.Request.ID, e.Request.Approvals)
	}
	return fmt.Sprintf("request %s was %s by %s at %s; it has no token", e.Request.ID, e.Status, e.Request.DecidedBy, e.Request.DecidedAt.Format(time.RFC3339))
}

// Is lets errors.Is(err, ErrNotPending) match decided requests.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotPending && e.Status != StatusPending
}

// errReadyProbe ends Ready's write transaction without keeping anything.
var errReadyProbe = errors.New("ready probe: rolled back")

// Ready reports whether this service can do its work now: the database
// takes a write transaction (rolled back at once) at the current schema,
// and a signing key is loaded. Serve answers /readyz with it.
func (s *Service) Ready(ctx context.Context) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := s.activeKey(tx); err != nil {
			return err
		}
		return errReadyProbe
	})
	if errors.Is(err, errReadyProbe) {
		return nil
	}
	return fmt.Errorf("not ready: %w", err)
}
