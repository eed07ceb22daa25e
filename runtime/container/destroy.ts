// Undo a container: stop every process, remove its cgroup, run poststop hooks, remove its state.
// Shared by delete, a failed create, a foreground run's end, and the cleanup of a dead create.
import { initAlive, type ContainerRecord } from '../state.js';
import { runHooks } from '../hooks.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { signalInit } from './signal.js';
import { opTimer } from '../../lib/op-timer.js';

const SIGKILL = 9;

export async function destroyContainer(rt: Runtime, rec: Partial<ContainerRecord> & { id: string }, opts: { poststop: boolean }): Promise<void> {
  const tm = opTimer('runtime', 'destroy', rec.id.slice(0, 12), { env: rt.env });
  const hasCgroup = rec.cgroupPaths !== undefined && Object.keys(rec.cgroupPaths).length > 0;
  const cg = hasCgroup ? await containerCgroup(rec) : undefined;
  tm.mark('load');
  if (cg) {
    // killAll reaches processes that left init's pid namespace tree (no pid namespace, double forks).
    await cg.killAll(SIGKILL).catch((e) => rt.debug(`killAll: ${(e as Error).message}`));
    // A frozen task only dies once thawed.
    await cg.thaw().catch(() => {});
  }
  tm.mark('kill');
  if (rec.pid && rec.initStartTime) {
    try {
      signalInit(rec as ContainerRecord, SIGKILL);
    } catch {
      /* already gone */
    }
    await waitGone(rec as ContainerRecord, 10_000);
  }
  tm.mark('wait');
  if (cg) {
    let lastErr: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        await cg.destroy();
        lastErr = undefined;
        break;
      } catch (e) {
        lastErr = e; // EBUSY while the last tasks are still exiting
        await sleep(20);
      }
    }
    if (lastErr) rt.warn(`cgroup of ${rec.id} could not be removed: ${(lastErr as Error).message}`);
  }
  tm.mark('cgroup');
  if (opts.poststop && rec.config?.hooks?.poststop?.length) {
    await runHooks('poststop', rec.config.hooks, {
      ociVersion: rec.ociVersion ?? '1.2.0', id: rec.id, status: 'stopped', bundle: rec.bundle ?? '',
      ...(rec.annotations && Object.keys(rec.annotations).length ? { annotations: rec.annotations } : {}),
    }, rt.warn, rt.env);
  }
  rt.store.remove(rec.id);
  tm.mark('state');
  tm.end();
}

/** Wait until init is gone or a zombie; false on timeout. */
export async function waitGone(rec: Pick<ContainerRecord, 'pid' | 'initStartTime'>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let delay = 1;
  while (initAlive(rec)) {
    if (Date.now() > until) return false;
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  return true;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
