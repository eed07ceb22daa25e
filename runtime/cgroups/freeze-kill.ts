// Signalling every process of a cgroup without racing forks: freeze, signal, thaw. Shared by both drivers.
import { sleepSync } from './fs-util.js';

export interface Freezable {
  isFrozen(): boolean;
  /** Ask the kernel to freeze (no waiting). */
  requestFreeze(): void;
  thaw(): void;
  pids(): number[];
}

function signal(pid: number, sig: number): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    // Gone already: that is what we wanted. Anything else (EPERM) is worth reporting.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * Freeze so no process can fork while we walk the list, signal them all, then thaw (unless the
 * cgroup was already paused: `kill --all` must not resume a paused container). Without a freezer,
 * repeat until the cgroup is empty for SIGKILL, since forks can slip past one pass.
 */
export function signalAll(f: Freezable | undefined, list: () => number[], sig: number): void {
  if (f) {
    const wasFrozen = f.isFrozen();
    if (!wasFrozen) {
      f.requestFreeze();
      for (let i = 0; i < 200 && !f.isFrozen(); i++) sleepSync(5);
    }
    try {
      for (const pid of list()) signal(pid, sig);
    } finally {
      if (!wasFrozen) f.thaw();
    }
    return;
  }
  for (let round = 0; round < (sig === 9 ? 20 : 1); round++) {
    const pids = list();
    if (!pids.length) return;
    for (const pid of pids) signal(pid, sig);
    if (sig === 9) sleepSync(5);
  }
}
