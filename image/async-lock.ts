// Cross-process locks that do not freeze the event loop: flock with LOCK_NB, polled. A blocking
// flock would stall every other download of this process while one waits for another process.
import { lockFile, type FileLock } from '../lib/file-lock.js';
import { isBerthError } from '../lib/errors.js';
import { sleep } from './transport.js';

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
  let lock: FileLock | undefined;
  for (let delay = 5; !lock; delay = Math.min(delay * 2, 200)) {
    try {
      lock = lockFile(file, { wait: false, shared });
    } catch (e) {
      if (!isBerthError(e, 'UNAVAILABLE')) throw e;
      await sleep(delay);
    }
  }
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
