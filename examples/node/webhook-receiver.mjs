// A jitdesk webhook receiver: checks each POST with the Standard Webhooks
// library (npm standardwebhooks), refuses anything that does not verify with
// 401, answers a repeated webhook-id (jitdesk delivers at least once) with
// 200 without handling it twice, and prints one JSON line per new event.
//
// Environment: JITDESK_WEBHOOK_SECRET (the whsec_… string exactly as
// `jitdesk webhook add` printed it), LISTEN (host:port, default
// 127.0.0.1:8787; port 0 picks a free one). It prints
// "listening on http://HOST:PORT" once it accepts connections.
import { createServer } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

const secret = process.env.JITDESK_WEBHOOK_SECRET;
if (!secret || !secret.startsWith('whsec_')) {
  console.error('webhook-receiver: set JITDESK_WEBHOOK_SECRET to the whsec_… secret of the hook');
  process.exit(2);
}
const [host, port] = (process.env.LISTEN || '127.0.0.1:8787').split(/:(?=\d+$)/);

// Secrets jitdesk issued before it followed Standard Webhooks are whsec_ +
// unpadded base64url, which the library's decoder refuses; they stand for
// the same bytes, so hand those to the library as a raw key.
const encoded = secret.slice('whsec_'.length);
const webhook = /^[A-Za-z0-9+/]*={0,2}$/.test(encoded) && encoded.length % 4 === 0
  ? new Webhook(secret)
  : new Webhook(Buffer.from(encoded, 'base64url'), { format: 'raw' });

const MAX_BODY = 1 << 20;
const DEDUPE_MS = 10 * 60 * 1000; // longer than the 5-minute timestamp tolerance
const seen = new Map(); // webhook-id -> when it was first handled

// Everything in an event came from outside: print it as JSON with every
// non-ASCII character escaped, so no control sequence reaches a terminal.
const inert = (v) => JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    const raw = Buffer.concat(chunks); // the bytes as received: never re-serialise before verifying
    let event;
    try {
      event = webhook.verify(raw, req.headers);
    } catch (err) {
      res.writeHead(err instanceof WebhookVerificationError ? 401 : 400).end();
      return;
    }
    const id = req.headers['webhook-id'];
    const now = Date.now();
    for (const [k, at] of seen) {
      if (now - at <= DEDUPE_MS) break; // insertion order is time order
      seen.delete(k);
    }
    if (seen.has(id)) {
      res.writeHead(200).end('duplicate');
      return;
    }
    seen.set(id, now);
    const request = event?.data?.request || {};
    console.log(inert({ id, type: event?.type, request: request.id, status: request.status, outcome: event?.data?.outcome }));
    res.writeHead(204).end();
  });
});
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
