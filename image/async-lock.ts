// Cross-process locks that do not freeze the event loop: flock with LOCK_NB, polled. A blocking
// flock would stall every other download of this process while one waits for another process.
import { lockFile, lockFilePolled } from '../lib/file-lock.js';

const held = new Map<string, Promise<unknown>>();

export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: { shared?: boolean } = {}): Promise<T> {
  // Shared holders each take their own open file description, so they never queue behind each other.
  if (opts.shared) return acquire(file, true, fn);
  // flock is per open file description: two tasks of this process must queue here first.
  const prev = held.get(file) ?? Promise.resolve();
  const run = prev.catch(() => {}).then(() => acquire(file, false, fn));
  held.set(file, run);
  try {
    return await run;
  } finally {
    if (held.get(file) === run) held.delete(file);
  }
}

async function acquire<T>(file: string, shared: boolean, fn: () => Promise<T>): Promise<T> {
  const lock = await lockFilePolled(file, { shared, delayMs: 5, maxDelayMs: 200 });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** Non-blocking probe: true when nobody holds `file` (used by GC to spot abandoned ingests). */
export function isUnlocked(file: string): boolean {
  try {
    lockFile(file, { wait: false }).release();
    return true;
  } catch {
    return false;
  }
}
