// Type declarations of @jitdesk/client (hand-written; checked with tsc --noEmit).

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

/** How a request ended, when jitdesk reports it. */
export interface Decision {
  outcome: string;
  by: string;
  at: string;
  comment: string;
}

/** A JIT request as jitdesk reports it. Every string came from outside: treat it as untrusted text. */
export interface JitRequest {
  id: string;
  status: RequestStatus;
  template: string;
  requester: string;
  reason: string;
  metadata: Record<string, string>;
  ttl: string;
  ttl_seconds: number;
  approvals: number;
  created_at: string;
  expires_at: string;
  decided_at?: string;
  decided_by?: string;
  decision?: Decision;
}

export interface NewRequest {
  /** The template key. */
  template: string;
  /** The user who needs access: the intake token's sub and the request's requester. */
  user: string;
  reason?: string;
  /** A duration like "30m", or seconds. Default: the template's. */
  ttl?: string | number;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export interface AccessToken {
  requestId: string;
  /** The RFC 9068 JWT. A credential: never log it. */
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  expiresAt: string;
  scope: string;
}

export interface WaitOptions {
  /** Milliseconds for the whole wait; default: until decided or aborted. */
  timeout?: number;
  signal?: AbortSignal;
  /** Seconds each long-poll asks jitdesk to hold the answer (default 30). */
  poll?: number;
}

export interface Discovery {
  issuer?: string;
  jwks_uri: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  [key: string]: unknown;
}

export interface Introspection {
  active: boolean;
  scope?: string;
  client_id?: string;
  sub?: string;
  iss?: string;
  aud?: string[];
  jti?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  jit?: JitClaim;
}

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface JitdeskOptions {
  /** jitdesk's base URL. */
  url: string;
  /** The application id `jitdesk app add` printed. */
  appId: string;
  /** The application secret exactly as `jitdesk app add` printed it. */
  secret: string;
  /** jitdesk's --issuer (the intake tokens' audience). Default: the discovery document's issuer, else url. */
  issuer?: string;
  fetch?: FetchLike;
  /** Milliseconds since the epoch; intake tokens are dated by it. */
  clock?: () => number;
  /** Told of each transient failure wait() retries after `delayMs`. */
  onRetry?: (err: JitdeskError, delayMs: number) => void;
}

export declare class Jitdesk {
  constructor(opts: JitdeskOptions);
  readonly url: string;
  readonly appId: string;
  discovery(signal?: AbortSignal): Promise<Discovery>;
  issuer(signal?: AbortSignal): Promise<string>;
  request(req: NewRequest): Promise<JitRequest>;
  get(id: string, opts?: { signal?: AbortSignal }): Promise<JitRequest>;
  wait(id: string, opts?: WaitOptions): Promise<JitRequest>;
  token(id: string, opts?: { signal?: AbortSignal }): Promise<AccessToken>;
  cancel(id: string, opts?: { signal?: AbortSignal }): Promise<JitRequest>;
  requestAndWait(req: Omit<NewRequest, 'signal'>, opts?: WaitOptions): Promise<AccessToken>;
  introspect(token: string, opts?: { signal?: AbortSignal }): Promise<Introspection>;
  revoke(token: string, opts?: { signal?: AbortSignal }): Promise<void>;
  toJSON(): { url: string; appId: string };
}

export declare function discover(base: string, fetch?: FetchLike, signal?: AbortSignal): Promise<Discovery>;

/** jitdesk's "jit" claim: why access was granted. */
export interface JitClaim {
  request_id: string;
  approval_type: string;
  approvers: string[];
  reason: string;
  metadata?: Record<string, string>;
  request_digest: string;
  signature_digests?: string[];
  break_glass?: boolean;
}

/** The claims of a jitdesk access token (RFC 9068). */
export interface AccessClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  client_id: string;
  scope: string;
  iat: number;
  nbf?: number;
  exp: number;
  jti: string;
  jit: JitClaim;
  [claim: string]: unknown;
}

