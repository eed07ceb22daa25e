// What the Engine API needs beyond single calls into the container service: the events it
// publishes, attaches that wait for a start, the exit watcher that does auto-remove and follows
// policy restarts, and exec sessions by id. The container lifecycle itself stays in engine/: restart
// policies are applied by each run's exit command (engine/container-exit.ts), with or without a daemon.
import crypto from 'node:crypto';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../lib/atomic-write.js';
import { failedPrecondition, notFound } from '../lib/errors.js';
import type { ContainerService } from '../engine/service.js';
import type { ContainerRecord } from '../engine/container-record.js';
import type { Monitor, ExitStatus } from '../shim/index.js';
import { EventBus } from './events.js';
import type { RegistryOptions } from '../image/index.js';
import type { ContainerConfigBody } from './container-create.js';

/** Docker's convention for a process ended by a signal. */
export function exitCodeOf(s: ExitStatus): number {
  return s.signal ? 128 + s.signal : s.exitCode;
}

export interface ExecEntry {
  id: string;
  containerId: string;
  cmd: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  privileged: boolean;
  consoleSize?: { rows: number; cols: number };
  session?: Monitor;
  running: boolean;
  exitCode: number | null;
}

type BeforeStart = (m: Monitor) => Promise<void>;

const SIDECAR = 'dockerapi.json';

export class Backend {
  readonly events = new EventBus();
  private readonly pendingAttach = new Map<string, BeforeStart[]>();
  private readonly stopping = new Set<string>();
  /** a restart's stop must not trigger auto-remove */
  private readonly restarting = new Set<string>();
  /** the exit watcher of each container's current monitor; settles once its exit is handled */
  private readonly watched = new Map<string, Promise<void>>();
  readonly execs = new Map<string, ExecEntry>();
  /** the last exit this process saw, per container: what wait?condition=removed answers */
  private readonly lastExit = new Map<string, number>();

  constructor(readonly engine: ContainerService, readonly registry: RegistryOptions = {}) {}

  // ---- the Docker request kept beside the engine's record (inspect shows it back) --------
  /**
   * Without fsync: only inspect shows it back (the engine's record, written durably, is what the
   * container is), and an unreadable sidecar after an OS crash reads as none (request()).
   */
  saveRequest(id: string, body: ContainerConfigBody): void {
    writeJsonAtomic(path.join(this.engine.layout.containerDir(id), SIDECAR), body, 0o644, { durable: false });
  }

  request(id: string): ContainerConfigBody | undefined {
    try { return readJson<ContainerConfigBody>(path.join(this.engine.layout.containerDir(id), SIDECAR)); } catch { return undefined; }
  }

  attrs(r: ContainerRecord): Record<string, string> {
    return { name: r.name, image: r.image };
  }

  // ---- start and what follows an exit ---------------------------------------------------
  /** Runs `fn` with the monitor between the runtime's create and start (attach before start). */
  onNextStart(id: string, fn: BeforeStart): () => void {
    const l = this.pendingAttach.get(id) ?? [];
    l.push(fn);
    this.pendingAttach.set(id, l);
    return () => {
      const cur = this.pendingAttach.get(id);
      if (cur) this.pendingAttach.set(id, cur.filter((f) => f !== fn));
    };
  }

  async start(idOrName: string): Promise<Monitor> {
    const r = this.engine.resolve(idOrName);
    const hooks = this.pendingAttach.get(r.id) ?? [];
    this.pendingAttach.delete(r.id);
    const cs = this.request(r.id)?.HostConfig?.ConsoleSize;
    const ttySize = r.tty && cs && cs[0] > 0 && cs[1] > 0 ? { rows: cs[0], cols: cs[1] } : undefined;
    // The previous run's exit must be handled (events, auto-remove) before its monitor dir is
    // replaced, or its watcher would read the new run's dir.
    const before = this.engine.view(r).status;
    if (before !== 'running' && before !== 'paused') await this.watched.get(r.id);
    this.stopping.delete(r.id);
    let m: Monitor;
    try {
      m = await this.engine.start(r.id, {
        ttySize,
        // this process removes auto-remove containers itself (and says so in a destroy event);
        // the monitor's exit command only matters when it is gone
        removeGraceSec: 2,
        beforeStart: async (mon) => { for (const h of hooks) await h(mon); },
      });
    } catch (e) {
      // dockerd removes an auto-remove container whose start failed; the docker CLI waits for that.
      if (r.autoRemove) await this.remove(r.id, { force: true }).catch(() => undefined);
      throw e;
    }
    this.events.publish('container', 'start', r.id, this.attrs(r));
    this.watchExit(r, m);
    return m;
  }

  private watchExit(r: ContainerRecord, m: Monitor): void {
    if (this.watched.has(r.id)) return;
    const done = m.waitExit().then(async (st) => {
      this.watched.delete(r.id);
      const code = exitCodeOf(st);
      this.lastExit.set(r.id, code);
      this.events.publish('container', 'die', r.id, { ...this.attrs(r), exitCode: String(code) });
      if (this.restarting.delete(r.id)) return;
      const stopped = this.stopping.has(r.id);
      if (r.autoRemove) {
        await this.remove(r.id, { force: true }).catch(() => undefined);
        return;
      }
      if (!stopped && (r.restartPolicy ?? 'no') !== 'no') this.followRestart(r, m.monitorPid);
    }, () => { this.watched.delete(r.id); });
    this.watched.set(r.id, done);
  }

