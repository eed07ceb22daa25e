// WebSocket transport of the streaming server (kubelet's own WebSocket streaming, what crictl 1.30+
// and kubelets >= 1.29 try first): every message is one channel's data behind a channel byte.
//   exec/attach: channel.k8s.io (no status), v4.channel.k8s.io (status JSON on the error channel),
//     v4.base64.channel.k8s.io (text frames: the channel as an ASCII digit, the data in base64),
//     v5.channel.k8s.io (v4, plus [255, channel] from the client to close that channel: stdin's end);
//     channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize.
//   port-forward: no protocol or v4.(base64.)channel.k8s.io; ports from ?port=P (else the request's);
//     port i has channels 2i (data) and 2i+1 (error), each opened by a message of the port as uint16 LE.
import type http from 'node:http';
import type net from 'node:net';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CriContext } from './context.js';
import { channelsOf, forwardPort, runExecSession, type ExecRequest, type StreamRequest } from './stream-session.js';

const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];
const PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];
const CLOSE_CHANNEL = 255;
const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;

/** One WebSocket carrying numbered channels in both directions. */
class Channels {
  private readonly incoming = new Map<number, PassThrough>();
  readonly closed: Promise<void>;

  constructor(private readonly ws: WebSocket, private readonly base64: boolean) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => undefined);
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      let ch: number;
      let data: Buffer;
      if (this.base64 && !isBinary) {
        const text = raw.toString('latin1');
        ch = text.charCodeAt(0) - 48;
        data = Buffer.from(text.slice(1), 'base64');
      } else {
        ch = raw[0];
        data = raw.subarray(1);
      }
      if (ch === CLOSE_CHANNEL) { if (data.length) this.incoming.get(data[0])?.end(); return; }
      // kept even before the session reads the channel: a resize may come first
      const s = this.readable(ch);
      if (!s.writableEnded) s.write(data);
    });
    // A connection that goes away is no end of input: only the close signal ends a channel (as the
    // kubelet does), or an attach would close the container's stdin when the client detaches.
    void this.closed.then(() => { for (const s of this.incoming.values()) s.destroy(); });
  }

  /** What the client sends on `ch`; ends when the client closes that channel (v5), is destroyed when it goes. */
  readable(ch: number): PassThrough {
    let s = this.incoming.get(ch);
    if (!s) { s = new PassThrough(); this.incoming.set(ch, s); }
    return s;
  }

  send(ch: number, data: Buffer | string): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const frame = this.base64 ? String.fromCharCode(48 + ch) + body.toString('base64') : Buffer.concat([Buffer.from([ch]), body]);
    return new Promise((resolve) => {
      if (this.ws.readyState !== this.ws.OPEN) return resolve();
      this.ws.send(frame, { binary: !this.base64 }, () => resolve());
    });
  }

  /** What the server writes on `ch`. Ending it closes nothing: a channel cannot half-close towards the client. */
  writable(ch: number, onEnd?: () => void): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => { void this.send(ch, chunk).then(() => cb()); },
      final: (cb) => { onEnd?.(); cb(); },
    });
  }

  close(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }
}

export class WebSocketStreams {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>, req: http.IncomingMessage) => {
      const known = (req as { berthKind?: string }).berthKind === 'portforward' ? PORTFORWARD_PROTOCOLS : EXEC_PROTOCOLS;
      return known.find((p) => offered.has(p)) ?? false;
    },
  });

  constructor(private readonly ctx: CriContext) {}

  accept(r: StreamRequest, req: http.IncomingMessage, socket: net.Socket, head: Buffer, reject: (code: number, text: string) => void): void {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const known = r.kind === 'portforward' ? PORTFORWARD_PROTOCOLS : EXEC_PROTOCOLS;
    // exec without a known protocol could not say how the command ended: refuse it, as the kubelet does
    if (r.kind !== 'portforward' && !offered.some((p) => known.includes(p))) {
      return reject(400, `no supported WebSocket protocol in ${JSON.stringify(offered)}: berth speaks ${known.join(', ')}\n`);
    }
    (req as { berthKind?: string }).berthKind = r.kind;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const proto = ws.protocol;
      const ch = new Channels(ws, proto.includes('base64'));
      if (r.kind === 'portforward') void this.portForward(r, req, ch);
      else void this.execOrAttach(r, proto, ch).catch((e) => { this.ctx.log(`streaming ${r.kind}: ${(e as Error).message}`); ch.close(); });
    });
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private async execOrAttach(r: ExecRequest, proto: string, ch: Channels): Promise<void> {
    const want = channelsOf(r);
    // The kubelet's first message, on the lowest channel the client reads, says the session is open.
    await ch.send(want.stdout ? STDOUT : want.stderr ? STDERR : ERROR, Buffer.alloc(0));
    const statusJson = proto.startsWith('v4.') || proto.startsWith('v5.');
    await runExecSession(this.ctx, r, {
      stdin: want.stdin ? ch.readable(STDIN) : undefined,
      stdout: want.stdout ? ch.writable(STDOUT) : undefined,
      stderr: want.stderr ? ch.writable(STDERR) : undefined,
      resize: want.resize ? ch.readable(RESIZE) : undefined,
      finish: (status) => {
        // before v4 the error channel carries only the message of a failure
        const s = JSON.parse(status) as { status: string; message?: string };
        const body = statusJson ? status : s.status === 'Success' ? '' : s.message ?? '';
        void (body ? ch.send(ERROR, body) : Promise.resolve()).then(() => ch.close());
      },
    }, ch.closed);
  }

  private async portForward(r: Extract<StreamRequest, { kind: 'portforward' }>, req: http.IncomingMessage, ch: Channels): Promise<void> {
    const fromQuery = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port').flatMap((p) => p.split(',')).map(Number);
    const ports = fromQuery.length ? fromQuery : r.ports;
    if (!ports.length) { await ch.send(1, 'no port to forward: give ?port=P'); ch.close(); return; }
    let open = ports.length;
    const done = () => { if (--open === 0) ch.close(); };
    for (const [i, port] of ports.entries()) {
      const p = Buffer.alloc(2);
      p.writeUInt16LE(port & 0xffff);
      await ch.send(2 * i, p);
      await ch.send(2 * i + 1, p);
      const data = Duplex.from({ readable: ch.readable(2 * i), writable: ch.writable(2 * i) });
      const error = new Writable({
        write: (chunk: Buffer, _enc, cb) => { void ch.send(2 * i + 1, chunk).then(() => cb()); },
        final: (cb) => { done(); cb(); },
      });
      void forwardPort(this.ctx, r.sandboxId, port, data, error);
    }
  }
}
