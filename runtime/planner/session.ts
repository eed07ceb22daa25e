// One thin client's invocation, served in the planner: the CliIO main() writes to, and the ProcessHost
// through which berth-init runs as the client's child and the client reaps a foreground container.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { internal } from '../../lib/errors.js';
import { nativeBinary } from '../../lib/paths.js';
import { checkPreserveFds, type Adopted, type Launched, type ProcessHost } from '../host.js';
import type { SyncChannel } from '../plan/sync-channel.js';
import { NeedsLocalCli, type CliIO, type Forwarded } from '../cli/io.js';
import type { Request } from './protocol.js';

const SIGNAL_NAMES = new Map<number, Forwarded>(
  (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'] as const).map((s) => [constants.signals[s], s]),
);
/** Their default action ends the process: the Node CLI would have died of them. */
const TERMINATING = new Set<Forwarded>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']);
const CONNECT_TIMEOUT_MS = 10_000;

/** Where a session's berth-init connections arrive (the server matches their token). */
export interface TokenBroker {
  expect(token: string, timeoutMs: number): Promise<SyncChannel>;
  cancel(token: string): void;
}

export class Session implements ProcessHost {
  readonly io: CliIO;
  private handlers = new Map<Forwarded, Set<(sig: Forwarded) => void>>();
  /** Signals that came before any handler (runc too delivers those once it forwards). */
  private queued: Forwarded[] = [];
  private exits = new Map<string, (status: number) => void>();
  private spawnErrors = new Map<string, (e: Error) => void>();
  private waits = new Map<number, { resolve: (status: number) => void; reject: (e: Error) => void }>();
  private gone: Error | undefined;

  constructor(private readonly chan: SyncChannel, readonly req: Request, private readonly broker: TokenBroker) {
    this.io = {
      cwd: req.cwd,
      umask: req.umask,
      env: req.env,
      out: (t) => this.chan.send('O', t),
      err: (t) => this.chan.send('R', t),
      onSignal: (sigs, h) => this.onSignal(sigs, h),
      readStdin: () => { throw new NeedsLocalCli('stdin'); },
      host: this,
    };
  }

  // ---- from the client --------------------------------------------------------------------
  /** One frame the client sent after its request. */
  dispatch(type: string, payload: Buffer): void {
    const text = payload.toString('utf8');
    const sp = text.indexOf(' ');
    const head = sp < 0 ? text : text.slice(0, sp);
    const tail = sp < 0 ? '' : text.slice(sp + 1);
    if (type === 'S') {
      const sig = SIGNAL_NAMES.get(Number(text));
      if (!sig) return;
      const hs = this.handlers.get(sig);
      if (hs?.size) for (const h of hs) h(sig);
      else this.queued.push(sig);
    } else if (type === 'X') {
      this.exits.get(head)?.(Number(tail));
      this.exits.delete(head);
    } else if (type === 'E') {
      this.spawnErrors.get(head)?.(internal(tail));
    } else if (type === 'W') {
      const w = this.waits.get(Number(head));
      this.waits.delete(Number(head));
      w?.resolve(Number(tail));
    }
  }

  /** The client's connection ended: nothing it was to report will come. */
  closed(why: Error): void {
    this.gone = why;
    for (const resolve of this.exits.values()) resolve(255);
    this.exits.clear();
    for (const reject of this.spawnErrors.values()) reject(why);
    for (const w of this.waits.values()) w.reject(why);
    this.waits.clear();
  }

  /** The last frame: exit code, or death by a signal the command never handled. */
  finish(code: number): void {
    const fatal = this.queued.find((s) => TERMINATING.has(s));
    if (fatal) this.chan.send('K', String(constants.signals[fatal]));
    else this.chan.send('Z', String(code));
  }

  private onSignal(sigs: readonly Forwarded[], h: (sig: Forwarded) => void): () => void {
    for (const s of sigs) {
      let set = this.handlers.get(s);
      if (!set) this.handlers.set(s, (set = new Set()));
      set.add(h);
    }
    const early = this.queued.filter((s) => sigs.includes(s));
    this.queued = this.queued.filter((s) => !sigs.includes(s));
    for (const s of early) h(s);
    return () => { for (const s of sigs) this.handlers.get(s)?.delete(h); };
  }

  // ---- ProcessHost: the client is the process ----------------------------------------------
  async launch(mode: 'create' | 'exec', stdio: [number, number, number] | undefined, preserveFds: number): Promise<Launched> {
    if (stdio) throw internal('a planner request runs berth-init with its client\'s stdio only');
    checkPreserveFds(preserveFds);
    if (this.gone) throw this.gone;
    const token = randomBytes(16).toString('hex');
    const exited = new Promise<number>((resolve) => this.exits.set(token, resolve));
    const failed = new Promise<never>((_, reject) => this.spawnErrors.set(token, reject));
    failed.catch(() => {});
    const connected = this.broker.expect(token, CONNECT_TIMEOUT_MS);
    this.chan.send('N', [token, mode, nativeBinary('berth-init'), String(preserveFds)].join('\0'));
    try {
      const chan = await Promise.race([connected, failed]);
      chan.describeCloseAs(() => internal(`berth-init ${mode} ended without reporting (${this.gone ? 'its client went away' : 'sync socket closed'})`));
      return { chan, exited };
    } catch (e) {
      this.broker.cancel(token);
      this.exits.delete(token);
      throw e;
    } finally {
      this.spawnErrors.delete(token);
    }
  }

  becomeSubreaper(): void {
    this.chan.send('B');
  }

  adopt(pid: number): Adopted {
    // The client records the status of every child it reaps, so asking later loses nothing; and the
    // pid cannot be reused before the client reaped it.
    return {
      wait: () => new Promise<number>((resolve, reject) => {
        if (this.gone) return reject(this.gone);
        this.waits.set(pid, { resolve, reject });
        this.chan.send('W', String(pid));
      }),
      close: () => {},
    };
  }
}
