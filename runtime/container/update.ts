// update: change the resource limits of a live container, and remember them in its record.
import { requireStatus } from '../state.js';
import type { LinuxResources } from '../spec/resources-schema.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { withContainer } from './load.js';

/** Merge `patch` into `base` one level deep per section (memory, cpu, pids...), as runc's update does. */
export function mergeResources(base: LinuxResources | undefined, patch: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = { ...(base ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    const old = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old) ? { ...old, ...v } : v;
  }
  return out as LinuxResources;
}

export async function updateContainer(rt: Runtime, id: string, patch: LinuxResources): Promise<LinuxResources> {
  return withContainer(rt, id, async ({ rec, status }) => {
    requireStatus(id, status, ['created', 'running', 'paused'], 'update');
    const merged = mergeResources(rec.config.linux?.resources, patch);
    await (await containerCgroup(rec)).apply(patch);
    rec.config.linux = { ...(rec.config.linux ?? {}), resources: merged };
    rt.store.write(rec);
    return merged;
  });
}
