// The downstream-service side: verify a jitdesk access token (RFC 9068)
// against jitdesk's published keys, found through discovery and cached.
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors as jose, jwtVerify } from 'jose';
import { baseURL, discover } from './client.js';
import { AccessDeniedError, ConfigError, JitdeskError, KeySetError } from './errors.js';

const ALGORITHMS = ['EdDSA', 'RS256', 'ES256'];
// Header parameters that let a token name or carry its own key (RFC 8725
// §3.10) or demand extensions: jitdesk never sends them.
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit'];

/**
 * A verifier with its own cached key set. Prefer one per (jitdesk, audience)
 * for the life of the process; verifyAccessToken() keeps one per
 * configuration for you.
 */
export class Verifier {
  #issuer; #audience; #base; #jwksUri; #fetch; #introspect; #clockTolerance; #keys; #cacheMaxAge; #cooldown;

  /**
   * @param {object} opts
   * @param {string} opts.issuer jitdesk's --issuer: the exact iss required
   * @param {string} opts.audience this service's audience (the application's --audience)
   * @param {string} [opts.url] jitdesk's base URL (discovery, else /.well-known/jwks.json); default: issuer
   * @param {string} [opts.jwksUri] the JWKS URL, skipping discovery
   * @param {{introspect(token: string): Promise<{active: boolean}>}} [opts.introspect] a Jitdesk client: also check revocation
   */
  constructor({ issuer, audience, url, jwksUri, introspect, fetch: fetchImpl, clockTolerance = 0,
    cacheMaxAge = 300000, cooldownDuration = 30000 } = {}) {
    if (!issuer) throw new ConfigError("jitdesk: verify: issuer is required: jitdesk's --issuer");
    if (!audience) throw new ConfigError("jitdesk: verify: audience is required: this service's audience (the application's --audience)");
    this.#issuer = issuer;
    this.#audience = audience;
    if (jwksUri) {
      this.#jwksUri = baseURL(jwksUri, 'jwksUri');
    } else {
      const from = url ?? issuer;
      try { this.#base = baseURL(from, 'url'); } catch {
        throw new ConfigError(`jitdesk: verify: give url (jitdesk's base URL) or jwksUri: issuer ${JSON.stringify(issuer)} is not a URL to discover keys from`);
      }
    }
    this.#fetch = fetchImpl ?? globalThis.fetch;
    this.#introspect = introspect;
    this.#clockTolerance = clockTolerance;
    this.#cacheMaxAge = cacheMaxAge;
    this.#cooldown = cooldownDuration;
  }

