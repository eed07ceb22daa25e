// Spawning berth-monitor and telling whether a given monitor process still lives.
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
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

export const SYNC_FD = 3;

/**
 * The monitor's argv (without the program). Pure, so it is unit-tested. `syncFd: false` leaves out
 * `--sync-fd` (a standby's request: it has its sync fd already).
 */
export function monitorArgv(a: MonitorArgs, o: { syncFd?: boolean } = {}): string[] {
  if (!a.bundle === !a.execProcess) throw new BerthError('INVALID_ARGUMENT', 'monitor: give exactly one of bundle (create) or execProcess (exec)');
  const argv = ['--id', a.id, '--runtime', a.runtime, '--dir', a.dir];
  if (o.syncFd !== false) argv.push('--sync-fd', String(SYNC_FD));
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

export interface SpawnOptions {
  monitorPath?: string;
  timeoutMs?: number;
  /** runs as soon as the monitor has its arguments (exec sessions attach then) */
  onSpawned?: () => void;
}

/** What starts a monitor for createContainer: spawnMonitor itself, or a MonitorStandby (shim/monitor-standby.ts). */
export interface MonitorSpawner { spawn(a: MonitorArgs, opts?: SpawnOptions): Promise<MonitorReport> }

export const directSpawner: MonitorSpawner = { spawn: (a, opts) => spawnMonitor(a, opts) };

/**
 * Start a monitor and wait for its one-line report on the sync pipe: the container pid, or the
 * runtime's error text. `onSpawned` runs as soon as the process exists (exec sessions attach then).
 */
export function spawnMonitor(a: MonitorArgs, opts: SpawnOptions = {}): Promise<MonitorReport> {
  const bin = opts.monitorPath ?? nativeBinary('berth-monitor');
  const argv = monitorArgv(a);
  // detached: its own process group, so a Ctrl-C at the CLI's terminal never reaches it.
  const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '', exitCode: number | null = null;
  const sync = child.stdio[SYNC_FD] as Duplex;
  const text = syncText(sync);
  child.stderr!.on('data', (d) => { stderr += d; });
  child.on('exit', (code) => { exitCode = code; });
  const spawnError = new Promise<never>((_, reject) => {
    child.on('error', (e) => reject(new BerthError('FAILED_PRECONDITION', `cannot run ${bin}: ${e.message}`, { cause: e })));
  });
  // Nothing reported: the monitor failed before detaching (bad arguments): its stderr says why.
  const report = awaitReport(a.id, sync, Promise.race([text, spawnError]), opts.timeoutMs,
    () => stderr.trim() || `exited with ${exitCode ?? 'unknown status'} without reporting`);
  void report.then(() => child.unref(), () => child.unref());
  opts.onSpawned?.();
  return report;
}

/** Everything a monitor writes on its sync socket until it closes it. Attach at once: it also watches for EOF. */
export function syncText(sync: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => { text += d; });
    sync.on('end', () => resolve(text));
    sync.on('error', reject);
  });
}

/**
 * The monitor's report from its sync text, within timeoutMs (default 60 s): the pids, or the error it
 * carries as a BerthError. `silent` says why when the monitor closed the socket without a word.
 */
export function awaitReport(id: string, sync: Duplex, text: Promise<string>, timeoutMs = 60000, silent: () => string): Promise<MonitorReport> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BerthError('DEADLINE_EXCEEDED', `berth-monitor for ${id} did not report within ${timeoutMs} ms`)), timeoutMs);
  });
  const parsed = text.then((t) => parseReport(id, t, silent), (e: Error) => {
    throw e instanceof BerthError ? e : new BerthError('INTERNAL', `berth-monitor for ${id}: sync socket: ${e.message}`, { cause: e });
  });
  parsed.catch(() => undefined); // lost the race to the deadline: already answered
  return Promise.race([parsed, deadline]).finally(() => {
    clearTimeout(timer);
    sync.removeAllListeners('data');
    sync.destroy();
  });
}

function parseReport(id: string, text: string, silent: () => string): MonitorReport {
  const line = text.split('\n')[0]?.trim();
  if (!line) throw new BerthError('INTERNAL', `berth-monitor for ${id}: ${silent()}`);
  let msg: { pid?: number; monitorPid?: number; error?: string };
  try {
    msg = JSON.parse(line);
  } catch {
    throw new BerthError('INTERNAL', `berth-monitor for ${id} sent an unreadable report: ${line}`);
  }
  if (msg.error !== undefined) throw new BerthError(classify(msg.error), msg.error);
  if (!msg.pid || !msg.monitorPid) throw new BerthError('INTERNAL', `berth-monitor for ${id} sent an incomplete report: ${line}`);
  return { pid: msg.pid, monitorPid: msg.monitorPid };
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
