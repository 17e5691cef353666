// The application side: intake tokens, requests, the long-poll loop, token
// pick-up, cancellation, introspection and revocation.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  ApiError, AuthenticationError, ConfigError, JitdeskError, ConflictError, InvalidRequestError, NotFoundError,
  PendingError, TimeoutError, UnavailableError, decisionError,
} from './errors.js';

const MIN_SECRET_LENGTH = 32;
const MIN_RETRY_MS = 200;
const MAX_RETRY_MS = 5000;
// How much longer than the asked wait a long-poll may take before the
// connection is treated as dead.
const LONG_POLL_GRACE_MS = 15000;

const AUTH_HINT = 'check appId and secret against what `jitdesk app add` printed, ' +
  "issuer against jitdesk's --issuer, and this machine's clock";

/** Parses a base URL, refusing anything but http(s) with a host. */
export function baseURL(raw, what = 'url') {
  if (!raw || typeof raw !== 'string') {
    throw new ConfigError(`jitdesk: ${what} is required: jitdesk's base URL, e.g. http://127.0.0.1:8080`);
  }
  let u;
  try { u = new URL(raw.replace(/\/+$/, '')); } catch { u = null; }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host) {
    throw new ConfigError(`jitdesk: ${what} ${JSON.stringify(raw)} is not an http(s) URL with a host`);
  }
  return u.href.replace(/\/+$/, '');
}

/**
 * Fetches jitdesk's RFC 8414 metadata. A server without it (404) yields the
 * conventional JWKS URL and no issuer.
 */
export async function discover(base, fetchImpl = globalThis.fetch, signal) {
  const url = `${base}/.well-known/oauth-authorization-server`;
  let res;
  try {
    res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal });
  } catch (err) {
    throw unreachable('discovery', base, err);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return { issuer: undefined, jwks_uri: `${base}/.well-known/jwks.json` };
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw new UnavailableError(`jitdesk: discovery at ${url} answered ${res.status}; retry later`, { status: res.status });
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new ConfigError(`jitdesk: discovery at ${url} answered ${res.status}`);
  }
  let doc;
  try { doc = await res.json(); } catch (err) {
    throw new ConfigError(`jitdesk: discovery at ${url} is not JSON`, { cause: err });
  }
  return { ...doc, jwks_uri: doc.jwks_uri || `${base}/.well-known/jwks.json` };
}

export function unreachable(op, base, err) {
  const why = err?.cause?.code || err?.cause?.message || err?.message || String(err);
  return new UnavailableError(
    `jitdesk: ${op}: cannot reach jitdesk at ${base}: ${why} (check the url and that \`jitdesk serve\` is running)`,
    { cause: err });
}

