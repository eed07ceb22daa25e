// A container (or exec session) under its berth-monitor: the handle the engine, CLI, CRI and
// Engine API use. Everything it needs is on disk in the monitor's dir, so `Monitor.load(dir)`
// after a CLI or daemon restart gives the same handle back.
//
// Who runs `<runtime> start`: shim/ does (Monitor.start), after the monitor has reported the
// container pid, so a start error reaches the caller directly; the monitor only creates.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { BerthError, fromErrno } from '../lib/errors.js';
import { attach, wrap, type AttachStreams } from './attach.js';
import { closeStdin, reopenLog, resize } from './control.js';
import { followLogs, readLogs, type FollowOptions, type LogRecord } from './cri-log.js';
import { readExit, waitExit } from './exit-status.js';
import { directSpawner, monitorAlive, processStartTime, spawnMonitor, type MonitorArgs, type MonitorSpawner } from './monitor-process.js';
import { runRuntime, type RuntimeRef } from './runtime-cli.js';
import { loadSession, saveSession, type ExitStatus, type Session } from './session.js';
import { connectInDir } from './sockets.js';

const DEAD_MONITOR_POLL_MS = 2000;

export interface CreateOptions {
  id: string;
  bundle: string;
  /** absolute path of any runc-compatible runtime binary */
  runtime: string;
  /** global runtime options placed before the command, e.g. ['--root', '/run/berth/runtime'] */
  runtimeArgs?: string[];
  /** the monitor's dir: exit.json, sockets, pid files, session.json (and the log by default) */
  dir: string;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  /** must match config.json process.terminal; taken from it when left out */
  tty?: boolean;
  ttySize?: { rows: number; cols: number };
  stdin?: boolean;
  stdinOnce?: boolean;
  /** memory.events (cgroup v2) or memory.oom_control (v1) of the container's cgroup */
  oomFile?: string;
  /** run by the monitor after exit.json is written (absolute program path first) */
  exitCommand?: string[];
  monitorPath?: string;
  /** what starts the monitor: a long-lived engine's MonitorStandby (shim/monitor-standby.ts); default spawnMonitor */
  monitors?: MonitorSpawner;
}

export interface ExecOptions {
  /** an OCI runtime-spec `process` object (args, env, cwd, user, ...); terminal is set from tty */
  process: Record<string, unknown>;
  execId?: string;
  tty?: boolean;
  ttySize?: { rows: number; cols: number };
  stdin?: boolean;
  stdinOnce?: boolean;
  /** attach before the process starts, so not a byte of its output is missed live */
  attach?: boolean;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
}

export interface ExecResult { exitCode: number; status: ExitStatus; stdout: string; stderr: string }

export class Monitor {
  constructor(readonly session: Session) {}

  static load(dir: string): Monitor {
    const s = loadSession(dir);
    if (s.monitorPid === undefined) {
      const mp = readPidFile(path.join(dir, 'monitor.pid'));
      if (mp) s.monitorPid = mp;
    }
    if (s.pid === undefined) {
      const cp = readPidFile(path.join(dir, 'container.pid'));
      if (cp) s.pid = cp;
    }
    if (s.monitorPid !== undefined && s.monitorStartTime === undefined) s.monitorStartTime = processStartTime(s.monitorPid) ?? 'gone';
    return new Monitor(s);
  }

  get id(): string { return this.session.id; }
  get dir(): string { return this.session.dir; }
  get pid(): number { return this.session.pid ?? 0; }
  get monitorPid(): number { return this.session.monitorPid ?? 0; }
  get tty(): boolean { return this.session.tty; }
  get logPath(): string | undefined { return this.session.logPath; }
  private get rt(): RuntimeRef { return { runtime: this.session.runtime, runtimeArgs: this.session.runtimeArgs }; }

