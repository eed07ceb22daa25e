// berth-monitors started ahead of need (two by default) for long-lived engines (`berth serve`): a
// container start hands one its arguments instead of spawning a monitor, so Node's fork of a big process
// (~1.3 ms of blocked main thread) and the monitor's exec, double fork and setup leave the start's
// critical path. Replacements start after a quiet spell, off that path. One-shot CLI commands keep
// spawnMonitor: a standby there would be a wasted process. Protocol: the top of native/berth-monitor.c.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { nativeBinary } from '../lib/paths.js';
import { SYNC_FD, awaitReport, monitorArgv, spawnMonitor, syncText, type MonitorArgs, type MonitorReport, type MonitorSpawner, type SpawnOptions } from './monitor-process.js';

/**
 * One standby for each start of a burst: a pod start is two (its pause container, then its first
 * container, ~20-50 ms apart, before a replacement may start), so two wait by default.
 */
const DEFAULT_SIZE = 2;
/** Standbys that die unused in a row before the engine stops making them (a host where they cannot run). */
const MAX_FAILURES = 3;
/**
 * The replacement starts this long after the last start that used or wanted a standby: its fork blocks
 * the main thread ~1.3 ms and its exec and forks take a core, which a start in progress (attach, runtime
 * start, a pod's next container) would wait for if it came sooner.
 */
const REFILL_DELAY_MS = 100;
/** The monitor's bound on a request (REQUEST_MAX_BYTES); a longer one goes through spawnMonitor. */
const REQUEST_MAX_BYTES = 65536;

interface Standby { child: ChildProcess; sync: Duplex; text: Promise<string> }

/** How many wait (BERTH_MONITOR_STANDBY: `off` = 0, or a count of 1-8); default DEFAULT_SIZE. */
export function standbyCount(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.BERTH_MONITOR_STANDBY;
  if (v === 'off') return 0;
  const n = Number(v);
  return v && Number.isInteger(n) && n >= 0 && n <= 8 ? n : DEFAULT_SIZE;
}

export class MonitorStandby implements MonitorSpawner {
  /** the monitor binary, or undefined when disabled (BERTH_MONITOR_STANDBY=off) */
  readonly bin: string | undefined;
  readonly size: number;
  private ready: Standby[] = [];
  private closed = false;
  private failures = 0;
  private refillTimer?: NodeJS.Timeout;
  private readonly refillDelayMs: number;

  constructor(opts: { env?: NodeJS.ProcessEnv; size?: number; monitorPath?: string; refillDelayMs?: number } = {}) {
    this.refillDelayMs = opts.refillDelayMs ?? REFILL_DELAY_MS;
    this.size = opts.size ?? standbyCount(opts.env);
    this.bin = this.size === 0 ? undefined : opts.monitorPath ?? nativeBinary('berth-monitor');
    while (this.enabled && this.ready.length < this.size) this.refill();
  }

  get enabled(): boolean {
    return !!this.bin && !this.closed && this.failures < MAX_FAILURES;
  }

  /** How many standbys wait for a request now. */
  get waiting(): number {
    return this.ready.length;
  }

  /** Like spawnMonitor; through the waiting standby when there is one, else spawnMonitor itself. */
  async spawn(a: MonitorArgs, opts: SpawnOptions = {}): Promise<MonitorReport> {
    const s = this.ready[0];
    const argv = monitorArgv(a, { syncFd: false });
    const body = Buffer.from(argv.map((x) => `${x}\0`).join(''));
    // An argument with a NUL cannot be sent (nor exec'd): spawnMonitor reports it.
    if (!s || (opts.monitorPath ?? this.bin) !== this.bin || body.length > REQUEST_MAX_BYTES || argv.some((x) => x.includes('\0'))) {
      if (!s) this.scheduleRefill(); // starts come in a burst: the replacement waits for its end
      return spawnMonitor(a, opts);
    }
    this.ready.shift();
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length);
    const failed = await new Promise<Error | null | undefined>((resolve) => s.sync.write(Buffer.concat([header, body]), resolve));
    if (failed) {
      // It died before the request reached it (EPIPE): nothing of this start ran there.
      s.sync.destroy();
      this.scheduleRefill();
      return spawnMonitor(a, opts);
    }
    opts.onSpawned?.();
    try {
      const report = await awaitReport(a.id, s.sync, s.text, opts.timeoutMs, () => 'the standby monitor closed its socket without reporting');
      this.failures = 0;
      return report;
    } finally {
      this.scheduleRefill();
    }
  }

  /** The waiting standby exits on EOF; later calls spawn directly. Requests under way finish. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    this.refillTimer = undefined;
    for (const s of this.ready) s.sync.destroy();
    this.ready = [];
  }

  // After the report and a quiet spell (REFILL_DELAY_MS), not before: see there.
  private scheduleRefill(): void {
    if (!this.enabled || this.ready.length >= this.size) return;
    clearTimeout(this.refillTimer);
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      while (this.enabled && this.ready.length < this.size) this.refill();
    }, this.refillDelayMs);
    this.refillTimer.unref();
  }

  private refill(): void {
    // The env and cgroup are the server's, as with spawnMonitor; detached for the same reason.
    let child: ChildProcess;
    try {
      child = spawn(this.bin!, ['--standby', '--sync-fd', String(SYNC_FD)], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true });
    } catch {
      this.failures = MAX_FAILURES; // cannot spawn at all (EAGAIN, EMFILE...): starts spawn directly and report that
      return;
    }
    const sync = child.stdio[SYNC_FD] as Duplex;
    const s: Standby = { child, sync, text: syncText(sync) };
    // EOF while waiting: the standby died unused (killed, or it could not start): make another.
    const gone = () => {
      if (!this.ready.includes(s)) return;
      this.ready = this.ready.filter((x) => x !== s);
      sync.destroy();
      this.failures++;
      this.scheduleRefill();
    };
    s.text.then(gone, gone);
    child.on('error', gone);
    // Neither the idle socket nor the first process (which exits as the monitor detaches) keeps an
    // owner alive; a request under way is held by its report's deadline timer.
    child.unref();
    (sync as unknown as { unref(): void }).unref();
    this.ready.push(s);
  }
}
