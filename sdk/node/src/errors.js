// Typed errors of @jitdesk/client. Branch on the class (instanceof) or on
// `code`; never on the message, which is for people and says what to fix.

/** Base class of every error this package throws. */
export class JitdeskError extends Error {
  constructor(message, { code = 'jitdesk', status, detail, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    if (status !== undefined) this.status = status;
    if (detail !== undefined) this.detail = detail;
  }
}

/** The options given to Jitdesk or a verifier are unusable. */
export class ConfigError extends JitdeskError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'config' }); }
}

/** A problem document (RFC 9457) jitdesk answered. */
export class ApiError extends JitdeskError {
  constructor(message, { code = 'api', status, detail, retryAfter, cause } = {}) {
    super(message, { code, status, detail, cause });
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** 401: jitdesk refused the intake token (app id, secret, issuer or clock). */
export class AuthenticationError extends ApiError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'unauthenticated' }); }
}

/** 404: no such request for this application. */
export class NotFoundError extends ApiError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'not_found' }); }
}

/** 400/413/415/422: jitdesk refused what was asked (unknown template, bad ttl, missing field). */
export class InvalidRequestError extends ApiError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'invalid_request' }); }
}

/** 409 from token(): the request is still pending. */
export class PendingError extends ApiError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'pending' }); }
}

/** 409 otherwise: the request can no longer be changed (e.g. cancelling a decided one). */
export class ConflictError extends ApiError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'conflict' }); }
}

/** jitdesk could not be reached, or answered 429/5xx. */
export class UnavailableError extends JitdeskError {
  constructor(message, opts = {}) {
    super(message, { ...opts, code: 'unavailable' });
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
}

/** wait() ended with the request still pending. */
export class TimeoutError extends JitdeskError {
  constructor(message, { requestId, lastRequest, cause } = {}) {
    super(message, { code: 'timeout', cause });
    this.requestId = requestId;
    this.lastRequest = lastRequest;
  }
}

/**
 * A request ended without a usable token. `status` is its final status,
 * `decision` ({ outcome, by, at, comment }) who decided, when and why when
 * jitdesk reported it, and `comment` the approver's comment (a denial's reason).
 */
export class DecisionError extends JitdeskError {
  constructor(message, { code = 'decision', requestId, status, decision, detail } = {}) {
    super(message, { code, detail });
    this.requestId = requestId;
    this.requestStatus = status;
    this.decision = decision ?? null;
    this.comment = decision?.comment ?? '';
  }
}

/** An approver denied the request; `comment` says why. */
export class DeniedError extends DecisionError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'denied' }); }
}

/** Nobody decided before the request's pending timeout. */
export class ExpiredError extends DecisionError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'expired' }); }
}

/** The request was cancelled. */
export class CancelledError extends DecisionError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'cancelled' }); }
}

/** The request was approved but its grant was revoked or has run out. */
export class GrantEndedError extends DecisionError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'grant_ended' }); }
}

/**
 * An access token was refused. `reason` is one of: 'missing', 'malformed',
 * 'signature', 'unknown_key', 'typ', 'issuer', 'audience', 'expired',
 * 'not_yet_valid', 'claims', 'scope', 'revoked'.
 */
export class AccessDeniedError extends JitdeskError {
  constructor(message, { reason, cause } = {}) {
    super(message, { code: 'access_denied', cause });
    this.reason = reason;
  }
}

/** jitdesk's key set (or its discovery document) could not be fetched or read. */
export class KeySetError extends JitdeskError {
  constructor(message, opts = {}) { super(message, { ...opts, code: 'key_set' }); }
}

/** Builds the DecisionError subclass for a final status. */
export function decisionError(requestId, status, decision, detail) {
  let msg = `jitdesk: request ${requestId}: `;
  let Cls;
  switch (status) {
    case 'denied': Cls = DeniedError; msg += 'denied'; break;
    case 'expired': Cls = ExpiredError; msg += 'expired: nobody decided before its pending timeout; submit a new request'; break;
    case 'cancelled': Cls = CancelledError; msg += 'cancelled'; break;
    default: Cls = GrantEndedError; msg += 'approved, but its grant was revoked or has run out; submit a new request';
  }
  if (decision?.by) msg += ` by ${decision.by}`;
  if (decision?.at) msg += ` at ${decision.at}`;
  if (decision?.comment) msg += `: ${JSON.stringify(decision.comment)}`;
  if (detail) msg += ` (jitdesk: ${detail})`;
  return new Cls(msg, { requestId, status, decision, detail });
}
