// @jitdesk/client: jitdesk's integration kit for Node.js.
export { Jitdesk, discover } from './client.js';
export { Verifier, verifyAccessToken } from './verify.js';
export { requireJitAccess } from './middleware.js';
export {
  JitdeskError, ConfigError, ApiError, AuthenticationError, NotFoundError, InvalidRequestError, PendingError,
  ConflictError, UnavailableError, TimeoutError, DecisionError, DeniedError, ExpiredError, CancelledError,
  GrantEndedError, AccessDeniedError, KeySetError,
} from './errors.js';
