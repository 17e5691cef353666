// A long-lived token verifier for scripts/e2e-deploy.sh: it discovers the
// JWKS through jitdesk's RFC 8414 metadata document and keeps ONE cached key
// set (jose's createRemoteJWKSet) for its whole life, across a staged key
// rotation, so the script can show that such a verifier never meets an
// unknown kid.
//
// Two key sets, both from the same jwks_uri:
//   cached:  cacheMaxAge CACHE_MAX_AGE_MS (default 2000) and a cooldown of
//            Infinity. It refreshes only when its copy is older than
//            cacheMaxAge (as any verifier with a cached JWKS does); it can
//            never refetch because of an unknown kid, so a token signed by
//            a key it has not cached fails with ERR_JWKS_NO_MATCHING_KEY.
//   frozen:  fetched once at start and never again (cacheMaxAge and
//            cooldown Infinity): the control that shows what happens to a
//            cache that never saw a key.
// Every fetch goes through a counting fetch (jose's customFetch), so each
// answer reports how many GETs of the JWKS this process made.
//
// Protocol: one JSON command a line on stdin, one JSON answer a line on
// stdout.
//   {"cmd":"verify","label":L,"token":T}  verify T with both key sets
//   {"cmd":"refresh"}                      wait (bounded) until the cached
//       set is stale, then let one verification refresh it as jose does
//       (the token of the last successful verify is reused)
// Each answer carries: label, the token's kid, for each set whether it
// verified (or the error code), whether the kid was already in the set's
// cache before the call, whether the cache was fresh before the call, and
// the fetch counts.
//
// Environment: JITDESK_URL (https://…), JITDESK_ISSUER, JITDESK_AUDIENCE,
// JOSE (path of jose's entry file), NODE_EXTRA_CA_CERTS (the self-signed
// certificate). Tokens are never printed.
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const jose = await import(pathToFileURL(process.env.JOSE).href);
const { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, customFetch } = jose;

const base = process.env.JITDESK_URL;
const issuer = process.env.JITDESK_ISSUER;
const audience = process.env.JITDESK_AUDIENCE;
const maxAge = Number(process.env.CACHE_MAX_AGE_MS || 2000);

const say = (v) => process.stdout.write(JSON.stringify(v) + '\n');

// Discovery: the metadata document names the JWKS.
const metaRes = await fetch(new URL('/.well-known/oauth-authorization-server', base));
if (metaRes.status !== 200) {
  say({ error: `metadata document: HTTP ${metaRes.status}` });
  process.exit(1);
}
const meta = await metaRes.json();
if (meta.issuer !== issuer || typeof meta.jwks_uri !== 'string') {
  say({ error: 'metadata document lacks the issuer or jwks_uri', issuer: meta.issuer });
  process.exit(1);
}
const jwksUri = new URL(meta.jwks_uri);

function counted(name) {
  const c = { name, fetches: 0 };
  c.fetch = (url, init) => {
    c.fetches++;
    return fetch(url, init);
  };
  return c;
}
const cachedCount = counted('cached');
const frozenCount = counted('frozen');
const cached = createRemoteJWKSet(jwksUri, { cacheMaxAge: maxAge, cooldownDuration: Infinity, [customFetch]: cachedCount.fetch });
const frozen = createRemoteJWKSet(jwksUri, { cacheMaxAge: Infinity, cooldownDuration: Infinity, [customFetch]: frozenCount.fetch });

const kidsOf = (set) => (set.jwks()?.keys || []).map((k) => k.kid);

async function check(set, count, token, kid) {
  const before = { fresh: set.fresh, knew: kidsOf(set).includes(kid), fetches: count.fetches };
  let ok = false;
  let code = null;
  try {
    await jwtVerify(token, set, { issuer, audience, algorithms: ['EdDSA'] });
    ok = true;
  } catch (err) {
    code = err.code || err.name;
  }
  return {
    ok, code,
    fresh_before: before.fresh,
    kid_cached_before: before.knew,
    fetched: count.fetches - before.fetches,
    fetches: count.fetches,
    kids_cached: kidsOf(set),
  };
}

// The frozen set loads now, before anything else happens.
await frozen.reload();
await cached.reload();
say({ ready: true, jwks_uri: jwksUri.href, kids: kidsOf(cached), fetches: { cached: cachedCount.fetches, frozen: frozenCount.fetches } });

let lastGood = null;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    say({ error: 'bad command' });
    continue;
  }
  if (cmd.cmd === 'verify') {
    let kid = null;
    try {
      kid = decodeProtectedHeader(cmd.token).kid;
    } catch {
      say({ label: cmd.label, error: 'not a JWS' });
      continue;
    }
    const c = await check(cached, cachedCount, cmd.token, kid);
    const f = await check(frozen, frozenCount, cmd.token, kid);
    if (c.ok) lastGood = cmd.token;
    say({ label: cmd.label, kid, cached: c, frozen: f });
  } else if (cmd.cmd === 'refresh') {
    // Bounded: the cache goes stale after maxAge; give it four times that.
    const deadline = Date.now() + 4 * maxAge + 1000;
    while (cached.fresh && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (cached.fresh || !lastGood) {
      say({ label: 'refresh', error: cached.fresh ? 'the cache never went stale' : 'no token verified yet' });
      continue;
    }
    const kid = decodeProtectedHeader(lastGood).kid;
    say({ label: 'refresh', kid, cached: await check(cached, cachedCount, lastGood, kid) });
  } else {
    say({ error: `unknown command ${cmd.cmd}` });
  }
}
