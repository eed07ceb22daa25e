// berth's streaming server for CRI Exec, Attach and PortForward: the RPCs hand out a one-time URL on
// 127.0.0.1 (random port); the client (kubelet, crictl) then upgrades an HTTP request at that URL to
// SPDY/3.1 (client-go remotecommand / portforward) and opens one SPDY stream per channel.
// spdy-transport does the SPDY framing; this file only pairs streams with the container's stdio.
import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { invalidArgument } from '../lib/errors.js';
import type { CriContext } from './context.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-var-requires
const spdy = require('spdy-transport') as {
  connection: { create(socket: Duplex, o: { protocol: 'spdy'; isServer: true }): SpdyConnection };
  protocol: { spdy: { parser: { create(o: { isServer: boolean }): object } } };
};

interface SpdyStream extends Duplex { headers: Record<string, string>; respond(status: number, headers: Record<string, string>): void }
interface SpdyConnection { on(ev: 'stream', fn: (s: SpdyStream) => void): void; on(ev: 'error' | 'close', fn: (e?: Error) => void): void; end(cb?: () => void): void }

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

export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'attach'; containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portforward'; sandboxId: string; ports: number[] };

const TOKEN_TTL_MS = 60_000;
const STREAM_WAIT_MS = 30_000;

const STATUS_SUCCESS = JSON.stringify({ metadata: {}, status: 'Success' });
function statusExit(code: number): string {
  return JSON.stringify({
    metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: error executing command, exit status ${code}`,
    reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}
function statusError(msg: string): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message: msg, reason: 'InternalError' });
}

// The output streams end once everything the monitor sent has been handed on: only then may the
// SPDY streams close, or the last lines are lost.
function drained(io: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }): Promise<void> {
  const ended = (s: NodeJS.ReadableStream) => new Promise<void>((resolve) => {
    if ((s as unknown as { readableEnded?: boolean }).readableEnded) return resolve();
    s.once('end', () => resolve());
    s.once('close', () => resolve());
  });
  return Promise.race([Promise.all([ended(io.stdout), ended(io.stderr)]).then(() => undefined), new Promise<void>((r) => setTimeout(r, 5000).unref())]);
}

export class StreamingServer {
  private server?: http.Server;
  private tokens = new Map<string, { req: StreamRequest; expires: number }>();
  private sockets = new Set<net.Socket>();
  base = '';

  constructor(private ctx: CriContext, private host = '127.0.0.1') {}

  async start(): Promise<void> {
    allowPlainSynStreams();
    const server = http.createServer((req, res) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('berth streaming: this endpoint needs an Upgrade to SPDY/3.1\n');
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('connection', (s: net.Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, this.host, () => resolve()); });
    const addr = server.address() as net.AddressInfo;
    this.base = `http://${this.host}:${addr.port}`;
    this.server = server;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A one-time URL for this request, valid for a minute. */
  url(req: StreamRequest): string {
    if (!this.server) throw invalidArgument('the streaming server is not running');
    const now = Date.now();
    for (const [t, v] of this.tokens) if (v.expires < now) this.tokens.delete(t);
    const token = crypto.randomBytes(18).toString('base64url');
    this.tokens.set(token, { req, expires: now + TOKEN_TTL_MS });
    return `${this.base}/${req.kind}/${token}`;
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec((req.url ?? '').split('?')[0]);
    const entry = m ? this.tokens.get(m[2]) : undefined;
    if (m) this.tokens.delete(m[2]); // one use only, even when the upgrade fails
    const reject = (code: number, text: string) => {
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    if (!m || !entry || entry.expires < Date.now() || entry.req.kind !== m[1]) return reject(404, 'unknown or expired streaming token\n');
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1') return reject(400, 'berth streams over SPDY/3.1 only\n');
    const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const wanted = entry.req.kind === 'portforward' ? ['portforward.k8s.io'] : ['v4.channel.k8s.io'];
    const proto = wanted.find((p) => offered.includes(p));
    if (!proto) return reject(403, `no supported stream protocol in ${JSON.stringify(offered)}: berth speaks ${wanted.join(', ')}\n`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${proto}\r\n\r\n`);
    if (head.length) socket.unshift(head);
    socket.on('error', () => undefined);
    const conn = spdy.connection.create(socket, { protocol: 'spdy', isServer: true });
    conn.on('error', (e) => this.ctx.log(`streaming: ${e?.message}`));
    const r = entry.req;
    if (r.kind === 'portforward') this.portForward(r, conn, socket);
    else void this.execOrAttach(r, conn, socket).catch((e) => { this.ctx.log(`streaming ${r.kind}: ${(e as Error).message}`); socket.destroy(); });
  }

  private async execOrAttach(r: Extract<StreamRequest, { kind: 'exec' | 'attach' }>, conn: SpdyConnection, socket: net.Socket): Promise<void> {
    const need = new Set(['error', ...(r.stdin ? ['stdin'] : []), ...(r.stdout ? ['stdout'] : []), ...(r.stderr && !r.tty ? ['stderr'] : []), ...(r.tty ? ['resize'] : [])]);
    const streams = new Map<string, SpdyStream>();
    let resizeBuf = '';
    let pendingSize: { rows: number; cols: number } | undefined;
    let resizeTo: ((s: { rows: number; cols: number }) => void) | undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client did not open its streams within ${STREAM_WAIT_MS} ms`)), STREAM_WAIT_MS);
      conn.on('stream', (s) => {
        // a client that goes away resets its streams: that ends the session, it is no server error
        s.on('error', () => undefined);
        s.respond(200, {});
        const type = s.headers.streamtype;
        streams.set(type, s);
        if (type === 'resize') {
          s.on('data', (d: Buffer) => {
            resizeBuf += d.toString('utf8');
            let i;
            while ((i = resizeBuf.indexOf('\n')) >= 0 || (resizeBuf.trim().endsWith('}') && (i = resizeBuf.length) > 0)) {
              const line = resizeBuf.slice(0, i).trim();
              resizeBuf = resizeBuf.slice(i + 1);
              if (!line) continue;
              try {
                const sz = JSON.parse(line) as { Width: number; Height: number };
                const size = { rows: sz.Height, cols: sz.Width };
                if (resizeTo) resizeTo(size); else pendingSize = size;
              } catch { /* not a size: ignore */ }
            }
          });
        }
        if ([...need].every((n) => streams.has(n))) { clearTimeout(timer); resolve(); }
      });
    });
    const errStream = streams.get('error')!;
    const finish = (status: string) => {
      errStream.end(status);
      for (const [t, s] of streams) if (t !== 'error' && t !== 'stdin') s.end();
      setTimeout(() => { conn.end(); setTimeout(() => socket.destroy(), 1000).unref(); }, 100).unref();
    };
    try {
      if (r.kind === 'exec') {
        const { session, streams: io } = await this.ctx.svc.exec(r.containerId, { cmd: r.cmd, tty: r.tty, stdin: r.stdin, ttySize: pendingSize });
        if (!io) throw new Error('the exec session has no streams');
        resizeTo = (s) => { void session.resize(s.rows, s.cols).catch(() => undefined); };
        this.pipe(io, streams, () => session.closeStdin());
        const exit = await session.waitExit();
        await io.closed.catch(() => undefined);
        await drained(io);
        finish(exit.exitCode === 0 ? STATUS_SUCCESS : statusExit(exit.exitCode));
      } else {
        const io = await this.ctx.svc.attach(r.containerId);
        const m = this.ctx.svc.monitorOf(r.containerId);
        resizeTo = (s) => { void m.resize(s.rows, s.cols).catch(() => undefined); };
        if (pendingSize) resizeTo(pendingSize);
        this.pipe(io, streams, () => m.closeStdin());
        // the client going away ends the attach; the container keeps running
        socket.once('close', () => io.detach());
        await io.closed;
        await drained(io);
        finish(STATUS_SUCCESS);
      }
    } catch (e) {
      finish(statusError((e as Error).message));
    }
  }

  // The client's end of stdin closes the process's stdin through the monitor's control socket:
  // half-closing the attach socket instead would make the monitor drop this client and its output.
  private pipe(io: { stdout: Duplex | NodeJS.ReadableStream; stderr: NodeJS.ReadableStream; stdin: NodeJS.WritableStream }, streams: Map<string, SpdyStream>, closeStdin: () => Promise<void>): void {
    const out = streams.get('stdout');
    const err = streams.get('stderr');
    const inp = streams.get('stdin');
    if (out) io.stdout.pipe(out, { end: false }); else io.stdout.resume();
    if (err) io.stderr.pipe(err, { end: false }); else io.stderr.resume();
    if (inp) {
      let writing = Promise.resolve();
      inp.on('data', (d: Buffer) => { writing = new Promise((resolve) => io.stdin.write(d, () => resolve())); });
      inp.on('end', () => { void writing.then(() => closeStdin()).catch(() => undefined); });
    }
  }

  // Each forwarded connection is a pair of streams (data, error) sharing a requestid; berth connects
  // it to 127.0.0.1:<port> inside the pod's network namespace through busybox nc under nsenter.
  private portForward(r: Extract<StreamRequest, { kind: 'portforward' }>, conn: SpdyConnection, socket: net.Socket): void {
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
        const port = Number(s.headers.port);
        void this.forwardOne(r.sandboxId, port, p.data, p.error);
      }
    });
  }

  private async forwardOne(sandboxId: string, port: number, data: SpdyStream, error: SpdyStream): Promise<void> {
    try {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`invalid port ${port}`);
      const sb = this.ctx.sandboxes.get(sandboxId);
      const netns = sb.record.namespaces.network === 'node' ? undefined : this.ctx.sandboxes.nsPath(sb, 'net');
      const argv = [...(netns ? ['nsenter', `--net=${netns}`] : []), '/bin/busybox', 'nc', '127.0.0.1', String(port)];
      const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      data.pipe(child.stdin);
      child.stdout.pipe(data);
      data.on('close', () => child.kill('SIGTERM'));
      child.on('exit', (code) => {
        if (code && stderr) error.end(`error forwarding port ${port} to pod ${sandboxId}: ${stderr.trim()}`);
        else error.end();
      });
      child.on('error', (e) => error.end(`error forwarding port ${port}: ${e.message}`));
    } catch (e) {
      error.end(`error forwarding port ${port} to pod ${sandboxId}: ${(e as Error).message}`);
      data.end();
    }
  }
}
