package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/tokens"
)

// VerifierConfig configures a Verifier. Issuer and Audience are required,
// and one of URL or JWKSURL.
type VerifierConfig struct {
	// URL is jitdesk's base URL: the JWKS is found through its discovery
	// document (/.well-known/oauth-authorization-server), else at
	// /.well-known/jwks.json.
	URL string
	// JWKSURL names the key set directly, skipping discovery.
	JWKSURL string
	// Issuer is jitdesk's issuer (its --issuer): the exact iss required.
	Issuer string
	// Audience is this service's audience (the application's --audience):
	// an exact aud entry required.
	Audience string
	// HTTPClient fetches the discovery document and the JWKS;
	// http.DefaultClient when nil.
	HTTPClient *http.Client
	// CacheTTL is how long a fetched key set is used before it is fetched
	// again (default 5 minutes). A token signed by a key not in the cached
	// set triggers a refetch sooner, at most once per MinRefresh.
	CacheTTL time.Duration
	// MinRefresh spaces refetches caused by unknown key ids (default 30s),
	// so a flood of forged kids cannot hammer jitdesk.
	MinRefresh time.Duration
	// Introspect, when set, also asks jitdesk (RFC 7662, as that
	// application) whether each token is still active, so a revoked token
	// is refused before it expires. It costs one call per verification.
	Introspect *Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat (at most tokens.MaxLeeway).
	Leeway time.Duration
}

// Verifier checks jitdesk access tokens offline against jitdesk's published
// keys, with jitdesk's own rules (tokens.VerifyAccess). Safe for
// concurrent use.
type Verifier struct {
	cfg  VerifierConfig
	base *url.URL // nil when JWKSURL was given
	hc   *http.Client
	now  func() time.Time

	mu        sync.Mutex
	jwksURL   string
	keys      map[string]tokens.PublicKey
	fetchedAt time.Time // of keys
	triedAt   time.Time // last fetch attempt, successful or not
}

// NewVerifier checks cfg and returns a Verifier. It makes no network call;
// the keys are fetched on first use.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{cfg: cfg, hc: cfg.HTTPClient, now: cfg.Now, jwksURL: cfg.JWKSURL}
	switch {
	case cfg.Issuer == "":
		return nil, fmt.Errorf("%w: VerifierConfig.Issuer is required: jitdesk's --issuer", ErrConfig)
	case cfg.Audience == "":
		return nil, fmt.Errorf("%w: VerifierConfig.Audience is required: this service's audience (the application's --audience)", ErrConfig)
	case cfg.URL == "" && cfg.JWKSURL == "":
		return nil, fmt.Errorf("%w: VerifierConfig needs URL (jitdesk's base URL) or JWKSURL", ErrConfig)
	case cfg.Leeway < 0 || cfg.Leeway > tokens.MaxLeeway:
		return nil, fmt.Errorf("%w: VerifierConfig.Leeway must be between 0 and %s", ErrConfig, tokens.MaxLeeway)
	}
	if cfg.JWKSURL != "" {
		if _, err := parseBase(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("%w: JWKSURL: %v", ErrConfig, err)
		}
	} else {
		b, err := parseBase(cfg.URL)
		if err != nil {
			return nil, err
		}
		v.base = b
	}
	if v.hc == nil {
		v.hc = http.DefaultClient
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.cfg.CacheTTL <= 0 {
		v.cfg.CacheTTL = 5 * time.Minute
	}
	if v.cfg.MinRefresh <= 0 {
		v.cfg.MinRefresh = 30 * time.Second
	}
	return v, nil
}

// Verify checks token and, when scope is not empty, that its scope claim
// holds scope. It returns the claims, including the jit object saying which
// request and approvers granted the access. Every refusal wraps
// ErrAccessDenied and the reason: tokens.ErrExpired, tokens.ErrRevoked,
// tokens.ErrInvalidToken (bad signature, wrong iss, aud or typ, unknown
// key) or ErrInsufficientScope; a key set that cannot be fetched is ErrKeySet.
func (v *Verifier) Verify(ctx context.Context, token, scope string) (tokens.AccessClaims, error) {
	keys, err := v.keySet(ctx, false)
	if err != nil {
		return tokens.AccessClaims{}, err
	}
	opts := tokens.VerifyOptions{
		Issuer: v.cfg.Issuer, Audience: v.cfg.Audience, Now: v.now, Leeway: v.cfg.Leeway,
	}
	if c := v.cfg.Introspect; c != nil {
		opts.IsRevoked = func(string) (bool, error) {
			in, err := c.Introspect(ctx, token)
			if err != nil {
				return false, err
			}
			return !in.Active, nil
		}
	}
	opts.Keys = lookup(keys)
	ver, err := tokens.VerifyAccess(token, opts)
	if errors.Is(err, tokens.ErrUnknownKey) {
		// Perhaps jitdesk rotated keys since the set was cached.
		if fresh, ferr := v.keySet(ctx, true); ferr == nil {
			opts.Keys = lookup(fresh)
			ver, err = tokens.VerifyAccess(token, opts)
		}
	}
	if err != nil {
		return tokens.AccessClaims{}, v.refusal(err)
	}
	if scope != "" && !slices.Contains(strings.Fields(ver.Claims.Scope), scope) {
		return tokens.AccessClaims{}, fmt.Errorf("%w: %w: token scope %q does not include %q; ask jitdesk for access with that template",
			ErrAccessDenied, ErrInsufficientScope, ver.Claims.Scope, scope)
	}
	return ver.Claims, nil
}

