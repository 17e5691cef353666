// Driven by TestStandardWebhooksNPMInterop (interop_test.go): reads a JSON
// list of cases on stdin, runs each through the npm package standardwebhooks
// (resolved from the directory given as the first argument, sdk/node, whose
// package-lock.json pins it) and prints one JSON result per case.
//
// A case is {op: "verify"|"sign", secret, legacy, id, timestamp, body, headers?}:
// body is base64 (the exact bytes); legacy secrets (whsec_ + unpadded
// base64url, which the library's decoder does not read) are turned into the
// raw key the way the README tells receivers to; and the library's clock is
// pinned to the case's timestamp so the result does not depend on when the
// test runs.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const sdkDir = process.argv[2];
const { Webhook } = createRequire(join(sdkDir, 'package.json'))('standardwebhooks');

const cases = JSON.parse(readFileSync(0, 'utf8'));
const realNow = Date.now;
const results = cases.map((c) => {
  Date.now = () => c.timestamp * 1000;
  try {
    const wh = c.legacy
      ? new Webhook(Buffer.from(c.secret.slice('whsec_'.length), 'base64url'), { format: 'raw' })
      : new Webhook(c.secret);
    const body = Buffer.from(c.body, 'base64');
    if (c.op === 'sign') return { signature: wh.sign(c.id, new Date(c.timestamp * 1000), body) };
    wh.verify(body, c.headers);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: String(err && err.message) };
  } finally {
    Date.now = realNow;
  }
});
process.stdout.write(JSON.stringify(results));
