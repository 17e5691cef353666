// A jitdesk application client: signs an HS256 intake token per call with
// the application's secret (jsonwebtoken), submits a request, long-polls
// until it is decided, fetches the access token and verifies it offline
// against jitdesk's JWKS with jose (checking typ, iss, aud and algorithms).
//
// Environment: JITDESK_URL, JITDESK_APP_ID, JITDESK_APP_SECRET (base64url, as
// `jitdesk app add --json` prints), JITDESK_ISSUER, JITDESK_AUDIENCE,
// TEMPLATE, REQUESTER, REASON, optional TTL and META (JSON object),
// TIMEOUT_SECONDS (default 120).
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createRemoteJWKSet, jwtVerify } from 'jose';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`client: set ${name}`);
    process.exit(2);
  }
  return v;
}

const base = need('JITDESK_URL').replace(/\/$/, '');
const appId = need('JITDESK_APP_ID');
const secret = need('JITDESK_APP_SECRET'); // the string exactly as `jitdesk app add` printed it
const issuer = need('JITDESK_ISSUER');
const audience = need('JITDESK_AUDIENCE');
const template = need('TEMPLATE');
const requester = need('REQUESTER');
const reason = process.env.REASON || 'example client request';
const deadline = Date.now() + 1000 * Number(process.env.TIMEOUT_SECONDS || 120);

// One intake token per call: jitdesk burns each jti.
function intakeToken() {
  return jwt.sign({}, secret, {
    algorithm: 'HS256', issuer: appId, audience: issuer, subject: requester,
    jwtid: randomUUID(), expiresIn: '2m',
  });
}

async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${intakeToken()}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { raw: text }; }
  return { status: res.status, json };
}

const created = await call('POST', '/v1/requests', {
  template, reason, ...(process.env.TTL ? { ttl: process.env.TTL } : {}),
  ...(process.env.META ? { metadata: JSON.parse(process.env.META) } : {}),
});
if (created.status !== 201) {
  console.error('client: submit failed:', created.status, created.json.detail || created.json);
  process.exit(1);
}
const id = created.json.id;
console.log(`client: submitted request ${id}; waiting for a decision`);

let status = created.json.status;
while (status === 'pending') {
  if (Date.now() > deadline) {
    console.error('client: gave up waiting');
    process.exit(1);
  }
  const r = await call('GET', `/v1/requests/${id}?wait=30s`);
  if (r.status !== 200) {
    console.error('client: status failed:', r.status, r.json.detail);
    process.exit(1);
  }
  status = r.json.status;
}
if (status !== 'approved') {
  console.error(`client: request ${id} was ${status}`);
  process.exit(1);
}

const tok = await call('GET', `/v1/requests/${id}/token`);
if (tok.status !== 200) {
  console.error('client: token pick-up failed:', tok.status, tok.json.detail);
  process.exit(1);
}
const jwks = createRemoteJWKSet(new URL(base + '/.well-known/jwks.json'));
const { payload, protectedHeader } = await jwtVerify(tok.json.access_token, jwks, {
  issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA', 'RS256', 'ES256'], requiredClaims: ['exp', 'iat', 'jti', 'sub'],
});
if (payload.sub !== requester || payload.jit?.request_id !== id) {
  console.error('client: token is for someone or something else', payload);
  process.exit(1);
}
console.log(`client: token verified with jose (alg ${protectedHeader.alg}, kid ${protectedHeader.kid})`);
console.log(JSON.stringify({ header: protectedHeader, claims: payload }, null, 2));
