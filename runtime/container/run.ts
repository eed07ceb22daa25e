// run: create + start, and unless detached wait for the container's init, then delete it
// (runc's `run`): the exit status of init becomes ours.
import type { Runtime } from './context.js';
import { createContainer, type CreateOptions } from './create.js';
import { deleteContainer } from './delete.js';
import { startContainer } from './start.js';
import { localHost } from '../host.js';
import { mark } from '../../lib/timing.js';

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  /** Keep the stopped container instead of deleting it (runc's --keep). */
  keep?: boolean;
  /** Called once the user process runs (the CLI forwards signals to it from then on). */
  onStarted?(pid: number): void;
}

export async function runContainer(rt: Runtime, o: RunOptions): Promise<number> {
  const host = rt.host ?? localHost;
  // berth-init's parent exits after create and init is re-parented to the nearest subreaper: be it,
  // so that init's exit status comes to us.
  if (!o.detach) host.becomeSubreaper();
  const rec = await createContainer(rt, o);
  // Hold init before it can run and exit (a pidfd locally: it names init even if its pid is reused).
  const child = o.detach ? undefined : host.adopt(rec.pid);
  try {
    try {
      await startContainer(rt, o.id);
    } catch (e) {
      await deleteContainer(rt, o.id, { force: true }).catch((e2) => rt.warn(`cleanup of ${o.id}: ${(e2 as Error).message}`));
      throw e;
    }
    mark('start');
    if (!child) return 0;
    o.onStarted?.(rec.pid);
    const code = await child.wait();
    mark('wait');
    if (!o.keep) await deleteContainer(rt, o.id, { force: true });
    mark('delete');
    return code;
  } finally {
    child?.close();
  }
}
