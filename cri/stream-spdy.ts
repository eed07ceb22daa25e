// SPDY/3.1 transport of the streaming server (client-go's remotecommand and portforward over SPDY,
// what critest v1.26, crictl and kubelets before WebSocket use): one SPDY stream per channel.
// spdy-transport does the framing; this file only pairs streams with a session's channels.
import type http from 'node:http';
import type net from 'node:net';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { CriContext } from './context.js';
import { channelsOf, forwardPort, runExecSession, type ExecRequest, type StreamRequest } from './stream-session.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-var-requires
const spdy = require('spdy-transport') as {
  connection: { create(socket: Duplex, o: { protocol: 'spdy'; isServer: true }): SpdyConnection };
  protocol: { spdy: { parser: { create(o: { isServer: boolean }): object } } };
};

interface SpdyStream extends Duplex { headers: Record<string, string>; respond(status: number, headers: Record<string, string>): void }
interface SpdyConnection { on(ev: 'stream', fn: (s: SpdyStream) => void): void; on(ev: 'error' | 'close', fn: (e?: Error) => void): void; end(cb?: () => void): void }

const STREAM_WAIT_MS = 30_000;

// Kubernetes' SPDY streams carry no :method/:path (they are not HTTP requests), which
// spdy-transport's parser insists on for SYN_STREAM: give them neutral ones before it checks.
let patched = false;
function allowPlainSynStreams(): void {
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(spdy.protocol.spdy.parser.create({ isServer: true })) as { parseKVs: (b: unknown, cb: (e: Error | null, h?: Record<string, string>) => void) => void };
  const orig = proto.parseKVs;
  proto.parseKVs = function (this: unknown, buffer: unknown, cb: (e: Error | null, h?: Record<string, string>) => void) {
    orig.call(this, buffer, (err, headers) => {
      if (!err && headers && headers.streamtype !== undefined) {
        headers[':method'] ??= 'POST';
        headers[':path'] ??= '/';
      }
      cb(err, headers);
    });
  };
}

/** Answers the upgrade (or refuses it with an HTTP status) and runs the session over SPDY. */
export function acceptSpdy(ctx: CriContext, r: StreamRequest, req: http.IncomingMessage, socket: net.Socket, head: Buffer, reject: (code: number, text: string) => void): void {
  allowPlainSynStreams();
  const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const wanted = r.kind === 'portforward' ? ['portforward.k8s.io'] : ['v4.channel.k8s.io'];
  const proto = wanted.find((p) => offered.includes(p));
  if (!proto) return reject(403, `no supported stream protocol in ${JSON.stringify(offered)}: berth speaks ${wanted.join(', ')}\n`);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${proto}\r\n\r\n`);
  if (head.length) socket.unshift(head);
  socket.on('error', () => undefined);
  const conn = spdy.connection.create(socket, { protocol: 'spdy', isServer: true });
  conn.on('error', (e) => ctx.log(`streaming: ${e?.message}`));
  if (r.kind === 'portforward') portForward(ctx, r.sandboxId, conn, socket);
  else void execOrAttach(ctx, r, conn, socket).catch((e) => { ctx.log(`streaming ${r.kind}: ${(e as Error).message}`); socket.destroy(); });
}

async function execOrAttach(ctx: CriContext, r: ExecRequest, conn: SpdyConnection, socket: net.Socket): Promise<void> {
  const want = channelsOf(r);
  const need = ['error', ...Object.entries(want).filter(([, on]) => on).map(([name]) => name)];
  const streams = new Map<string, SpdyStream>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client did not open its streams within ${STREAM_WAIT_MS} ms`)), STREAM_WAIT_MS);
    conn.on('stream', (s) => {
      // a client that goes away resets its streams: that ends the session, it is no server error
      s.on('error', () => undefined);
      s.respond(200, {});
      streams.set(s.headers.streamtype, s);
      if (need.every((n) => streams.has(n))) { clearTimeout(timer); resolve(); }
    });
  });
  const errStream = streams.get('error')!;
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await runExecSession(ctx, r, {
    stdin: streams.get('stdin'), stdout: streams.get('stdout'), stderr: streams.get('stderr'), resize: streams.get('resize'),
    finish: (status) => {
      errStream.end(status);
      for (const [t, s] of streams) if (t !== 'error' && t !== 'stdin') s.end();
      setTimeout(() => { conn.end(); setTimeout(() => socket.destroy(), 1000).unref(); }, 100).unref();
    },
  }, gone);
}

// Each forwarded connection is a pair of streams (data, error) sharing a requestid.
function portForward(ctx: CriContext, sandboxId: string, conn: SpdyConnection, socket: net.Socket): void {
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream }>();
  conn.on('close', () => socket.destroy());
  conn.on('stream', (s) => {
    s.on('error', () => undefined);
    s.respond(200, {});
    const id = s.headers.requestid ?? '';
    const p = pairs.get(id) ?? {};
    if (s.headers.streamtype === 'data') p.data = s; else if (s.headers.streamtype === 'error') p.error = s;
    pairs.set(id, p);
    if (p.data && p.error) {
      pairs.delete(id);
      void forwardPort(ctx, sandboxId, Number(s.headers.port), p.data, p.error);
    }
  });
}
