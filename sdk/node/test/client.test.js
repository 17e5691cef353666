// @jitdesk/client against a real `jitdesk serve` started by the test.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationError, CancelledError, ConfigError, DeniedError, ExpiredError, InvalidRequestError, Jitdesk,
  NotFoundError, PendingError, TimeoutError, UnavailableError,
} from '../src/index.js';
import { startJitdesk } from './helpers.js';

let j;
let jd;
before(async () => {
  j = await startJitdesk();
  jd = new Jitdesk({ url: j.url, appId: j.appId, secret: j.secret });
});
after(async () => { await j?.close(); });

// approveWhenPending plays the approver: it acts on the first pending
// request as soon as it appears (bounded by attempts, not by time).
async function decideWhenPending(decide) {
  for (let i = 0; i < 400; i++) {
    const p = await j.pending();
    if (p.length) { await decide(p[0].id); return p[0].id; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no pending request appeared');
}

// Does this server put a decision object on GET /v1/requests/{id}? The kit
// must work with and without it.
async function serverReportsDecision(id) {
  return (await jd.get(id)).decision !== undefined;
}

const ask = { template: 'k8s', user: 'alice', reason: 'debug OOM in checkout', ttl: '30m', metadata: { ticket: 'OPS-1' } };

describe('requests', () => {
  test('requestAndWait resolves to the access token once an approver approves', async () => {
    const [tok] = await Promise.all([jd.requestAndWait(ask, { timeout: 60000 }), decideWhenPending(j.approve)]);
    assert.equal(tok.tokenType, 'Bearer');
    assert.equal(tok.scope, 'k8s');
    assert.match(tok.accessToken, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(tok.expiresIn > 1700 && tok.expiresIn <= 1800, `expiresIn ${tok.expiresIn}`);
  });

  test('wait long-polls until decided; token() says pending before', async () => {
    const r = await jd.request(ask);
    assert.equal(r.status, 'pending');
    assert.equal(r.requester, 'alice');
    await assert.rejects(jd.token(r.id), PendingError);
    const waiting = jd.wait(r.id, { timeout: 60000 });
    await j.approve(r.id);
    const done = await waiting;
    assert.equal(done.status, 'approved');
    assert.equal(done.decided_by, 'bob');
  });

  test('a wait that runs out rejects with TimeoutError carrying the pending request', async () => {
    const r = await jd.request(ask);
    const err = await jd.wait(r.id, { timeout: 1200, poll: 1 }).catch((e) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.requestId, r.id);
    assert.equal(err.lastRequest?.status, 'pending');
    await jd.cancel(r.id);
  });

  test('requestAndWait cancels the request when it gives up', async () => {
    const err = await jd.requestAndWait(ask, { timeout: 1000 }).catch((e) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal((await jd.get(err.requestId)).status, 'cancelled');
  });

  test('a denial rejects with DeniedError carrying the comment', async () => {
    const comment = 'use the staging cluster for this';
    const [err, id] = await Promise.all([
      jd.requestAndWait(ask, { timeout: 60000 }).catch((e) => e),
      decideWhenPending((id) => j.deny(id, comment)),
    ]);
    assert.ok(err instanceof DeniedError, String(err));
    assert.equal(err.code, 'denied');
    assert.equal(err.requestId, id);
    assert.equal(err.decision?.by, 'bob');
    if (await serverReportsDecision(id)) {
      assert.equal(err.comment, comment);
      assert.ok(err.message.includes(comment), err.message);
    } else {
      assert.equal(err.comment, '');
    }
    const terr = await jd.token(id).catch((e) => e);
    assert.ok(terr instanceof DeniedError, String(terr));
  });

  test('a request nobody decides rejects with ExpiredError', async () => {
    // jitdesk's shortest pending timeout is a minute, too long for a test
    // run: this one case is answered by a stub with the server's shape.
    const stub = new Jitdesk({
      url: j.url, appId: j.appId, secret: j.secret, issuer: j.issuer,
      fetch: async (url, init) => {
        const body = { id: '01STUB', status: String(url).includes('?wait=') ? 'expired' : 'pending', template: 'k8s', requester: 'alice' };
        return new Response(JSON.stringify(body), { status: init.method === 'POST' ? 201 : 200, headers: { 'content-type': 'application/json' } });
      },
    });
    const err = await stub.requestAndWait(ask, { timeout: 60000 }).catch((e) => e);
    assert.ok(err instanceof ExpiredError, String(err));
    assert.equal(err.requestId, '01STUB');
    assert.match(err.message, /submit a new request/);
  });

  test('a cancelled request: wait resolves cancelled, token() rejects with CancelledError', async () => {
    const r = await jd.request(ask);
    assert.equal((await jd.cancel(r.id)).status, 'cancelled');
    assert.equal((await jd.wait(r.id, { timeout: 10000 })).status, 'cancelled');
    await assert.rejects(jd.token(r.id), CancelledError);
  });

  test('an unknown id and an unknown template are typed errors', async () => {
    await assert.rejects(jd.get('01NOSUCHREQUEST0000000000'), NotFoundError);
    await assert.rejects(jd.request({ ...ask, template: 'nosuch', metadata: undefined }), (e) => e instanceof InvalidRequestError || e instanceof NotFoundError);
    await assert.rejects(jd.request({ template: 'k8s' }), InvalidRequestError);
  });

  test('an aborted wait rejects with the signal reason', async () => {
    const r = await jd.request(ask);
    const ac = new AbortController();
    const waiting = jd.wait(r.id, { signal: ac.signal });
    ac.abort(new Error('user went away'));
    await assert.rejects(waiting, /user went away/);
    await jd.cancel(r.id);
  });
});

describe('bad configuration says what to fix', () => {
  test('a wrong secret is an AuthenticationError pointing at the secret', async () => {
    const bad = new Jitdesk({ url: j.url, appId: j.appId, secret: 'x'.repeat(j.secret.length) });
    const err = await bad.request(ask).catch((e) => e);
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.equal(err.status, 401);
    assert.match(err.message, /secret/);
    assert.ok(err.detail, 'carries jitdesk detail');
  });

  test('a wrong issuer is an AuthenticationError pointing at the issuer', async () => {
    const bad = new Jitdesk({ url: j.url, appId: j.appId, secret: j.secret, issuer: 'https://not-jitdesk.example' });
    const err = await bad.request(ask).catch((e) => e);
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.match(err.message, /issuer/);
  });

  test('an expired intake token (a clock far behind) is an AuthenticationError pointing at the clock', async () => {
    const bad = new Jitdesk({ url: j.url, appId: j.appId, secret: j.secret, clock: () => Date.now() - 10 * 60 * 1000 });
    const err = await bad.request(ask).catch((e) => e);
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.match(err.message, /clock/);
    assert.match(err.detail, /expired/);
  });

  test('a short secret or a URL without a scheme is a ConfigError', () => {
    assert.throws(() => new Jitdesk({ url: j.url, appId: j.appId, secret: 'short' }), ConfigError);
    assert.throws(() => new Jitdesk({ url: '127.0.0.1:1', appId: j.appId, secret: j.secret }), ConfigError);
  });

  test('a server that is down is an UnavailableError; a wait on it times out saying so', async () => {
    const down = new Jitdesk({ url: 'http://127.0.0.1:9', appId: j.appId, secret: j.secret });
    const err = await down.request(ask).catch((e) => e);
    assert.ok(err instanceof UnavailableError, String(err));
    assert.match(err.message, /jitdesk serve/);
    const werr = await down.wait('01ANY', { timeout: 800 }).catch((e) => e);
    assert.ok(werr instanceof TimeoutError, String(werr));
    assert.ok(werr.cause instanceof UnavailableError, String(werr.cause));
  });

  test('the secret never shows when the client is printed', () => {
    assert.ok(!inspect(jd).includes(j.secret));
    assert.ok(!JSON.stringify(jd).includes(j.secret));
  });
});

describe('retries', () => {
  test('wait honours Retry-After on 503', async () => {
    const r = await jd.request(ask);
    await j.approve(r.id);
    let first = true;
    const delays = [];
    const flaky = new Jitdesk({
      url: j.url, appId: j.appId, secret: j.secret,
      onRetry: (_err, ms) => delays.push(ms),
      fetch: async (url, init) => {
        if (first && String(url).includes('/v1/requests/')) {
          first = false;
          return new Response(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'too many long-polls; retry shortly' }),
            { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } });
        }
        return fetch(url, init);
      },
    });
    assert.equal((await flaky.wait(r.id, { timeout: 60000 })).status, 'approved');
    assert.deepEqual(delays, [2000]);
  });
});
