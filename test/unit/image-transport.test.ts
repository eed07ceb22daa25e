// The HTTP layer against a local Node server: retries on 429/5xx with Retry-After, connection
// resets, a server that never answers (deadline on headers only), slow bodies not cut off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type net from 'node:net';
import { httpRequest } from '../../image/transport.js';
import { rejects } from '../lib/image.js';

let server: http.Server;
let base: string;
const hits = new Map<string, number>();

test.before(async () => {
  server = http.createServer((req, res) => {
    const n = (hits.get(req.url!) ?? 0) + 1;
    hits.set(req.url!, n);
    if (req.url === '/429' && n < 3) { res.writeHead(429, { 'Retry-After': '0' }); res.end(); return; }
    if (req.url === '/reset' && n < 2) { req.socket.destroy(); return; }
    if (req.url === '/hang') return; // never answers
    if (req.url === '/slow-body') {
      res.writeHead(200, { 'Content-Length': '30' });
      let i = 0;
      const t = setInterval(() => { res.write('0123456789'); if (++i === 3) { clearInterval(t); res.end(); } }, 150);
      return;
    }
    if (req.url === '/always500') { res.writeHead(500); res.end('boom'); return; }
    res.writeHead(200);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
test.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 };

test('429 is retried, honouring Retry-After', async () => {
  const res = await httpRequest({ method: 'GET', url: `${base}/429` }, fast);
  assert.is(res.status, 200);
  assert.is(await res.text(), 'ok');
  assert.is(hits.get('/429'), 3);
});

test('a reset connection is retried', async () => {
  const res = await httpRequest({ method: 'GET', url: `${base}/reset` }, fast);
  assert.is(res.status, 200);
});

test('persistent 500 returns the last response after the retries', async () => {
  const res = await httpRequest({ method: 'GET', url: `${base}/always500` }, fast);
  assert.is(res.status, 500);
  assert.is(hits.get('/always500'), 4);
});

test('no headers within the deadline: UNAVAILABLE after retries', async () => {
  await rejects(httpRequest({ method: 'GET', url: `${base}/hang`, timeoutMs: 100 }, { attempts: 2, baseDelayMs: 5, maxDelayMs: 5 }), (e) => e.code === 'UNAVAILABLE' && /no response within 100 ms/.test(e.message));
});

test('the deadline does not cut a slow body short', async () => {
  const res = await httpRequest({ method: 'GET', url: `${base}/slow-body`, timeoutMs: 200 }, fast);
  assert.is((await res.text()).length, 30);
});

test('unreachable host: UNAVAILABLE naming the URL', async () => {
  const port = await closedPort();
  await rejects(httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/v2/` }, { attempts: 2, baseDelayMs: 5, maxDelayMs: 5 }), (e) => e.code === 'UNAVAILABLE' && e.message.includes(`127.0.0.1:${port}/v2/ failed`) && /ECONNREFUSED/.test(e.message));
});

async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.run();