  /** `<runtime> start <id>`: the container's process begins. */
  async start(): Promise<void> {
    if (this.session.kind !== 'container') throw new BerthError('FAILED_PRECONDITION', 'an exec session starts by itself');
    await runRuntime(this.rt, ['start', this.id]);
  }

  /** The recorded exit status, or undefined while the process runs. */
  exitStatus(): ExitStatus | undefined {
    return readExit(this.dir);
  }

  /** True while the monitor runs and no exit status is recorded. */
  isRunning(): boolean {
    return !this.exitStatus() && this.monitorPid > 0 && monitorAlive(this.monitorPid, this.session.monitorStartTime ?? '');
  }

  /**
   * An exit is seen at once: exit.json's rename wakes the waiter. `pollMs` (default 2 s) only bounds how
   * late a monitor that died without writing one (kill -9) is noticed; a daemon waits on every running
   * container, and a short poll of each would keep its event loop reading /proc.
   */
  waitExit(opts: { signal?: AbortSignal; pollMs?: number } = {}): Promise<ExitStatus> {
    if (!this.monitorPid) return Promise.reject(new BerthError('FAILED_PRECONDITION', `no monitor recorded in ${this.dir}`));
    return waitExit({ dir: this.dir, monitorPid: this.monitorPid, monitorStartTime: this.session.monitorStartTime ?? '' },
      { ...opts, pollMs: opts.pollMs ?? DEAD_MONITOR_POLL_MS });
  }

  attach(): Promise<AttachStreams> {
    return attach(this.dir, { tty: this.tty });
  }

  /** Log records; with follow, until the process exits (or opts.until / opts.signal). */
  logs(opts: FollowOptions = {}): AsyncGenerator<LogRecord> {
    const logPath = this.requireLog();
    const until = opts.follow && !opts.until ? this.waitExit({ signal: opts.signal }).catch(() => undefined) : opts.until;
    return followLogs(logPath, { ...opts, until });
  }

  resize(rows: number, cols: number): Promise<void> { return resize(this.dir, rows, cols); }
  reopenLog(): Promise<void> { return reopenLog(this.dir); }
  closeStdin(): Promise<void> { return closeStdin(this.dir); }

  /**
   * Send a signal: a container through `<runtime> kill` (its init), an exec session straight to
   * its process (the monitor is that process's reaper, so the pid cannot be reused meanwhile).
   */
  async signal(sig: string | number): Promise<void> {
    if (this.session.kind === 'container') {
      await runRuntime(this.rt, ['kill', this.id, String(sig).replace(/^SIG/, '')]);
      return;
    }
    if (this.exitStatus()) throw new BerthError('FAILED_PRECONDITION', `exec session ${this.session.execId} has exited`);
    try {
      process.kill(this.pid, typeof sig === 'number' ? sig : (sig.startsWith('SIG') ? sig : `SIG${sig}`) as NodeJS.Signals);
    } catch (e) {
      throw fromErrno(e, `signal ${sig} to exec ${this.session.execId}`);
    }
  }

  /** `<runtime> delete [--force] <id>`. */
  async delete(opts: { force?: boolean } = {}): Promise<void> {
    if (this.session.kind !== 'container') throw new BerthError('FAILED_PRECONDITION', 'an exec session is not deleted through the runtime');
    await runRuntime(this.rt, ['delete', ...(opts.force ? ['--force'] : []), this.id]);
  }

