// Starts the kernel's cgroup grace period before a container's init joins its cgroups (v1/hybrid).
// On cgroup v1 the first cgroup.procs write after a quiet spell waits for an RCU grace period
// (rcu_sync in the global cgroup_threadgroup_rwsem, ~11 ms median here); writes within about one grace
// period of another are fast. A long-lived engine therefore moves a parked process of its own between
// two berth-owned cgroups when a join is about to follow (kick()), so berth-init's join finds the
// period already over. Pure v2 hosts need none of this (berth-init clones with CLONE_INTO_CGROUP).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { nativeBinary } from '../lib/paths.js';
import { procStat } from '../lib/proc-stat.js';
import { BERTH_PARENT, cgroupMounts, v1Paths, type CgroupMount } from '../runtime/cgroups/cgroup-path.js';
import { detectCgroupMode } from '../runtime/cgroups/detect.js';
import { joinCgroup, removeCgroupTree, sleep, sleepSync } from '../runtime/cgroups/fs-util.js';

/** What the container service calls: a hint that a cgroup join follows within ~10-30 ms. */
export interface CgroupKicker { kick(): void }

const NAME_RE = /^prefetch-(\d+)-[ab]$/;
/** Kicks that fail in a row before the prefetch gives up (a host where berth cannot write cgroups). */
const MAX_FAILURES = 3;
/**
 * After a kick the parked process keeps moving this often, for this long: a join finds the grace
 * period passed only within about one period (6-25 ms) of the last write, and a pod start's joins come
 * 5-60 ms after its first kick (with its cgroups made ahead, sooner than any single kick could cover).
 */
const WARM_INTERVAL_MS = 4;
const WARM_WINDOW_MS = 80;

/**
 * `<hierarchy>/berth` in one v1 hierarchy the containers use too (pids preferred: no limits apply to
 * a parked process there; never cpuset, whose new cgroups start with no cpus), or undefined where the
 * prefetch does nothing: pure v2, no v1 controller, or BERTH_CGROUP_PREFETCH=off.
 */
export function prefetchParent(env: NodeJS.ProcessEnv = process.env, mounts: CgroupMount[] = cgroupMounts()): string | undefined {
  if (env.BERTH_CGROUP_PREFETCH === 'off') return undefined;
  if (detectCgroupMode(mounts) === 'v2') return undefined;
  const paths = v1Paths(BERTH_PARENT, mounts);
  const other = Object.keys(paths).find((k) => k !== 'unified' && k !== 'cpuset' && !k.startsWith('name='));
  const key = ['pids', 'freezer', 'memory'].find((k) => paths[k]) ?? other;
  return key ? paths[key] : undefined;
}

export class CgroupPrefetch implements CgroupKicker {
  readonly parent: string | undefined;
  private child?: ChildProcess;
  private at = 0; // which of dirs the parked process is in
  private inflight?: Promise<void>;
  private failures = 0;
  private closed = false;
  private warmUntil = 0;
  private warmTimer?: NodeJS.Timeout;
  private readonly onExit = () => this.closeSync();

  constructor(opts: { env?: NodeJS.ProcessEnv } = {}) {
    this.parent = prefetchParent(opts.env);
  }

  get enabled(): boolean {
    return !!this.parent && !this.closed && this.failures < MAX_FAILURES;
  }

  /** The two cgroups the parked process alternates between (named for this owner, so stale ones can be told apart). */
  get dirs(): [string, string] | undefined {
    return this.parent ? [path.join(this.parent, `prefetch-${process.pid}-a`), path.join(this.parent, `prefetch-${process.pid}-b`)] : undefined;
  }

  /** The parked process, once the first kick has started it. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Moves the parked process on the threadpool, and keeps moving it for WARM_WINDOW_MS; a kick while
   * a move is in flight only extends the window.
   */
  kick(): void {
    if (!this.enabled) return;
    this.warmUntil = performance.now() + WARM_WINDOW_MS;
    this.moveNow();
  }

  private moveNow(): void {
    if (!this.enabled || this.inflight) return;
    this.inflight = this.move().then(
      () => { this.failures = 0; },
      (e: unknown) => {
        if (++this.failures === MAX_FAILURES) process.stderr.write(`berth: cgroup prefetch disabled: ${(e as Error).message}\n`);
      },
    ).finally(() => {
      this.inflight = undefined;
      this.scheduleWarm();
    });
  }

  private scheduleWarm(): void {
    if (this.warmTimer || !this.enabled || performance.now() >= this.warmUntil) return;
    this.warmTimer = setTimeout(() => {
      this.warmTimer = undefined;
      this.moveNow();
    }, WARM_INTERVAL_MS);
    this.warmTimer.unref();
  }

  /** Resolves when the kick in flight (if any) is done. */
  async settled(): Promise<void> {
    await this.inflight;
  }

  private async move(): Promise<void> {
    const dirs = this.dirs!;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const to = 1 - this.at;
      await joinCgroup(dirs[to], child.pid!);
      this.at = to;
      return;
    }
    // Lazily, on the first kick (or after the parked process died): its placement is this kick.
    await this.removeStale();
    await Promise.all(dirs.map((d) => fs.promises.mkdir(d, { recursive: true })));
    const parked = spawn(nativeBinary('berth-pause'), ['--parent-pid', String(process.pid)], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => { parked.once('spawn', resolve); parked.once('error', reject); });
    parked.unref();
    this.child = parked;
    process.removeListener('exit', this.onExit);
    process.once('exit', this.onExit);
    if (this.closed) return; // close() came meanwhile: it ends this process once this kick is settled
    await joinCgroup(dirs[0], parked.pid!);
    this.at = 0;
  }

  /** prefetch-<pid>-* of owners that are gone (their parked process died with them). */
  private async removeStale(): Promise<void> {
    let names: string[];
    try { names = await fs.promises.readdir(this.parent!); } catch { return; }
    await Promise.all(names.map(async (n) => {
      const owner = Number(NAME_RE.exec(n)?.[1] ?? 0);
      const st = owner ? procStat(owner) : undefined;
      if (!owner || owner === process.pid || (st && st.state !== 'Z' && st.state !== 'X')) return;
      await fs.promises.rmdir(path.join(this.parent!, n)).catch(() => undefined); // busy or gone: not ours to force
    }));
  }

  /** Ends the parked process (by its pid) and removes both cgroups. Later kicks do nothing. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.warmTimer);
    await this.inflight;
    process.removeListener('exit', this.onExit);
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]); // reaped, so no pid of ours is left behind
    }
    const deadline = Date.now() + 2000; // a killed task leaves its cgroup a moment after it dies
    await Promise.all((this.dirs ?? []).map((d) => removeCgroupTree(d, deadline).catch(() => undefined)));
  }

  /** The same at process exit, where nothing asynchronous runs any more: best effort. */
  private closeSync(): void {
    this.closed = true;
    clearTimeout(this.warmTimer);
    this.child?.kill('SIGKILL');
    this.child = undefined;
    for (const d of this.dirs ?? []) {
      for (let i = 0; i < 20; i++) {
        try { fs.rmdirSync(d); break; } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
          sleepSync(5);
        }
      }
    }
  }
}
