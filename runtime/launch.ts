// The launch API: turns a validated spec into a launch plan and drives berth-init through it.
// Node never changes its own namespaces; berth-init (native/berth-init.c) does everything from clone()
// to execve() and talks back over a socketpair (a child_process 'pipe', which libuv makes a unix socketpair).
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, internal, invalidArgument, type ErrorCode } from '../lib/errors.js';
import { mkfifo, pidfdOpen, pidfdSendSignal, closeFd } from '../native/ffi.js';
import { localHost, type InitLauncher, type Launched } from './host.js';
import type { Spec, Process } from './spec/config-schema.js';
import { buildCreatePlan, buildExecPlan, type SeccompProgram } from './plan/build.js';
import { unexpected, type Frame } from './plan/sync-channel.js';

export interface CreateRequest {
  id?: string;
  bundle: string;            // absolute
  spec: Spec;                // validated
  stateDir: string;          // per-container runtime dir; exec.fifo is created here
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  seccomp?: SeccompProgram;  // compiled BPF (struct sock_filter[]) + SECCOMP_FILTER_FLAG_*
  stdio?: [number, number, number]; // fds for the container's stdio; default: inherit ours
  /** Who runs berth-init (default: this process). */
  launcher?: InitLauncher;
  /** berth-init, when the caller started it ahead of the plan (startCreateInit); else started here. */
  init?: EarlyInit;
  /** init exists in its namespaces, before rootfs setup: cgroups + prestart/createRuntime hooks. Throwing aborts. */
  onPid(pid: number): Promise<void>;
  /** berth-init's own time split ("step=ms" pairs), when BERTH_TIMING asked for it. */
  onTiming?(from: 'init-parent' | 'init', split: string): void;
  /** State JSON given on stdin to the createContainer/startContainer hooks init runs. */
  hookState(pid: number): string;
}

export interface ExecRequest {
  containerPid: number;
  spec: Spec;
  process: Process;
  consoleSocket?: string;
  detach: boolean;
  preserveFds?: number;
  seccomp?: SeccompProgram;
  onPid(pid: number): Promise<void>; // cgroup join; throwing aborts (the process is killed before it runs)
  stdio?: [number, number, number];
  launcher?: InitLauncher;
}

export interface ExecHandle {
  pid: number;
  /** Exit code of the process (128+signal when killed). Rejects for a detached exec. */
  wait(): Promise<number>;
}

export const EXEC_FIFO = 'exec.fifo';

/**
 * A berth-init for a create, started before its plan exists (it needs none of the bundle until then),
 * and its own pid, its first message: the caller can place it in the container's cgroups while the
 * plan is made, so the container process is born there.
 */
export interface EarlyInit {
  launched: Promise<Launched>;
  pid: Promise<number>;
  /** Set by joinCgroups: the plan goes only after it. */
  joining?: Promise<void>;
}

/**
 * Have berth-init join these cgroup dirs itself (once `dirs` resolves: they exist), before its plan
 * and so before it clones: the container process is born in them, and the join's wait in the kernel
 * runs in berth-init while this process plans.
 */
export function joinCgroups(init: EarlyInit, dirs: Promise<string[]>): void {
  init.joining = Promise.all([init.launched, dirs]).then(([l, ds]) => l.chan.send('J', ds.join('\0')));
  init.joining.catch(() => {});
}

export function startCreateInit(launcher: InitLauncher | undefined, stdio: [number, number, number] | undefined, preserveFds: number): EarlyInit {
  const launched = (launcher ?? localHost).launch('create', stdio, preserveFds);
  const pid = launched.then(async ({ chan }) => expect(await chan.next(), 'I', "berth-init's pid").payload.readUInt32LE(0));
  launched.catch(() => {});
  pid.catch(() => {});
  return { launched, pid };
}

/** End a berth-init that will never get its plan (the create failed first): it exits when its socket closes. */
export async function abandonInit(init: EarlyInit): Promise<void> {
  let l: Launched;
  try {
    l = await init.launched;
  } catch {
    return;
  }
  l.chan.close();
  await l.exited;
}