  /** Start a process in the running container under its own exec-mode monitor. */
  async exec(opts: ExecOptions): Promise<{ session: Monitor; streams?: AttachStreams }> {
    if (this.session.kind !== 'container') throw new BerthError('FAILED_PRECONDITION', 'exec runs in a container, not in another exec session');
    const execId = opts.execId ?? crypto.randomBytes(6).toString('hex');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(execId)) throw new BerthError('INVALID_ARGUMENT', `exec id "${execId}" must be 1-64 of [A-Za-z0-9_.-]`);
    const dir = path.join(this.dir, 'exec', execId);
    try {
      fs.mkdirSync(dir, { recursive: false, mode: 0o700 });
    } catch (e) {
      if (!fs.existsSync(path.join(this.dir, 'exec'))) {
        fs.mkdirSync(path.join(this.dir, 'exec'), { mode: 0o700 });
        fs.mkdirSync(dir, { mode: 0o700 });
      } else throw fromErrno(e, `exec session ${execId}`);
    }
    const tty = opts.tty ?? false;
    const processFile = path.join(dir, 'process.json');
    writeJsonAtomic(processFile, { ...opts.process, terminal: tty }, 0o600);
    const logPath = opts.logPath ? path.resolve(opts.logPath) : path.join(dir, 'log');
    const session: Session = {
      version: 1, kind: 'exec', id: this.id, execId, runtime: this.session.runtime, runtimeArgs: this.session.runtimeArgs,
      dir, logPath, tty, stdin: opts.stdin ?? false, stdinOnce: opts.stdinOnce ?? false, createdAt: new Date().toISOString(),
    };
    saveSession(session);
    const args: MonitorArgs = {
      id: this.id, runtime: session.runtime, runtimeArgs: session.runtimeArgs, dir, execProcess: processFile, logPath,
      logMaxSize: opts.logMaxSize, logMaxFiles: opts.logMaxFiles, tty, ttySize: opts.ttySize, stdin: session.stdin,
      stdinOnce: session.stdinOnce, waitAttach: opts.attach,
    };
    let streams: Promise<AttachStreams> | undefined;
    const spawned = spawnMonitor(args, {
      monitorPath: this.monitorPathHint,
      onSpawned: () => { if (opts.attach) streams = connectWhenListening(dir, tty); },
    });
    // If the monitor fails before listening, the attach attempt must not outlive it.
    spawned.catch(() => undefined);
    let report;
    try {
      report = await spawned;
    } catch (e) {
      await streams?.then((s) => s.detach(), () => undefined);
      throw e;
    }
    const m = new Monitor(record(session, report));
    return { session: m, streams: streams ? await streams : undefined };
  }

  /** Run a process to completion (CRI ExecSync): its exit code and its whole output. */
  async execSync(proc: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const { session } = await this.exec({ process: proc });
    const ac = new AbortController();
    const timer = opts.timeoutMs ? setTimeout(() => ac.abort(), opts.timeoutMs) : undefined;
    let status: ExitStatus;
    try {
      status = await session.waitExit({ signal: ac.signal });
    } catch (e) {
      await session.signal('KILL').catch(() => undefined);
      throw new BerthError('DEADLINE_EXCEEDED', `exec did not finish within ${opts.timeoutMs} ms`, { cause: e });
    } finally {
      if (timer) clearTimeout(timer);
    }
    let stdout = '', stderr = '';
    for (const r of readLogs(session.requireLog())) {
      const t = r.text + (r.partial ? '' : '\n');
      if (r.stream === 'stdout') stdout += t;
      else stderr += t;
    }
    return { exitCode: status.exitCode, status, stdout, stderr };
  }

  /** The exec sessions recorded under this container (running or finished), for reload after a restart. */
  execSessions(): Monitor[] {
    const root = path.join(this.dir, 'exec');
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      return [];
    }
    const out: Monitor[] = [];
    for (const n of names) {
      try {
        out.push(Monitor.load(path.join(root, n)));
      } catch {
        // A session whose caller died before session.json was written has nothing to reload.
      }
    }
    return out;
  }

  /** Remove a finished exec session's dir (its log and exit status go with it). */
  removeExecSession(): void {
    if (this.session.kind !== 'exec') throw new BerthError('FAILED_PRECONDITION', 'only an exec session is removed this way');
    if (this.isRunning()) throw new BerthError('FAILED_PRECONDITION', `exec session ${this.session.execId} is still running`);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Set by createContainer so exec sessions use the same monitor binary. */
  monitorPathHint?: string;

  private requireLog(): string {
    if (!this.session.logPath) throw new BerthError('FAILED_PRECONDITION', `${this.dir} was started without a log`);
    return this.session.logPath;
  }
}