export interface VerifierOptions {
  /** jitdesk's --issuer: the exact iss required. */
  issuer: string;
  /** This service's audience (the application's --audience). */
  audience: string;
  /** jitdesk's base URL for discovery (default: issuer). */
  url?: string;
  /** The JWKS URL, skipping discovery. */
  jwksUri?: string;
  /** A Jitdesk client: also ask jitdesk whether the token was revoked (one call per verification). */
  introspect?: Pick<Jitdesk, 'introspect'>;
  fetch?: FetchLike;
  /** Seconds of clock skew allowed. */
  clockTolerance?: number;
  /** Milliseconds a fetched key set is used (default 300000). */
  cacheMaxAge?: number;
  /** Milliseconds between refetches caused by an unknown kid (default 30000). */
  cooldownDuration?: number;
}

export interface VerifyOptions {
  /** A scope the token must hold (jitdesk's grant scope is the template key). */
  scope?: string;
  currentDate?: Date;
}

export declare class Verifier {
  constructor(opts: VerifierOptions);
  verify(token: string | undefined, opts?: VerifyOptions): Promise<AccessClaims>;
}

export declare function verifyAccessToken(token: string | undefined, opts: VerifierOptions & VerifyOptions): Promise<AccessClaims>;

/** The parts of an incoming request the middleware reads (Express, Connect, node:http). */
export interface IncomingLike {
  headers: Record<string, string | string[] | undefined>;
  method?: string;
  url?: string;
  originalUrl?: string;
  jitAccess?: AccessClaims;
}

/** The parts of a response the middleware writes. */
export interface ResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export type RequireJitAccessOptions = Partial<VerifierOptions> & {
  /** The scope the token must hold. */
  scope: string;
  /** The template to request (default: scope). */
  template?: string;
  /** With user(): submit the JIT request for a refused caller and return its id. */
  client?: Jitdesk;
  /** Who the caller is, from the request's own authentication; undefined skips the submission. */
  user?: (req: IncomingLike) => string | undefined;
  reason?: (req: IncomingLike) => string;
  /** A Verifier to share; else one is made from the verifier options. */
  verifier?: Verifier;
  /** Told of key-set failures and failed submissions. */
  onError?: (err: Error) => void;
};

export declare function requireJitAccess(opts: RequireJitAccessOptions):
  (req: IncomingLike, res: ResponseLike, next: (err?: unknown) => void) => Promise<void>;

export declare class JitdeskError extends Error {
  readonly code: string;
  readonly status?: number;
  /** jitdesk's own explanation, when it gave one. */
  readonly detail?: string;
}
export declare class ConfigError extends JitdeskError {}
export declare class ApiError extends JitdeskError {
  readonly status: number;
  /** Milliseconds, from Retry-After. */
  readonly retryAfter?: number;
}
export declare class AuthenticationError extends ApiError {}
export declare class NotFoundError extends ApiError {}
export declare class InvalidRequestError extends ApiError {}
export declare class PendingError extends ApiError {}
export declare class ConflictError extends ApiError {}
export declare class UnavailableError extends JitdeskError {
  readonly retryAfter?: number;
}
export declare class TimeoutError extends JitdeskError {
  readonly requestId: string;
  readonly lastRequest?: JitRequest;
}
export declare class DecisionError extends JitdeskError {
  readonly requestId: string;
  readonly requestStatus: RequestStatus;
  readonly decision: Decision | null;
  /** The approver's comment (a denial's reason), or "". */
  readonly comment: string;
  /** Who revoked the grant, when and why (GrantEndedError of a revoked grant), when jitdesk said so. */
  readonly revocation?: { by: string; at: string; reason: string };
}
export declare class DeniedError extends DecisionError {}
export declare class ExpiredError extends DecisionError {}
export declare class CancelledError extends DecisionError {}
export declare class GrantEndedError extends DecisionError {}
export type AccessDeniedReason =
  | 'missing' | 'malformed' | 'signature' | 'unknown_key' | 'typ' | 'issuer' | 'audience'
  | 'expired' | 'not_yet_valid' | 'claims' | 'scope' | 'revoked';
export declare class AccessDeniedError extends JitdeskError {
  readonly reason: AccessDeniedReason;
}
export declare class KeySetError extends JitdeskError {}
