// wait() across a jitdesk restart, on a server of its own.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Jitdesk, UnavailableError } from '../src/index.js';
import { startJitdesk } from './helpers.js';

let j;
before(async () => { j = await startJitdesk(); });
after(async () => { await j?.close(); });

test('wait survives the server going down and coming back', async () => {
  const first = new Jitdesk({ url: j.url, appId: j.appId, secret: j.secret });
  const r = await first.request({ template: 'k8s', user: 'alice', reason: 'restart test' });
  await j.stop();
  let restarted;
  const retried = [];
  const jd = new Jitdesk({
    url: j.url, appId: j.appId, secret: j.secret,
    onRetry: (err) => {
      retried.push(err);
      // On the first failed poll, bring the server back and approve.
      restarted ??= j.restart().then(() => j.approve(r.id));
    },
  });
  const done = await jd.wait(r.id, { timeout: 120000 });
  await restarted;
  assert.equal(done.status, 'approved');
  assert.ok(retried.length >= 1);
  assert.ok(retried[0] instanceof UnavailableError, String(retried[0]));
});