// The errno text at the end of berth-init's line decides the code front ends see.
function errorFromInit(line: string): BerthError {
  const table: Array<[RegExp, ErrorCode]> = [
    [/: (Operation not permitted|Permission denied)$/, 'PERMISSION_DENIED'],
    [/: No such file or directory$|executable file not found/, 'NOT_FOUND'],
    [/: (Invalid argument)$/, 'INVALID_ARGUMENT'],
    [/: File exists$/, 'ALREADY_EXISTS'],
    [/: (No space left on device|Too many open files|Cannot allocate memory|Resource temporarily unavailable)$/, 'RESOURCE_EXHAUSTED'],
    [/^berth-init: launch plan:/, 'INTERNAL'],
  ];
  for (const [re, code] of table) if (re.test(line)) return new BerthError(code, line);
  return new BerthError('FAILED_PRECONDITION', line);
}

/** An 'E' frame becomes the error; anything unexpected is an internal error. */
function expect(f: Frame, type: string, wanted: string): Frame {
  if (f.type === type) return f;
  if (f.type === 'E') throw errorFromInit(f.payload.toString('utf8'));
  throw unexpected(f, wanted);
}

function isGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** Kill a process through its pidfd (no pid-reuse race) and wait until it is gone. */
async function killAndWait(pid: number, pidfd: number | undefined, timeoutMs = 5000): Promise<void> {
  try {
    if (pidfd !== undefined) pidfdSendSignal(pidfd, 9); else process.kill(pid, 'SIGKILL');
  } catch { /* already gone */ }
  const deadline = Date.now() + timeoutMs;
  while (!isGone(pid)) {
    if (Date.now() > deadline) throw internal(`container process ${pid} did not die after SIGKILL`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The plan, and the exec fifo made for it. */
function prepareCreate(req: CreateRequest, fifo: string): Buffer {
  if (!path.isAbsolute(req.bundle)) throw invalidArgument(`bundle ${req.bundle} must be an absolute path`);
  const plan = buildCreatePlan(req.spec, {
    bundle: req.bundle, stateDir: req.stateDir, consoleSocket: req.consoleSocket, noPivot: req.noPivot,
    noNewKeyring: req.noNewKeyring, preserveFds: req.preserveFds, seccomp: req.seccomp,
  });
  fs.mkdirSync(req.stateDir, { recursive: true, mode: 0o711 });
  try { fs.unlinkSync(fifo); } catch { /* none yet */ }
  mkfifo(fifo, 0o622);
  // mkfifo applied our umask; the init may be another uid outside (user namespace), as in runc.
  fs.chmodSync(fifo, 0o622);
  const root = (m?: readonly { containerID: number; hostID: number; size: number }[]) => m?.find((x) => x.containerID === 0)?.hostID;
  const ruid = root(req.spec.linux?.uidMappings), rgid = root(req.spec.linux?.gidMappings);
  if (ruid !== undefined || rgid !== undefined) fs.chownSync(fifo, ruid ?? 0, rgid ?? 0);
  return plan;
}

/**
 * Create the container's init: namespaces, rootfs, devices, console; returns once it is blocked on
 * <stateDir>/exec.fifo. On any failure nothing is left: the process is killed (taking its mount
 * namespace with it) and the fifo removed.
 */
export async function createContainerProcess(req: CreateRequest): Promise<{ pid: number }> {
  const fifo = path.join(req.stateDir, EXEC_FIFO);
  let plan: Buffer;
  try {
    plan = prepareCreate(req, fifo);
  } catch (e) {
    // A berth-init started ahead is ours from the first line: it must not wait for a plan forever.
    if (req.init) await abandonInit(req.init);
    throw e;
  }
  const init = req.init ?? startCreateInit(req.launcher, req.stdio, req.preserveFds ?? 0);
  let launched;
  try {
    launched = await init.launched;
  } catch (e) {
    try { fs.unlinkSync(fifo); } catch { /* already gone */ }
    throw e;
  }
  const { chan, exited } = launched;
  let pid: number | undefined;
  let pidfd: number | undefined;
  try {
    await init.joining;
    chan.send('L', plan);
    await init.pid;
    const p = expect(await chan.next(), 'P', 'the container pid');
    pid = p.payload.readUInt32LE(0);
    req.onTiming?.('init-parent', p.payload.subarray(4).toString('utf8').trim());
    pidfd = pidfdOpen(pid);
    try {
      await req.onPid(pid);
    } catch (e) {
      chan.send('A');
      throw e;
    }
    chan.send('G', req.hookState(pid));
    const created = expect(await chan.next(), 'C', 'created');
    req.onTiming?.('init', created.payload.toString('utf8').trim());
    // berth-init's parent exits right after the child's 'C'; create still waits until it is reaped:
    // a caller gone before that leaves it a zombie of whoever adopts it, charged to the container's
    // cgroup (pids.current, an EBUSY rmdir at delete) until that reaper gets to it.
    await exited;
    return { pid };
  } catch (e) {
    // berth-init may still wait for a message (the plan, when joining its cgroups failed here): the
    // closed socket ends it.
    chan.close();
    if (pid !== undefined) await killAndWait(pid, pidfd);
    await exited;
    try { fs.unlinkSync(fifo); } catch { /* already gone */ }
    throw e;
  } finally {
    chan.close();
    if (pidfd !== undefined) closeFd(pidfd);
  }
}

/**
 * `start`: open exec.fifo for reading, which releases the init blocked opening it for writing; it
 * writes one byte, then runs startContainer hooks and execs. The fifo is removed afterwards.
 */
export async function startContainerProcess(stateDir: string, timeoutMs = 10_000): Promise<void> {
  const fifo = path.join(stateDir, EXEC_FIFO);
  let fd: number;
  try {
    fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw failedPrecondition(`container was already started (no ${fifo})`);
    throw e;
  }
  try {
    const buf = Buffer.alloc(1);
    const deadline = Date.now() + timeoutMs;
    for (let tries = 0; ; tries++) {
      let n = 0;
      try { n = fs.readSync(fd, buf, 0, 1, null); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e; }
      if (n === 1) break;
      // EOF: no writer (yet); EAGAIN: its byte is not there yet. The init opens its end as soon as ours
      // is open and writes at once, unless it is dead: look again at once a few times (a timer would
      // add a millisecond to every start), then every millisecond until the deadline.
      if (Date.now() > deadline) throw failedPrecondition(`container init is not waiting on ${fifo} (did it exit?)`);
      await new Promise((r) => (tries < 200 ? setImmediate(r) : setTimeout(r, 1)));
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(fifo, { force: true });
}

/** Run a process in a running container (runc exec). */
export async function execProcess(req: ExecRequest): Promise<ExecHandle> {
  const plan = buildExecPlan(req.spec, req.process, {
    containerPid: req.containerPid, consoleSocket: req.consoleSocket, detach: req.detach,
    preserveFds: req.preserveFds, seccomp: req.seccomp,
  });
  if (isGone(req.containerPid)) throw failedPrecondition(`container process ${req.containerPid} is not running`);
  const { chan, exited } = await (req.launcher ?? localHost).launch('exec', req.stdio, req.preserveFds ?? 0);
  let pid: number | undefined;
  try {
    chan.send('L', plan);
    pid = expect(await chan.next(), 'P', 'the exec pid').payload.readUInt32LE(0);
    try {
      await req.onPid(pid);
    } catch (e) {
      chan.send('A'); // berth-init kills the process before it ran anything
      throw e;
    }
    chan.send('G');
    expect(await chan.next(), 'S', 'started');
  } catch (e) {
    await exited;
    throw e;
  } finally {
    chan.close();
  }
  if (req.detach) {
    await exited;
    return { pid, wait: () => Promise.reject(failedPrecondition(`exec process ${pid} is detached; its exit status goes to its new parent`)) };
  }
  return { pid, wait: () => exited };
}
