// What follows a container run's exit, without a daemon (podman's model): the run's monitor runs
// `berth container cleanup <id>` (its exit command), which removes an auto-remove container or,
// when the restart policy says so, starts the container again after Docker's back-off. `berth
// serve` relies on the same command, so there is one restarter whichever front end made the
// container. A user's stop, restart or rm takes the same per-container lock and always wins.
import type { ContainerRecord } from './container-record.js';
import type { ContainerService } from './service.js';
import type { ExitStatus, Monitor } from '../shim/index.js';
import { BerthError } from '../lib/errors.js';
import { procStat, sameProcessAlive } from '../lib/proc-stat.js';
import { isRestarting, nextBackoff, policyOf, shouldRestart } from './restart-policy.js';
import { readRestartState, withContainerLock, writeRestartState } from './restart-state.js';

/** One run of a container: its monitor (pid + start time, so a reused pid is another run). */
export function runKey(m: Monitor): string {
  return `${m.monitorPid}:${m.session.monitorStartTime ?? ''}`;
}

function processKey(pid: number): string {
  return `${pid}:${procStat(pid)?.startTime ?? 'gone'}`;
}

/** A container needs the cleanup command after a run when something must happen then. */
export function needsCleanup(r: ContainerRecord): boolean {
  return Boolean(r.autoRemove) || policyOf(r).name !== 'no';
}

function currentMonitor(svc: ContainerService, r: ContainerRecord): Monitor | undefined {
  try { return svc.monitorOf(r.id); } catch { return undefined; }
}

const isNotFound = (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The restart half of a container's view: Docker's State.Restarting and RestartCount. */
export function restartView(svc: ContainerService, r: ContainerRecord, m: Monitor | undefined, exit: ExitStatus | undefined): { restarting: boolean; restartCount: number } {
  const p = policyOf(r);
  if (p.name === 'no') return { restarting: false, restartCount: 0 };
  let s;
  try { s = readRestartState(svc.layout.containerDir(r.id)); } catch { return { restarting: false, restartCount: 0 }; }
  const restarting = isRestarting(p, s, {
    run: m ? runKey(m) : undefined,
    exit,
    monitorAlive: m ? sameProcessAlive(m.monitorPid, m.session.monitorStartTime ?? '') : false,
    pendingAlive: s.pending ? sameProcessAlive(s.pending.pid, s.pending.pidStartTime) : false,
  });
  return { restarting, restartCount: s.count };
}

export type CleanupOutcome = 'gone' | 'superseded' | 'stays' | 'removed' | 'restarted' | 'cancelled';

/**
 * The exit command of one run (`berth container cleanup <id>`). `parentPid` is the monitor that
 * runs it: when the container's current monitor is another one, a later run exists (a user's
 * start or restart got there first) and this exit needs nothing.
 */
export async function cleanupAfterExit(svc: ContainerService, idOrName: string, parentPid = process.ppid): Promise<CleanupOutcome> {
  let r: ContainerRecord;
  try { r = svc.resolve(idOrName); } catch (e) { if (isNotFound(e)) return 'gone'; throw e; }
  const dir = svc.layout.containerDir(r.id);
  const run = processKey(parentPid);
  const policy = policyOf(r);
  let delayMs = 0;
  const decided = await withContainerLock(dir, (): CleanupOutcome | 'remove' | 'pending' => {
    const m = currentMonitor(svc, r);
    const exit = m?.exitStatus();
    if (!m || !exit || runKey(m) !== run) return 'superseded';
    const s = readRestartState(dir);
    // a user's restart stopped this run: its own start follows, nothing else may act
    if (s.stoppedRun === run && s.stopKind === 'restart') return 'stays';
    if (r.autoRemove) return 'remove';
    if (!shouldRestart(policy, exit, s.count, s.stoppedRun === run)) {
      writeRestartState(dir, { ...s, decidedRun: run });
      return 'stays';
    }
    const ranMs = Date.parse(exit.exitedAt) - Date.parse(svc.resolve(r.id).startedAt ?? exit.exitedAt);
    delayMs = nextBackoff(s.backoffMs, Number.isFinite(ranMs) ? ranMs : 0);
    writeRestartState(dir, {
      ...s, count: s.count + 1, backoffMs: delayMs, decidedRun: run,
      pending: { since: new Date().toISOString(), delayMs, pid: process.pid, pidStartTime: procStat(process.pid)?.startTime ?? '' },
    });
    return 'pending';
  }).catch((e: unknown) => { if (isNotFound(e)) return 'gone' as const; throw e; });

  if (decided === 'remove') {
    try { await svc.remove(r.id, { force: true }); } catch (e) { if (!isNotFound(e)) throw e; }
    return 'removed';
  }
  if (decided !== 'pending') return decided;

  await sleep(delayMs);
  return withContainerLock(dir, async (): Promise<CleanupOutcome> => {
    const s = readRestartState(dir);
    // a user's stop or start cleared or replaced the pending restart meanwhile
    if (s.pending?.pid !== process.pid) return 'cancelled';
    try {
      const m = currentMonitor(svc, r);
      if (m && runKey(m) !== run) return 'superseded';
      await svc.start(r.id);
      return 'restarted';
    } finally {
      const { pending: _done, ...rest } = readRestartState(dir);
      writeRestartState(dir, rest);
    }
  }).catch((e: unknown) => { if (isNotFound(e)) return 'gone' as const; throw e; });
}

/**
 * A user stops (or, kind 'restart', restarts) the container: a pending policy restart is cancelled
 * and the current run's exit will not be restarted (nor, for a restart, auto-removed).
 */
export async function noteUserStop(svc: ContainerService, r: ContainerRecord, kind: 'stop' | 'restart'): Promise<void> {
  if (policyOf(r).name === 'no' && !(kind === 'restart' && r.autoRemove)) return;
  const dir = svc.layout.containerDir(r.id);
  await withContainerLock(dir, () => {
    const { pending: _cancelled, ...s } = readRestartState(dir);
    const m = currentMonitor(svc, r);
    writeRestartState(dir, m ? { ...s, stoppedRun: runKey(m), stopKind: kind } : s);
  });
}

/**
 * `wait` as Docker means it: a restarting container has not stopped, so the wait goes on through
 * policy restarts and returns the exit of the run after which none follows.
 */
export async function waitStopped(svc: ContainerService, r: ContainerRecord, opts: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
  let last: ExitStatus | undefined;
  for (;;) {
    const m = currentMonitor(svc, r);
    if (!m) {
      if (last) return last;
      return svc.monitorOf(r.id).waitExit(opts); // throws "never started"
    }
    last = await m.waitExit(opts);
    if (policyOf(r).name === 'no') return last;
    for (;;) {
      let v;
      try { v = svc.view(svc.resolve(r.id)); } catch (e) { if (isNotFound(e)) return last; throw e; }
      if (v.status === 'running' || v.status === 'paused') break;
      if (v.status !== 'restarting') return v.exit ?? last;
      if (opts.signal?.aborted) throw new BerthError('CANCELLED', `waiting for ${r.name} was cancelled`);
      await sleep(50);
    }
  }
}
