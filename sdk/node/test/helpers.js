// A real jitdesk for the tests: the binary ($JITDESK_BIN, else built with
// `go build` from this repository), a temporary database, an application,
// an approver and templates, and `jitdesk serve` on a free loopback port.
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const AUDIENCE = 'https://payments.example';

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

let built; // the binary built once per test process when JITDESK_BIN is unset
async function binary() {
  if (process.env.JITDESK_BIN) return process.env.JITDESK_BIN;
  if (!built) {
    const buildDir = await mkdtemp(join(tmpdir(), 'jitdesk-node-bin-'));
    process.once('exit', () => rmSync(buildDir, { recursive: true, force: true }));
    const out = join(buildDir, 'jitdesk');
    built = run('go', ['build', '-o', out, './cmd/jitdesk'], {
      cwd: repo, env: { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN || 'go1.26.10' },
    }).then(() => out);
  }
  return built;
}

export async function startJitdesk() {
  const dir = await mkdtemp(join(tmpdir(), 'jitdesk-node-'));
  try {
    return await setUp(dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function setUp(dir) {
  const bin = await binary();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const db = join(dir, 'j.db');
  const jd = async (...args) => (await run(bin, ['--db', db, '--issuer', url, ...args])).stdout;
  await jd('init');
  const app = JSON.parse(await jd('--json', 'app', 'add', 'payments', '--audience', AUDIENCE));
  await jd('approver', 'add', 'bob', '--name', 'Bob Okafor');
  await jd('template', 'add', 'k8s', '--app', 'payments', '--title', 'K8s exec', '--type', 'approve',
    '--approver', 'bob', '--ttl', '30m', '--field', 'ticket');
  let proc; let log = '';
  const start = async () => {
    log = '';
    proc = spawn(bin, ['--db', db, '--issuer', url, 'serve', '--http', `127.0.0.1:${port}`, '--ssh', '', '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (b) => { log += b; });
    proc.stderr.on('data', (b) => { log += b; });
    const exited = new Promise((ok) => proc.once('exit', ok));
    proc.exited = exited;
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) return;
      } catch { /* not up yet */ }
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (proc.exitCode === null) { proc.kill('SIGKILL'); await exited; }
    throw new Error(`jitdesk serve did not become healthy:\n${log}`);
  };
  const stop = async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await proc.exited;
    }
  };
  await start();
  return {
    url, issuer: url, appId: app.id, secret: app.secret, audience: AUDIENCE, jd,
    log: () => log,
    approve: (id) => jd('approve', id, '--as', 'bob', '--comment', 'ok from the test'),
    deny: (id, comment) => jd('deny', id, '--as', 'bob', '--comment', comment),
    revoke: (id) => jd('revoke', id, '--as', 'bob', '--reason', 'test revocation'),
    pending: async () => JSON.parse(await jd('--json', 'request', 'list', '--status', 'pending')),
    stop,
    restart: start,
    close: async () => { await stop(); await rm(dir, { recursive: true, force: true }); },
  };
}