// refusal wraps a verification error with ErrAccessDenied and a hint for
// the mistakes an integrator makes, rather than the attacks a token makes.
func (v *Verifier) refusal(err error) error {
	hint := ""
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		hint = fmt.Sprintf(" (this verifier expects iss %q: set VerifierConfig.Issuer to jitdesk's --issuer)", v.cfg.Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		hint = fmt.Sprintf(" (this verifier expects aud %q: set VerifierConfig.Audience to the application's --audience)", v.cfg.Audience)
	case errors.Is(err, tokens.ErrExpired):
		hint = " (ask jitdesk for access again)"
	case errors.Is(err, tokens.ErrRevoked):
		hint = " (the grant was revoked; ask jitdesk for access again)"
	case errors.Is(err, tokens.ErrUnknownKey):
		hint = " (no key in jitdesk's published key set has that kid: a forged token, or one from another jitdesk)"
	}
	return fmt.Errorf("%w: %w%s", ErrAccessDenied, err, hint)
}

func lookup(keys map[string]tokens.PublicKey) func(string) (tokens.PublicKey, bool) {
	return func(kid string) (tokens.PublicKey, bool) {
		k, ok := keys[kid]
		return k, ok
	}
}

// keySet returns the cached keys, fetching them when the cache is empty or
// stale, or when refresh asks for it (an unknown kid) and MinRefresh has
// passed since the last try. A failed refetch keeps the stale keys in use.
func (v *Verifier) keySet(ctx context.Context, refresh bool) (map[string]tokens.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	have := v.keys != nil
	stale := !have || now.Sub(v.fetchedAt) >= v.cfg.CacheTTL
	if !stale && !refresh {
		return v.keys, nil
	}
	if have && now.Sub(v.triedAt) < v.cfg.MinRefresh {
		if refresh {
			return v.keys, errors.New("refreshed too recently")
		}
		return v.keys, nil
	}
	v.triedAt = now
	keys, err := v.fetch(ctx)
	if err != nil {
		if have {
			return v.keys, nil
		}
		return nil, err
	}
	v.keys, v.fetchedAt = keys, now
	return keys, nil
}

// fetch reads the JWKS (finding its URL through discovery first) and keeps
// only keys tokens.JWK.PublicKey accepts (kid = thumbprint, alg fits kty).
func (v *Verifier) fetch(ctx context.Context) (map[string]tokens.PublicKey, error) {
	if v.jwksURL == "" {
		d, err := discover(ctx, v.hc, v.base)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
		}
		if d.Issuer != "" && d.Issuer != v.cfg.Issuer {
			return nil, fmt.Errorf("%w: jitdesk at %s says its issuer is %q but this verifier expects %q: set VerifierConfig.Issuer to jitdesk's --issuer",
				ErrKeySet, v.base, d.Issuer, v.cfg.Issuer)
		}
		v.jwksURL = d.JWKSURI
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySet, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %w", ErrKeySet, v.jwksURL, &UnavailableError{Op: "fetch JWKS", URL: v.jwksURL, Err: err})
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch %s: HTTP %d", ErrKeySet, v.jwksURL, res.StatusCode)
	}
	var set tokens.JWKS
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: %s is not a JWKS: %v", ErrKeySet, v.jwksURL, err)
	}
	keys := make(map[string]tokens.PublicKey, len(set.Keys))
	for _, j := range set.Keys {
		if pk, err := j.PublicKey(); err == nil {
			keys[pk.Kid] = pk
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s holds no usable key", ErrKeySet, v.jwksURL)
	}
	return keys, nil
}
