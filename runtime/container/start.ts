// start: let the created container's init exec the user process, then run poststart hooks.
import fs from 'node:fs';
import { runHooks } from '../hooks.js';
import { EXEC_FIFO, ociState, requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { withContainer } from './load.js';

export async function startContainer(rt: Runtime, id: string): Promise<void> {
  await withContainer(rt, id, async ({ rec, status }) => {
    requireStatus(id, status, ['created'], 'start');
    const { startContainerProcess } = await import('../launch.js');
    await startContainerProcess(rt.store.dir(id));
    // No fifo means "started" to every later status read, whoever opened it.
    fs.rmSync(rt.store.file(id, EXEC_FIFO), { force: true });
    await runHooks('poststart', rec.config.hooks, ociState(rec, 'running'), rt.warn, rt.env);
  });
}
