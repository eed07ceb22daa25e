// pause / resume: freeze and thaw every process of the container through its cgroup.
import { requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { withContainer } from './load.js';

export async function pauseContainer(rt: Runtime, id: string): Promise<void> {
  await withContainer(rt, id, async ({ rec, status }) => {
    requireStatus(id, status, ['running', 'created'], 'pause');
    await (await containerCgroup(rec)).freeze();
  });
}

export async function resumeContainer(rt: Runtime, id: string): Promise<void> {
  await withContainer(rt, id, async ({ rec, status }) => {
    requireStatus(id, status, ['paused'], 'resume');
    await (await containerCgroup(rec)).thaw();
  });
}