  /**
   * The exit command restarts the container when its policy says so (not this process, so a
   * container restarts the same with the daemon down): follow it to announce and watch the next run.
   */
  private followRestart(r: ContainerRecord, exitedMonitorPid: number): void {
    const tick = () => {
      let v;
      try { v = this.engine.view(this.engine.resolve(r.id)); } catch { return; }
      if (v.status === 'restarting') { setTimeout(tick, 50).unref(); return; }
      if ((v.status !== 'running' && v.status !== 'paused') || this.watched.has(r.id)) return;
      let m: Monitor;
      try { m = this.engine.monitorOf(r.id); } catch { return; }
      if (m.monitorPid === exitedMonitorPid) return;
      this.events.publish('container', 'start', r.id, this.attrs(r));
      this.watchExit(r, m);
    };
    setTimeout(tick, 20).unref();
  }

  /** Containers this process did not start (e.g. before a daemon restart) get their watcher here. */
  adopt(): void {
    for (const v of this.engine.list()) {
      if (v.status === 'restarting') { this.followRestart(v.record, 0); continue; }
      try { this.watchExit(v.record, this.engine.monitorOf(v.record.id)); } catch { /* never started */ }
    }
  }

  async stop(idOrName: string, timeoutSec?: number, signal?: string, opts: { restarting?: boolean } = {}): Promise<void> {
    const r = this.engine.resolve(idOrName);
    this.stopping.add(r.id);
    const v = this.engine.view(r);
    // a stop of a restarting container cancels the pending restart
    if (v.status !== 'running' && v.status !== 'paused' && v.status !== 'restarting') return;
    if (signal) await this.engine.kill(r.id, signal).catch(() => undefined);
    await this.engine.stop(r.id, timeoutSec, { restarting: opts.restarting });
    this.events.publish('container', 'stop', r.id, this.attrs(r));
  }

  async restart(idOrName: string, timeoutSec?: number, signal?: string): Promise<void> {
    const r = this.engine.resolve(idOrName);
    const v = this.engine.view(r);
    // the exit watcher consumes the mark when it sees this stop's exit
    if ((v.status === 'running' || v.status === 'paused') && this.watched.has(r.id)) this.restarting.add(r.id);
    await this.stop(r.id, timeoutSec, signal, { restarting: true });
    await this.start(r.id);
    this.events.publish('container', 'restart', r.id, this.attrs(r));
  }

  async kill(idOrName: string, signal: string): Promise<void> {
    const r = this.engine.resolve(idOrName);
    this.stopping.add(r.id);
    await this.engine.kill(r.id, signal);
    this.events.publish('container', 'kill', r.id, { ...this.attrs(r), signal });
  }

  async remove(idOrName: string, opts: { force?: boolean; volumes?: boolean }): Promise<void> {
    const r = this.engine.resolve(idOrName);
    this.stopping.add(r.id);
    // destroyed (and a wait?condition=removed answered) as soon as it is gone, while its files go
    await this.engine.remove(r.id, { ...opts, onGone: () => {
      for (const [k, e] of this.execs) if (e.containerId === r.id) this.execs.delete(k);
      this.events.publish('container', 'destroy', r.id, this.attrs(r));
    } });
  }

  /**
   * POST /containers/{id}/wait. The response headers go out before this waits (the docker CLI
   * blocks on them before it starts the container), so the waiter is registered first.
   */
  waitFor(idOrName: string, condition: string, signal: AbortSignal): { ready: Promise<number> } {
    const r = this.engine.resolve(idOrName);
    const v = this.engine.view(r);
    const die = () => this.events.next((e) => e.Actor.ID === r.id && e.Action === 'die', signal).then((e) => Number(e.Actor.Attributes.exitCode));
    if (condition === 'removed') {
      // without auto-remove, only a later DELETE ends this wait (as in dockerd)
      const gone = this.events.next((e) => e.Actor.ID === r.id && e.Action === 'destroy', signal);
      return { ready: gone.then(() => this.lastExit.get(r.id) ?? (v.exit ? exitCodeOf(v.exit) : 0)) };
    }
    if (condition === 'next-exit') return { ready: die() };
    if (condition && condition !== 'not-running') throw failedPrecondition(`invalid wait condition ${JSON.stringify(condition)}`);
    if (v.status === 'running' || v.status === 'paused' || v.status === 'restarting') {
      return { ready: this.engine.wait(r.id, { signal }).then(exitCodeOf) };
    }
    return { ready: Promise.resolve(v.exit ? exitCodeOf(v.exit) : 0) };
  }

  // ---- exec -------------------------------------------------------------------------------
  createExec(idOrName: string, o: Omit<ExecEntry, 'id' | 'containerId' | 'running' | 'exitCode' | 'session'>): ExecEntry {
    const r = this.engine.resolve(idOrName);
    const v = this.engine.view(r);
    if (v.status === 'paused') throw failedPrecondition(`container ${r.id} is paused, unpause the container before exec`);
    if (v.status !== 'running') throw failedPrecondition(`container ${r.id} is not running`);
    const e: ExecEntry = { ...o, id: crypto.randomBytes(32).toString('hex'), containerId: r.id, running: false, exitCode: null };
    this.execs.set(e.id, e);
    return e;
  }

  exec(id: string): ExecEntry {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  /** Pid files of exec sessions live under the monitor dir; the list of ids for inspect. */
  execIdsOf(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((e) => e.containerId === containerId && e.running).map((e) => e.id);
    return ids.length ? ids : null;
  }
}
