// The resident planner: a warm berth-runtime process serving thin clients (bin/berth-runtime) on a unix
// socket. Each client connection is one CLI invocation, run by the same main() as the Node CLI with the
// client's cwd, output and signals; berth-init still runs as the client's own child (protocol.ts), so
// whoever ran the runtime stays the container's parent, as with runc. Node's start (~60 ms) is paid once.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BerthError, internal } from '../../lib/errors.js';
import { peerCred } from '../../native/ffi.js';
import { SyncChannel } from '../plan/sync-channel.js';
import { main } from '../cli/main.js';
import { NeedsLocalCli } from '../cli/io.js';
import { parseRequest } from './protocol.js';
import { Session, type TokenBroker } from './session.js';

export interface PlannerOptions {
  socket: string;
  /** Where the planner's own problems go (a client's go to that client). */
  log?: (msg: string) => void;
}

interface Pending { resolve(chan: SyncChannel): void; reject(e: Error): void; timer: NodeJS.Timeout }

export class Planner implements TokenBroker {
  private pending = new Map<string, Pending>();
  private sockets = new Set<net.Socket>();
  private readonly log: (msg: string) => void;

  private constructor(readonly socket: string, private readonly server: net.Server, log?: (msg: string) => void) {
    this.log = log ?? ((m) => process.stderr.write(`berth-runtime planner: ${m}\n`));
    server.on('connection', (s) => this.accept(s));
  }

  /** Listen on `socket` (0600, its directory made 0700 if missing); a stale socket file is replaced. */
  static async listen(opts: PlannerOptions): Promise<Planner> {
    const file = path.resolve(opts.socket);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    await removeStale(file);
    const server = net.createServer({ allowHalfOpen: false });
    // bind() happens synchronously inside listen(): the umask makes the socket 0600 from its first
    // moment, and is back before any other code of this process runs.
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => { server.off('error', reject); resolve(); });
    });
    const old = process.umask(0o177);
    try {
      server.listen(file);
    } finally {
      process.umask(old);
    }
    await listening;
    fs.chmodSync(file, 0o600);
    return new Planner(file, server, opts.log);
  }

  /** Do not keep the process alive for new connections (open ones still do). */
  unref(): void {
    this.server.unref();
  }

  /** Stop accepting, end open connections (their clients report it), remove the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    for (const [token, p] of this.pending) { clearTimeout(p.timer); p.reject(internal('the planner is shutting down')); this.pending.delete(token); }
    await closed;
    try {
      if (fs.statSync(this.socket).isSocket()) fs.unlinkSync(this.socket);
    } catch { /* already gone */ }
  }

  expect(token: string, timeoutMs: number): Promise<SyncChannel> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(internal(`the client did not connect berth-init within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
    });
  }

  cancel(token: string): void {
    const p = this.pending.get(token);
    if (p) clearTimeout(p.timer);
    this.pending.delete(token);
  }

  private accept(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let why = 'connection closed';
    const chan = new SyncChannel(sock, () => internal(`berth-runtime client: ${why}`));
    void this.serve(sock, chan).catch((e) => {
      why = (e as Error).message;
      this.log(`connection: ${(e as Error).message}`);
      sock.destroy();
    });
  }

  private async serve(sock: net.Socket, chan: SyncChannel): Promise<void> {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) throw internal('cannot tell who connected: no socket fd');
    const cred = peerCred(fd);
    const me = process.getuid?.() ?? 0;
    if (cred.uid !== 0 && cred.uid !== me) throw new BerthError('PERMISSION_DENIED', `refused uid ${cred.uid} (pid ${cred.pid})`);
    const first = await chan.next();
    if (first.type === 'T') return this.attachInit(first.payload.toString('utf8'), chan);
    if (first.type !== 'Q') throw internal(`expected a request, got message '${first.type}'`);
    const req = parseRequest(first.payload);
    // A client in another pid namespace: the pids berth-init and the planner exchange would not be its.
    if (cred.pid !== req.pid) {
      chan.send('F');
      sock.end();
      return;
    }
    const session = new Session(chan, req, this);
    const reading = (async () => {
      for (;;) {
        const f = await chan.next();
        session.dispatch(f.type, f.payload);
      }
    })();
    reading.catch((e: Error) => session.closed(e));
    try {
      const code = await main(req.argv, session.io);
      session.finish(code);
    } catch (e) {
      if (!(e instanceof NeedsLocalCli)) throw e;
      chan.send('F');
    }
    sock.end();
  }

  /** A client's berth-init connection: from now on the session that asked for it drives it. */
  private attachInit(token: string, chan: SyncChannel): void {
    const p = this.pending.get(token);
    if (!p) throw internal('berth-init connected with an unknown token');
    clearTimeout(p.timer);
    this.pending.delete(token);
    p.resolve(chan);
  }
}

async function removeStale(file: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new BerthError('ALREADY_EXISTS', `${file} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (live) throw new BerthError('ALREADY_EXISTS', `a planner already listens on ${file}`);
  fs.unlinkSync(file);
}