  // The key set, resolved once: discovery's jwks_uri (checking it names the
  // issuer we expect), else the conventional path. jose's remote set caches
  // the keys and refetches on an unknown kid at most once per cooldown.
  #keySet() {
    if (!this.#keys) {
      this.#keys = (async () => {
        let uri = this.#jwksUri;
        if (!uri) {
          let d;
          try { d = await discover(this.#base, this.#fetch); } catch (err) {
            throw new KeySetError(`jitdesk: verify: cannot find jitdesk's keys: ${err.message}`, { cause: err });
          }
          if (d.issuer && d.issuer !== this.#issuer) {
            throw new KeySetError(`jitdesk: verify: jitdesk at ${this.#base} says its issuer is ${JSON.stringify(d.issuer)} ` +
              `but this verifier expects ${JSON.stringify(this.#issuer)}: set issuer to jitdesk's --issuer`);
          }
          uri = d.jwks_uri;
        }
        const o = { cacheMaxAge: this.#cacheMaxAge, cooldownDuration: this.#cooldown };
        if (this.#fetch !== globalThis.fetch) o[customFetch] = this.#fetch;
        return createRemoteJWKSet(new URL(uri), o);
      })().catch((err) => { this.#keys = undefined; throw err; });
    }
    return this.#keys;
  }

  /**
   * Verifies `token` and, when `scope` is given, that its scope holds it.
   * Resolves to the claims (sub, scope, exp, jit: { request_id, approvers,
   * reason, metadata, ... }); rejects with AccessDeniedError (`reason` says
   * why) or KeySetError.
   */
  async verify(token, { scope, currentDate } = {}) {
    if (!token || typeof token !== 'string') throw new AccessDeniedError('jitdesk: no access token', { reason: 'missing' });
    let header;
    try { header = decodeProtectedHeader(token); } catch (err) {
      throw new AccessDeniedError('jitdesk: access token is malformed: not a JWT', { reason: 'malformed', cause: err });
    }
    for (const h of FORBIDDEN_HEADERS) {
      if (h in header) throw new AccessDeniedError(`jitdesk: access token header "${h}" is not accepted: keys come only from jitdesk's key set`, { reason: 'malformed' });
    }
    const keys = await this.#keySet();
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.#issuer, audience: this.#audience, typ: 'at+jwt', algorithms: ALGORITHMS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
        clockTolerance: this.#clockTolerance, currentDate,
      }));
    } catch (err) {
      throw this.#refusal(err);
    }
    if (scope && !String(payload.scope ?? '').split(' ').includes(scope)) {
      throw new AccessDeniedError(`jitdesk: access token scope ${JSON.stringify(payload.scope ?? '')} does not include ${JSON.stringify(scope)}: ask jitdesk for access with that template`, { reason: 'scope' });
    }
    if (this.#introspect) {
      let r;
      try { r = await this.#introspect.introspect(token); } catch (err) {
        throw new AccessDeniedError(`jitdesk: revocation check failed, so the token is refused: ${err.message}`, { reason: 'revoked', cause: err });
      }
      if (!r?.active) throw new AccessDeniedError('jitdesk: access token was revoked (introspection says inactive); ask jitdesk for access again', { reason: 'revoked' });
    }
    return payload;
  }

  #refusal(err) {
    if (err instanceof JitdeskError) return err;
    if (err instanceof jose.JWTExpired) {
      return new AccessDeniedError('jitdesk: access token expired; ask jitdesk for access again', { reason: 'expired', cause: err });
    }
    if (err instanceof jose.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'iss': return new AccessDeniedError(`jitdesk: access token issuer is not ${JSON.stringify(this.#issuer)}: set issuer to jitdesk's --issuer`, { reason: 'issuer', cause: err });
        case 'aud': return new AccessDeniedError(`jitdesk: access token audience does not include ${JSON.stringify(this.#audience)}: set audience to the application's --audience`, { reason: 'audience', cause: err });
        case 'typ': return new AccessDeniedError('jitdesk: token is not an access token (typ is not at+jwt)', { reason: 'typ', cause: err });
        case 'nbf': return new AccessDeniedError('jitdesk: access token is not valid yet (check the clock)', { reason: 'not_yet_valid', cause: err });
        default: return new AccessDeniedError(`jitdesk: access token claim ${err.claim}: ${err.reason}`, { reason: 'claims', cause: err });
      }
    }
    if (err instanceof jose.JWKSNoMatchingKey) {
      return new AccessDeniedError("jitdesk: access token was signed by a key jitdesk does not publish (a forgery, or another jitdesk's token)", { reason: 'unknown_key', cause: err });
    }
    if (err instanceof jose.JWSSignatureVerificationFailed) {
      return new AccessDeniedError('jitdesk: access token signature is invalid', { reason: 'signature', cause: err });
    }
    if (err instanceof jose.JWKSTimeout || err?.code === 'ERR_JOSE_GENERIC' || err instanceof TypeError) {
      return new KeySetError(`jitdesk: cannot fetch jitdesk's key set: ${err.message}`, { cause: err });
    }
    if (err instanceof jose.JOSEError) {
      return new AccessDeniedError(`jitdesk: access token refused: ${err.message}`, { reason: 'malformed', cause: err });
    }
    return new KeySetError(`jitdesk: cannot check the access token: ${err?.message ?? err}`, { cause: err });
  }
}

// One verifier per configuration, so the standalone function caches keys.
const verifiers = new Map();

/**
 * Verifies a jitdesk access token: signature against jitdesk's JWKS (found
 * through discovery or `jwksUri`, cached), typ at+jwt, exact iss and aud,
 * exp, the scope when given, and revocation when `introspect` (a Jitdesk
 * client) is given. Resolves to the claims, including `jit`.
 */
export async function verifyAccessToken(token, opts = {}) {
  const { scope, currentDate, ...config } = opts;
  const key = JSON.stringify([config.issuer, config.audience, config.url, config.jwksUri, config.clockTolerance]);
  let v = verifiers.get(key);
  if (!v || config.introspect || config.fetch) {
    v = new Verifier(config);
    if (!config.introspect && !config.fetch) verifiers.set(key, v);
  }
  return v.verify(token, { scope, currentDate });
}