/** Spawn the monitor, which runs `<runtime> create`; the container waits for start(). */
export async function createContainer(opts: CreateOptions): Promise<Monitor> {
  // The monitor and the runtime run in other dirs than ours: hand them absolute paths only.
  const o = { ...opts, dir: path.resolve(opts.dir), bundle: path.resolve(opts.bundle), logPath: opts.logPath && path.resolve(opts.logPath) };
  if (!path.isAbsolute(o.runtime)) throw new BerthError('INVALID_ARGUMENT', `runtime must be an absolute path, got ${o.runtime}`);
  const tty = o.tty ?? bundleWantsTerminal(o.bundle);
  if (o.tty !== undefined && o.tty !== bundleWantsTerminal(o.bundle)) {
    throw new BerthError('INVALID_ARGUMENT', `tty=${o.tty} but ${o.bundle}/config.json has process.terminal=${!o.tty}`);
  }
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  if (readExit(o.dir) === undefined && fs.existsSync(path.join(o.dir, 'monitor.pid'))) {
    const old = Monitor.load(o.dir);
    if (old.isRunning()) throw new BerthError('ALREADY_EXISTS', `a monitor for ${o.id} already runs (pid ${old.monitorPid})`);
  }
  const session: Session = {
    version: 1, kind: 'container', id: o.id, runtime: o.runtime, runtimeArgs: o.runtimeArgs ?? [], bundle: o.bundle, dir: o.dir,
    logPath: o.logPath ?? path.join(o.dir, 'log'), tty, stdin: o.stdin ?? false, stdinOnce: o.stdinOnce ?? false,
    createdAt: new Date().toISOString(),
  };
  saveSession(session);
  const report = await (o.monitors ?? directSpawner).spawn({
    id: o.id, bundle: o.bundle, runtime: o.runtime, runtimeArgs: session.runtimeArgs, dir: o.dir, logPath: session.logPath,
    logMaxSize: o.logMaxSize, logMaxFiles: o.logMaxFiles, tty, ttySize: o.ttySize, stdin: session.stdin,
    stdinOnce: session.stdinOnce, oomFile: o.oomFile, exitCommand: o.exitCommand,
  }, { monitorPath: o.monitorPath });
  const m = new Monitor(record(session, report));
  m.monitorPathHint = o.monitorPath;
  return m;
}

/** create + start; if start fails the container is deleted and the runtime's error thrown. */
export async function startContainer(o: CreateOptions): Promise<Monitor> {
  const m = await createContainer(o);
  try {
    await m.start();
  } catch (e) {
    await m.delete({ force: true }).catch(() => undefined);
    throw e;
  }
  return m;
}

function record(s: Session, r: { pid: number; monitorPid: number }): Session {
  const full: Session = { ...s, pid: r.pid, monitorPid: r.monitorPid, monitorStartTime: processStartTime(r.monitorPid) ?? 'gone' };
  saveSession(full);
  return full;
}

function bundleWantsTerminal(bundle: string): boolean {
  let cfg: { process?: { terminal?: boolean } };
  try {
    cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch (e) {
    throw fromErrno(e, `reading ${bundle}/config.json`);
  }
  return cfg.process?.terminal === true;
}

function readPidFile(f: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(f, 'utf8'), 10);
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

// The exec monitor binds its attach socket right after starting and waits (--wait-attach) for us.
async function connectWhenListening(dir: string, tty: boolean, timeoutMs = 10000): Promise<AttachStreams> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'attach'))) {
      try {
        return wrap(await connectInDir(dir, 'attach'), tty);
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
    if (Date.now() > deadline) throw new BerthError('DEADLINE_EXCEEDED', `exec monitor in ${dir} did not open its attach socket`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
