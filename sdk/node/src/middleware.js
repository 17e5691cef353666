// Express-style middleware: a route that needs a jitdesk access token.
import { AccessDeniedError, KeySetError } from './errors.js';
import { Verifier } from './verify.js';

function bearer(req) {
  const h = req.headers?.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

function sendProblem(res, status, body, headers = {}) {
  const json = JSON.stringify({ type: 'about:blank', ...body, status });
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(json);
}

/**
 * Middleware for (req, res, next) servers (Express, Connect, node:http):
 * lets through requests bearing a valid jitdesk access token with `scope`
 * (claims on req.jitAccess), and answers anything else 403
 * application/problem+json saying how to obtain access. With `client` (a
 * Jitdesk) and `user(req)`, it submits the JIT request itself and returns
 * its id (jit_request_id); a caller retrying while approvers decide gets
 * the same pending request back.
 *
 * @param {object} opts
 * @param {string} opts.scope the scope the token must hold (jitdesk's grant scope is the template key)
 * @param {string} [opts.template] the template to request (default: scope)
 * @param {string} opts.issuer jitdesk's --issuer
 * @param {string} opts.audience this service's audience
 */
export function requireJitAccess({ scope, template, client, user, reason, verifier, onError, ...verifyOpts } = {}) {
  if (!scope) throw new TypeError('requireJitAccess: scope is required');
  const tmpl = template || scope;
  const v = verifier ?? new Verifier(verifyOpts);
  const pending = new Map(); // user -> id of the pending request submitted for them

  async function submit(req, who) {
    const known = pending.get(who);
    if (known) {
      try {
        const r = await client.get(known);
        if (r.status === 'pending') return r;
      } catch { /* submit a new one */ }
    }
    const why = reason ? reason(req) : `access to ${req.method} ${req.originalUrl ?? req.url}`;
    const r = await client.request({ template: tmpl, user: who, reason: why });
    if (r.status === 'pending') pending.set(who, r.id); else pending.delete(who);
    return r;
  }

  return async function jitAccess(req, res, next) {
    let refusal;
    try {
      req.jitAccess = await v.verify(bearer(req), { scope });
      next();
      return;
    } catch (err) {
      if (err instanceof KeySetError) {
        onError?.(err);
        sendProblem(res, 503, { title: 'Access check unavailable', detail: "the service cannot fetch jitdesk's keys to check access tokens; retry shortly" });
        return;
      }
      if (!(err instanceof AccessDeniedError)) { next(err); return; }
      refusal = err;
    }
    const body = {
      type: 'urn:jitdesk:problem:jit-access-required', title: 'JIT access required', scope, template: tmpl,
      reason: refusal.reason,
      detail: `this endpoint needs a jitdesk access token with scope ${scope}: ask jitdesk for access with template ${tmpl}, ` +
        `then send the token as Authorization: Bearer. Refused: ${refusal.message}`,
    };
    const who = client && user ? user(req) : undefined;
    if (who) {
      try {
        const r = await submit(req, who);
        body.jit_request_id = r.id;
        body.jit_request_status = r.status;
        body.detail = `this endpoint needs a jitdesk access token with scope ${scope}: JIT request ${r.id} was submitted for ${who}; ` +
          `once approved, send its token as Authorization: Bearer. Refused: ${refusal.message}`;
      } catch (err) {
        onError?.(err);
      }
    }
    sendProblem(res, 403, body, { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope.replace(/"/g, '')}"` });
  };
}
