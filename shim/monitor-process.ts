// Spawning berth-monitor and telling whether a given monitor process still lives.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { BerthError } from '../lib/errors.js';
import { nativeBinary } from '../lib/paths.js';
import { procStat, sameProcessAlive } from '../lib/proc-stat.js';

export interface MonitorArgs {
  id: string;
  runtime: string;
  runtimeArgs?: string[];
  dir: string;
  /** create mode */
  bundle?: string;
  /** exec mode: path of the process.json */
  execProcess?: string;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  tty?: boolean;
  ttySize?: { rows: number; cols: number };
  stdin?: boolean;
  stdinOnce?: boolean;
  waitAttach?: boolean;
  oomFile?: string;
  exitCommand?: string[];
}

const SYNC_FD = 3;

/** The monitor's argv (without the program). Pure, so it is unit-tested. */
export function monitorArgv(a: MonitorArgs): string[] {
  if (!a.bundle === !a.execProcess) throw new BerthError('INVALID_ARGUMENT', 'monitor: give exactly one of bundle (create) or execProcess (exec)');
  const argv = ['--id', a.id, '--runtime', a.runtime, '--dir', a.dir, '--sync-fd', String(SYNC_FD)];
  for (const r of a.runtimeArgs ?? []) argv.push('--runtime-arg', r);
  if (a.bundle) argv.push('--bundle', a.bundle);
  if (a.execProcess) argv.push('--exec', a.execProcess);
  if (a.logPath) {
    argv.push('--log', a.logPath);
    if (a.logMaxSize !== undefined) argv.push('--log-max-size', String(a.logMaxSize));
    if (a.logMaxFiles !== undefined) argv.push('--log-max-files', String(a.logMaxFiles));
  }
  if (a.tty) {
    argv.push('--tty');
    if (a.ttySize) argv.push('--tty-size', `${a.ttySize.rows}x${a.ttySize.cols}`);
  }
  if (a.stdin) argv.push('--stdin');
  if (a.stdinOnce) argv.push('--stdin-once');
  if (a.waitAttach) argv.push('--wait-attach');
  if (a.oomFile) argv.push('--oom-file', a.oomFile);
  if (a.exitCommand?.length) argv.push('--exit-command', ...a.exitCommand);
  return argv;
}

export interface MonitorReport { pid: number; monitorPid: number }

/**
 * Start a monitor and wait for its one-line report on the sync pipe: the container pid, or the
 * runtime's error text. `onSpawned` runs as soon as the process exists (exec sessions attach then).
 */
export function spawnMonitor(a: MonitorArgs, opts: { monitorPath?: string; timeoutMs?: number; onSpawned?: () => void } = {}): Promise<MonitorReport> {
  const bin = opts.monitorPath ?? nativeBinary('berth-monitor');
  const argv = monitorArgv(a);
  return new Promise((resolve, reject) => {
    // detached: its own process group, so a Ctrl-C at the CLI's terminal never reaches it.
    const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], detached: true });
    let report = '', stderr = '', settled = false, exitCode: number | null = null;
    const sync = child.stdio[SYNC_FD] as NodeJS.ReadableStream;
    const timer = setTimeout(() => done(new BerthError('DEADLINE_EXCEEDED', `berth-monitor for ${a.id} did not report within ${opts.timeoutMs ?? 60000} ms`)), opts.timeoutMs ?? 60000);
    const done = (err?: Error, r?: MonitorReport) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sync.removeAllListeners();
      (sync as unknown as { destroy(): void }).destroy();
      child.unref();
      if (err) reject(err);
      else resolve(r!);
    };
    child.on('error', (e) => done(new BerthError('FAILED_PRECONDITION', `cannot run ${bin}: ${e.message}`, { cause: e })));
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => { exitCode = code; });
    sync.on('data', (d) => { report += d; });
    sync.on('end', () => {
      const line = report.split('\n')[0]?.trim();
      if (!line) {
        // Nothing reported: the monitor failed before detaching (bad arguments): its stderr says why.
        const why = stderr.trim() || `exited with ${exitCode ?? 'unknown status'} without reporting`;
        return done(new BerthError('INTERNAL', `berth-monitor for ${a.id}: ${why}`));
      }
      let msg: { pid?: number; monitorPid?: number; error?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        return done(new BerthError('INTERNAL', `berth-monitor for ${a.id} sent an unreadable report: ${line}`));
      }
      if (msg.error !== undefined) return done(new BerthError(classify(msg.error), msg.error));
      if (!msg.pid || !msg.monitorPid) return done(new BerthError('INTERNAL', `berth-monitor for ${a.id} sent an incomplete report: ${line}`));
      done(undefined, { pid: msg.pid, monitorPid: msg.monitorPid });
    });
    opts.onSpawned?.();
  });
}

// The runtime's message is the user's answer; the code is a best guess from its usual wording.
function classify(msg: string): BerthError['code'] {
  if (/already exists/i.test(msg)) return 'ALREADY_EXISTS';
  if (/does not exist|not found|no such file/i.test(msg)) return 'NOT_FOUND';
  if (/permission denied|operation not permitted/i.test(msg)) return 'PERMISSION_DENIED';
  if (/not running|is stopped|cannot exec/i.test(msg)) return 'FAILED_PRECONDITION';
  return 'FAILED_PRECONDITION';
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if the pid is gone. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/** True while the very process that was the monitor runs (not a zombie, not a reused pid). */
export function monitorAlive(pid: number, startTime: string): boolean {
  return sameProcessAlive(pid, startTime);
}