function retryAfterMs(v) {
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function ttlString(ttl) {
  if (ttl === undefined || ttl === null || ttl === '') return undefined;
  if (typeof ttl === 'number') {
    if (!Number.isFinite(ttl) || ttl <= 0) throw new InvalidRequestError('jitdesk: ttl must be a positive number of seconds or a duration like "30m"');
    return `${Math.round(ttl)}s`;
  }
  return String(ttl);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function transient(err) {
  return err instanceof UnavailableError;
}

/**
 * A jitdesk client for one application. Every call carries a fresh
 * single-use HS256 intake token signed with the application's secret.
 */
export class Jitdesk {
  #base; #appId; #key; #issuer; #fetch; #clock; #onRetry; #discovery;

  /**
   * @param {object} opts
   * @param {string} opts.url jitdesk's base URL
   * @param {string} opts.appId the id `jitdesk app add` printed
   * @param {string} opts.secret the secret exactly as `jitdesk app add` printed it
   * @param {string} [opts.issuer] jitdesk's --issuer (intake audience); default: discovery, else url
   */
  constructor({ url, appId, secret, issuer, fetch: fetchImpl, clock, onRetry } = {}) {
    this.#base = baseURL(url);
    if (!appId) throw new ConfigError('jitdesk: appId is required: the id `jitdesk app add` printed');
    if (!secret) throw new ConfigError('jitdesk: secret is required: the secret `jitdesk app add` printed');
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(`jitdesk: secret is too short to be the one \`jitdesk app add\` printed (need at least ${MIN_SECRET_LENGTH} characters): copy it whole`);
    }
    this.#appId = appId;
    this.#key = new TextEncoder().encode(secret);
    this.#issuer = issuer;
    this.#fetch = fetchImpl ?? globalThis.fetch;
    this.#clock = clock ?? (() => Date.now());
    this.#onRetry = onRetry;
  }

  /** jitdesk's base URL. */
  get url() { return this.#base; }

  /** The application id. */
  get appId() { return this.#appId; }

  /** Keeps the secret out of console.log and util.inspect. */
  [Symbol.for('nodejs.util.inspect.custom')]() { return `Jitdesk { url: '${this.#base}', appId: '${this.#appId}' }`; }

  toJSON() { return { url: this.#base, appId: this.#appId }; }

  /** jitdesk's discovery metadata, fetched once (a failure is not cached). */
  async discovery(signal) {
    if (!this.#discovery) {
      this.#discovery = discover(this.#base, this.#fetch, signal).catch((err) => {
        this.#discovery = undefined;
        throw err;
      });
    }
    return this.#discovery;
  }

  /** jitdesk's issuer: the configured one, else the discovered one, else the URL. */
  async issuer(signal) {
    if (this.#issuer) return this.#issuer;
    const d = await this.discovery(signal);
    this.#issuer = d.issuer || this.#base;
    return this.#issuer;
  }

  async #intakeToken(user, signal) {
    const aud = await this.issuer(signal);
    const now = Math.floor(this.#clock() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.#appId)
      .setAudience(aud)
      .setSubject(user || this.#appId)
      .setIssuedAt(now)
      .setExpirationTime(now + 120)
      .setJti(randomUUID())
      .sign(this.#key);
  }

  async #call(op, method, path, { user, body, form, signal, timeoutMs } = {}) {
    const token = await this.#intakeToken(user, signal);
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
    let payload;
    if (body !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body); }
    if (form !== undefined) { headers['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(form).toString(); }
    const signals = [signal, timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined].filter(Boolean);
    const sig = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let res;
    try {
      res = await this.#fetch(this.#base + path, { method, headers, body: payload, signal: sig });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw unreachable(op, this.#base, err);
    }
    let text;
    try { text = await res.text(); } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw unreachable(op, this.#base, err);
    }
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (res.status >= 200 && res.status < 300) return json;
    throw this.#apiError(op, res, json);
  }

  #apiError(op, res, problem) {
    const status = res.status;
    const detail = typeof problem?.detail === 'string' ? problem.detail : undefined;
    const title = problem?.title || res.statusText || `HTTP ${status}`;
    const retryAfter = retryAfterMs(res.headers.get('retry-after'));
    const base = `jitdesk: ${op}: ${status} ${title}${detail ? `: ${detail}` : ''}`;
    const opts = { status, detail, retryAfter };
    if (status === 401 || status === 403) return new AuthenticationError(`${base} (${AUTH_HINT})`, opts);
    if (status === 404) return new NotFoundError(`${base} (the id is not a request of this application)`, opts);
    if (status === 409) return new ConflictError(base, opts);
    if (status === 429 || status >= 500) return new UnavailableError(`${base} (jitdesk is overloaded or restarting; retry later)`, opts);
    if (status === 410) { const e = new ApiError(base, opts); e.problem = problem; return e; }
    return new InvalidRequestError(base, opts);
  }

  /**
   * Submits a JIT request for `user`.
   * @returns the request as created ({ id, status, expires_at, ... })
   */
  async request({ template, user, reason = '', ttl, metadata, signal } = {}) {
    if (!template) throw new InvalidRequestError('jitdesk: request: template is required: the template key');
    if (!user) throw new InvalidRequestError('jitdesk: request: user is required: the user who needs access');
    const body = { template, reason };
    const t = ttlString(ttl);
    if (t) body.ttl = t;
    if (metadata && Object.keys(metadata).length) body.metadata = metadata;
    return this.#call('create request', 'POST', '/v1/requests', { user, body, signal });
  }

  /** The request now, without waiting. */
  async get(id, { signal } = {}) {
    return this.#call(`get request ${id}`, 'GET', `/v1/requests/${encodeURIComponent(id)}`, { signal });
  }

  /**
   * Long-polls until the request is no longer pending and resolves to it
   * (approved, denied, expired or cancelled). Rides out jitdesk being down,
   * restarting or overloaded (honouring Retry-After); rejects with
   * TimeoutError when `timeout` (ms) passes first, or with the signal's reason.
   */
  async wait(id, { timeout, signal, poll = 30 } = {}) {
    const started = Date.now();
    const deadline = timeout ? started + timeout : Infinity;
    let last; let lastErr; let delay = MIN_RETRY_MS;
    const timedOut = () => new TimeoutError(
      `jitdesk: request ${id}: still pending after waiting ${Date.now() - started} ms` +
      `${lastErr ? `; last error: ${lastErr.message}` : ''} (wait longer, or cancel the request)`,
      { requestId: id, lastRequest: last, cause: lastErr });
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const left = deadline - Date.now();
      if (left <= 0) throw timedOut();
      const ask = Math.max(1, Math.floor(Math.min(poll * 1000, left) / 1000));
      const timer = Number.isFinite(left) ? AbortSignal.timeout(left) : undefined;
      const sig = [signal, timer].filter(Boolean);
      try {
        const r = await this.#call(`wait for request ${id}`, 'GET',
          `/v1/requests/${encodeURIComponent(id)}?wait=${ask}s`,
          { signal: sig.length > 1 ? AbortSignal.any(sig) : sig[0], timeoutMs: ask * 1000 + LONG_POLL_GRACE_MS });
        last = r; lastErr = undefined; delay = MIN_RETRY_MS;
        if (r.status !== 'pending') return r;
        continue;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timer?.aborted || Date.now() >= deadline) throw timedOut();
        if (!transient(err)) throw err;
        lastErr = err;
        let wait = delay;
        if (err.retryAfter !== undefined) wait = err.retryAfter;
        else delay = Math.min(delay * 2, MAX_RETRY_MS);
        wait = Math.min(wait, Math.max(0, deadline - Date.now()));
        this.#onRetry?.(err, wait);
        await sleep(wait, signal);
      }
    }
  }

  /**
   * The access token of an approved request: { accessToken, tokenType,
   * expiresIn, expiresAt, scope, requestId }. Rejects with PendingError
   * while pending, and a DecisionError subclass once it ended without one.
   */
  async token(id, { signal } = {}) {
    let r;
    try {
      r = await this.#call(`token of request ${id}`, 'GET', `/v1/requests/${encodeURIComponent(id)}/token`, { signal });
    } catch (err) {
      if (err instanceof ConflictError) throw new PendingError(err.message, { status: 409, detail: err.detail });
      if (err instanceof ApiError && err.status === 410) {
        let status = err.problem?.decision?.outcome; let decision = err.problem?.decision;
        if (!status || !decision) {
          try { const req = await this.get(id, { signal }); status = req.status; decision = req.decision ?? decisionOf(req); } catch { /* keep what we have */ }
        }
        const e = decisionError(id, status, decision, err.detail);
        if (err.problem?.revocation) e.revocation = err.problem.revocation;
        throw e;
      }
      throw err;
    }
    if (!r?.access_token) {
      throw new JitdeskError(`jitdesk: token of request ${id}: the answer holds no access token (a jitdesk server bug: report it with the server version)`);
    }
    return {
      requestId: id, accessToken: r.access_token, tokenType: r.token_type,
      expiresIn: r.expires_in, expiresAt: r.expires_at, scope: r.scope,
    };
  }

  /** Withdraws a pending request. */
  async cancel(id, { signal } = {}) {
    return this.#call(`cancel request ${id}`, 'POST', `/v1/requests/${encodeURIComponent(id)}/cancel`, { signal });
  }

  /**
   * request(), wait() and token() in one: resolves to the access token
   * object, rejects with DeniedError (with the comment), ExpiredError,
   * CancelledError, or TimeoutError. A wait that gives up (timeout or
   * signal) cancels the request, so approvers are not left deciding
   * something nobody will collect.
   */
  async requestAndWait(req, { timeout, signal, poll } = {}) {
    const created = await this.request({ ...req, signal });
    let r = created;
    if (r.status === 'pending') {
      try {
        r = await this.wait(created.id, { timeout, signal, poll });
      } catch (err) {
        if (err instanceof TimeoutError || signal?.aborted) {
          await this.cancel(created.id, { signal: AbortSignal.timeout(10000) }).catch(() => {});
        }
        throw err;
      }
    }
    if (r.status !== 'approved') throw decisionError(r.id, r.status, r.decision ?? decisionOf(r));
    return this.token(r.id, { signal });
  }

  /** RFC 7662: { active, scope, sub, exp, jit, ... }; another application's token is inactive. */
  async introspect(token, { signal } = {}) {
    return this.#call('introspect', 'POST', '/v1/introspect', { form: { token }, signal });
  }

  /** RFC 7009: revokes one of this application's access tokens. */
  async revoke(token, { signal } = {}) {
    await this.#call('revoke', 'POST', '/v1/revoke', { form: { token }, signal });
  }
}

/** The decision of a request from servers that report only decided_by/decided_at. */
export function decisionOf(req) {
  if (!req || req.status === 'pending' || !req.decided_by) return null;
  return { outcome: req.status, by: req.decided_by, at: req.decided_at, comment: '' };
}
