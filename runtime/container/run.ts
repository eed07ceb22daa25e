// run: create + start, and unless detached wait for the container's init, then delete it
// (runc's `run`): the exit status of init becomes ours.
import { closeSync } from 'node:fs';
import { pidfdOpen, prctl, PR_SET_CHILD_SUBREAPER, waitidPidfdNoHang } from '../../native/ffi.js';
import type { Runtime } from './context.js';
import { createContainer, type CreateOptions } from './create.js';
import { deleteContainer } from './delete.js';
import { sleep } from './destroy.js';
import { startContainer } from './start.js';
import { mark } from '../../lib/timing.js';

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  /** Keep the stopped container instead of deleting it (runc's --keep). */
  keep?: boolean;
  /** Called once the user process runs (the CLI forwards signals to it from then on). */
  onStarted?(pid: number): void;
}

export async function runContainer(rt: Runtime, o: RunOptions): Promise<number> {
  // berth-init's parent exits after create and init is re-parented to the nearest subreaper: be it,
  // so that init's exit status comes to us.
  if (!o.detach) prctl(PR_SET_CHILD_SUBREAPER, 1);
  const rec = await createContainer(rt, o);
  // The pidfd names init even if its pid is reused later; open it before init can run and exit.
  const pidfd = o.detach ? -1 : pidfdOpen(rec.pid);
  try {
    try {
      await startContainer(rt, o.id);
    } catch (e) {
      await deleteContainer(rt, o.id, { force: true }).catch((e2) => rt.warn(`cleanup of ${o.id}: ${(e2 as Error).message}`));
      throw e;
    }
    mark('start');
    if (o.detach) return 0;
    o.onStarted?.(rec.pid);
    const code = await waitExit(pidfd);
    mark('wait');
    if (!o.keep) await deleteContainer(rt, o.id, { force: true });
    mark('delete');
    return code;
  } finally {
    if (pidfd >= 0) closeSync(pidfd);
  }
}

/** Poll an adopted child's pidfd with waitid(WNOHANG), backing off from 1 ms to 25 ms. */
async function waitExit(pidfd: number): Promise<number> {
  let delay = 1;
  for (;;) {
    const code = waitidPidfdNoHang(pidfd);
    if (code !== undefined) return code;
    await sleep(delay);
    delay = Math.min(delay * 2, 25);
  }
}
