// Compiled by `npm run typecheck` (tsc --noEmit) only: uses the declared
// API the way an integrator would, so index.d.ts and the docs agree.
import {
  AccessDeniedError, DeniedError, Jitdesk, TimeoutError, requireJitAccess, verifyAccessToken,
  type AccessClaims, type AccessToken, type JitRequest,
} from '@jitdesk/client';

export async function example(): Promise<string> {
  const jd = new Jitdesk({ url: 'http://127.0.0.1:8080', appId: 'app_x', secret: 's'.repeat(43) });
  const req: JitRequest = await jd.request({ template: 'k8s', user: 'alice', reason: 'debug', ttl: '30m', metadata: { ticket: 'OPS-1' } });
  const done: JitRequest = await jd.wait(req.id, { timeout: 60_000, signal: AbortSignal.timeout(70_000) });
  try {
    const tok: AccessToken = await jd.requestAndWait({ template: 'k8s', user: 'alice' }, { timeout: 60_000 });
    const claims: AccessClaims = await verifyAccessToken(tok.accessToken, { issuer: 'http://127.0.0.1:8080', audience: 'https://payments.example', scope: 'k8s' });
    return `${done.status} ${claims.jit.request_id} ${claims.jit.approvers.join(',')}`;
  } catch (err) {
    if (err instanceof DeniedError) return `denied: ${err.comment} by ${err.decision?.by ?? '?'}`;
    if (err instanceof TimeoutError) return `still pending: ${err.requestId}`;
    if (err instanceof AccessDeniedError) return `refused: ${err.reason}`;
    throw err;
  }
}

export const guard = requireJitAccess({ scope: 'k8s', issuer: 'http://127.0.0.1:8080', audience: 'https://payments.example' });
