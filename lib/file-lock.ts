// flock(2)-based locks: shared between the CLI and the daemon, released by the kernel if a holder dies.
import fs from 'node:fs';
import { flock, LOCK } from '../native/ffi.js';
import { BerthError } from './errors.js';

export interface FileLock { release(): void }

/**
 * Take an exclusive (or shared) lock on `file`, creating it unless `create` is false (then a missing file
 * throws ENOENT). Blocks unless `wait` is false.
 */
export function lockFile(file: string, opts: { shared?: boolean; wait?: boolean; create?: boolean } = {}): FileLock {
  // Node opens every fd O_CLOEXEC already, so the lock never leaks into a container.
  const fd = fs.openSync(file, fs.constants.O_RDWR | (opts.create === false ? 0 : fs.constants.O_CREAT), 0o600);
  let op: number = opts.shared ? LOCK.SH : LOCK.EX;
  if (opts.wait === false) op |= LOCK.NB;
  try {
    flock(fd, op);
  } catch (e) {
    fs.closeSync(fd);
    if (opts.wait === false && (e as BerthError).code === 'UNAVAILABLE') {
      throw new BerthError('UNAVAILABLE', `${file} is locked by another process`, { cause: e });
    }
    throw e;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      fs.closeSync(fd); // closing the last fd drops the flock
    },
  };
}

export interface PollOptions {
  shared?: boolean;
  /** First wait between tries, doubled after each up to `maxDelayMs` (default: the same: constant). */
  delayMs?: number;
  maxDelayMs?: number;
  /** Give up (with the UNAVAILABLE error) once this many ms have passed; default: never. */
  timeoutMs?: number;
  /** Called once, the first time the lock is found held. */
  onWait?: () => void;
}

/**
 * lockFile without blocking the thread: LOCK_NB retried with back-off. A blocking flock would freeze
 * the event loop (a daemon, a planner, other downloads of this process) while another holder works.
 */
export async function lockFilePolled(file: string, opts: PollOptions = {}): Promise<FileLock> {
  const first = opts.delayMs ?? 5;
  const max = opts.maxDelayMs ?? first;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let waited = false;
  for (let delay = first; ; delay = Math.min(delay * 2, max)) {
    try {
      return lockFile(file, { wait: false, shared: opts.shared });
    } catch (e) {
      if (!(e instanceof BerthError && e.code === 'UNAVAILABLE') || Date.now() > deadline) throw e;
      if (!waited) { waited = true; opts.onWait?.(); }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function withLock<T>(file: string, fn: () => T): T {
  const l = lockFile(file);
  try {
    return fn();
  } finally {
    l.release();
  }
}

// flock is per open file description, so two async tasks of one process would block each other
// (and the blocking flock call would freeze the event loop): queue them in-process first.
const inProcess = new Map<string, Promise<unknown>>();

export async function withLockAsync<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = inProcess.get(file) ?? Promise.resolve();
  const run = prev.catch(() => {}).then(async () => {
    const l = lockFile(file);
    try {
      return await fn();
    } finally {
      l.release();
    }
  });
  inProcess.set(file, run);
  try {
    return await run;
  } finally {
    if (inProcess.get(file) === run) inProcess.delete(file);
  }
}
