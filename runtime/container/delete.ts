// delete: remove a stopped (or, with force, any) container and everything it created.
import { isBerthError } from '../../lib/errors.js';
import { validateId } from '../state.js';
import type { Runtime } from './context.js';
import { destroyContainer } from './destroy.js';
import { withContainer } from './load.js';
import { failedPrecondition } from '../../lib/errors.js';

export async function deleteContainer(rt: Runtime, id: string, opts: { force?: boolean } = {}): Promise<void> {
  validateId(id);
  try {
    await withContainer(rt, id, async ({ rec, status }) => {
      // A created container never ran user code: runc deletes it without --force, and so do we.
      if ((status === 'running' || status === 'paused') && !opts.force) {
        throw failedPrecondition(`cannot delete container ${id} that is not stopped: ${status} (use --force)`);
      }
      await destroyContainer(rt, rec, { poststop: true });
    });
  } catch (e) {
    // containerd relies on `delete --force` of a missing container succeeding.
    if (opts.force && isBerthError(e, 'NOT_FOUND')) return;
    throw e;
  }
}
