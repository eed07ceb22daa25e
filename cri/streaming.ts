// berth's streaming server for CRI Exec, Attach and PortForward: the RPCs hand out a one-time URL on
// 127.0.0.1 (random port); the client (kubelet, crictl, critest) then upgrades an HTTP request at
// that URL either to SPDY/3.1 (stream-spdy.ts) or to a WebSocket (stream-ws.ts). What the session
// does is the same for both (stream-session.ts).
import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { invalidArgument } from '../lib/errors.js';
import type { CriContext } from './context.js';
import type { StreamRequest } from './stream-session.js';
import { acceptSpdy } from './stream-spdy.js';
import { WebSocketStreams } from './stream-ws.js';

export type { StreamRequest } from './stream-session.js';

const TOKEN_TTL_MS = 60_000;

export class StreamingServer {
  private server?: http.Server;
  private tokens = new Map<string, { req: StreamRequest; expires: number }>();
  private sockets = new Set<net.Socket>();
  private readonly ws: WebSocketStreams;
  base = '';

  constructor(private ctx: CriContext, private host = '127.0.0.1') {
    this.ws = new WebSocketStreams(ctx);
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('berth streaming: this endpoint needs an Upgrade to SPDY/3.1 or to a WebSocket\n');
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('connection', (s: net.Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, this.host, () => resolve()); });
    const addr = server.address() as net.AddressInfo;
    this.base = `http://${this.host}:${addr.port}`;
    this.server = server;
  }

  close(): Promise<void> {
    this.ws.close();
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
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') return this.ws.accept(entry.req, req, socket, head, reject);
    if (upgrade === 'spdy/3.1') return acceptSpdy(this.ctx, entry.req, req, socket, head, reject);
    reject(400, 'berth streams over SPDY/3.1 or WebSocket only\n');
  }
}
