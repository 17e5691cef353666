// verifyAccessToken and requireJitAccess against a real `jitdesk serve`.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  AccessDeniedError, ConfigError, Jitdesk, KeySetError, Verifier, requireJitAccess, verifyAccessToken,
} from '../src/index.js';
import { startJitdesk } from './helpers.js';

let j;
let jd;
before(async () => {
  j = await startJitdesk();
  jd = new Jitdesk({ url: j.url, appId: j.appId, secret: j.secret });
});
after(async () => { await j?.close(); });

const ask = { template: 'k8s', user: 'alice', reason: 'debug OOM in checkout', metadata: { ticket: 'OPS-7' } };

async function approvedToken(user = 'alice') {
  const r = await jd.request({ ...ask, user });
  await j.approve(r.id);
  return jd.token(r.id);
}

describe('verifyAccessToken', () => {
  test('returns the claims, with the jit object, for a genuine token', async () => {
    const tok = await approvedToken();
    const claims = await verifyAccessToken(tok.accessToken, { issuer: j.issuer, audience: j.audience, scope: 'k8s' });
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, j.issuer);
    assert.equal(claims.scope, 'k8s');
    assert.equal(claims.jit.request_id, tok.requestId);
    assert.deepEqual(claims.jit.approvers, ['bob']);
    assert.ok(claims.jit.request_digest, 'carries the request digest');
  });

  test('each refusal names its reason and what to fix', async () => {
    const tok = await approvedToken();
    const base = { issuer: j.issuer, audience: j.audience };
    const cases = [
      ['issuer', { ...base, issuer: 'https://other', jwksUri: `${j.url}/.well-known/jwks.json` }, undefined, /set issuer/],
      ['audience', { ...base, audience: 'https://billing.example' }, undefined, /set audience/],
      ['scope', base, 'prod-db', /does not include "prod-db"/],
    ];
    for (const [reason, opts, scope, msg] of cases) {
      const err = await verifyAccessToken(tok.accessToken, { ...opts, scope }).catch((e) => e);
      assert.ok(err instanceof AccessDeniedError, `${reason}: ${err}`);
      assert.equal(err.reason, reason);
      assert.match(err.message, msg);
    }
    const expired = await verifyAccessToken(tok.accessToken, { ...base, currentDate: new Date(Date.now() + 3 * 3600 * 1000) }).catch((e) => e);
    assert.ok(expired instanceof AccessDeniedError && expired.reason === 'expired', String(expired));
    const garbage = await verifyAccessToken('not-a-jwt', base).catch((e) => e);
    assert.ok(garbage instanceof AccessDeniedError && garbage.reason === 'malformed', String(garbage));
    // Tamper with the payload: the signature no longer matches.
    const [h, p, s] = tok.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.scope = 'k8s prod-db';
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    const sig = await verifyAccessToken(forged, { ...base, scope: 'prod-db' }).catch((e) => e);
    assert.ok(sig instanceof AccessDeniedError && sig.reason === 'signature', String(sig));
    const missing = await verifyAccessToken(undefined, base).catch((e) => e);
    assert.ok(missing instanceof AccessDeniedError && missing.reason === 'missing', String(missing));
  });

  test('with introspect, a revoked token is refused; offline it cannot be known', async () => {
    const tok = await approvedToken();
    const base = { issuer: j.issuer, audience: j.audience, scope: 'k8s' };
    await verifyAccessToken(tok.accessToken, { ...base, introspect: jd });
    await jd.revoke(tok.accessToken);
    const err = await verifyAccessToken(tok.accessToken, { ...base, introspect: jd }).catch((e) => e);
    assert.ok(err instanceof AccessDeniedError && err.reason === 'revoked', String(err));
    await verifyAccessToken(tok.accessToken, base); // still valid offline until exp
  });

  test('a server that is down is a KeySetError; a bad configuration a ConfigError', async () => {
    const err = await new Verifier({ issuer: j.issuer, audience: j.audience, url: 'http://127.0.0.1:9' })
      .verify((await approvedToken()).accessToken).catch((e) => e);
    assert.ok(err instanceof KeySetError, String(err));
    assert.match(err.message, /jitdesk serve/);
    assert.throws(() => new Verifier({ audience: j.audience }), ConfigError);
    assert.throws(() => new Verifier({ issuer: 'urn:jitdesk', audience: j.audience }), ConfigError);
  });

  test('keys are fetched once and cached', async () => {
    let fetches = 0;
    const v = new Verifier({
      issuer: j.issuer, audience: j.audience,
      fetch: (url, init) => { if (String(url).endsWith('/jwks.json')) fetches++; return fetch(url, init); },
    });
    for (let i = 0; i < 3; i++) await v.verify((await approvedToken()).accessToken, { scope: 'k8s' });
    assert.equal(fetches, 1);
  });
});

describe('requireJitAccess', () => {
  let srv; let base;
  before(async () => {
    const plain = requireJitAccess({ scope: 'k8s', issuer: j.issuer, audience: j.audience });
    const submitting = requireJitAccess({
      scope: 'k8s', issuer: j.issuer, audience: j.audience, client: jd, user: (req) => req.headers['x-user'],
    });
    srv = createServer((req, res) => {
      const guard = req.url.startsWith('/submit') ? submitting : plain;
      guard(req, res, (err) => {
        if (err) { res.statusCode = 500; res.end(String(err)); return; }
        res.end(`hello ${req.jitAccess.sub} via ${req.jitAccess.jit.request_id}`);
      });
    });
    await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${srv.address().port}`;
  });
  after(() => new Promise((ok) => srv.close(ok)));

  const get = async (path, { token, user } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (user) headers['x-user'] = user;
    const res = await fetch(base + path, { headers });
    const ct = res.headers.get('content-type');
    return { status: res.status, ct, body: ct === 'application/problem+json' ? await res.json() : await res.text() };
  };

  test('a valid token passes with its claims on req.jitAccess', async () => {
    const tok = await approvedToken();
    const r = await get('/plain', { token: tok.accessToken });
    assert.equal(r.status, 200);
    assert.equal(r.body, `hello alice via ${tok.requestId}`);
  });

  test('no token or a bad one gets a 403 problem saying how to obtain access', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const r = await get('/plain', { token });
      assert.equal(r.status, 403);
      assert.equal(r.ct, 'application/problem+json');
      assert.equal(r.body.template, 'k8s');
      assert.match(r.body.detail, /ask jitdesk for access with template k8s/);
      assert.equal(r.body.jit_request_id, undefined);
    }
  });

  test('configured with a client, it submits the JIT request once and returns its id', async () => {
    const r = await get('/submit', { user: 'carol' });
    assert.equal(r.status, 403);
    const id = r.body.jit_request_id;
    assert.ok(id, JSON.stringify(r.body));
    assert.equal(r.body.jit_request_status, 'pending');
    const req = await jd.get(id);
    assert.equal(req.requester, 'carol');
    assert.equal(req.template, 'k8s');
    assert.equal((await get('/submit', { user: 'carol' })).body.jit_request_id, id, 'a retry reuses the pending request');
    await j.approve(id);
    const tok = await jd.token(id);
    const ok = await get('/submit', { user: 'carol', token: tok.accessToken });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^hello carol/);
  });
});
