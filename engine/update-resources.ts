// Changes a container's resource limits (CRI UpdateContainerResources): the live cgroups through
// the runtime the container runs under (`<runtime> update --resources FILE`, runc's interface, so
// runc and crun work too), and the bundle's config.json, so that a later start keeps the new limits.
import fs from 'node:fs';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../lib/atomic-write.js';
import { runRuntime } from '../shim/runtime-cli.js';
import { mergeResources } from '../runtime/container/update.js';
import type { LinuxResources } from '../runtime/spec/resources-schema.js';
import type { ContainerService } from './service.js';

export async function updateResources(svc: ContainerService, idOrName: string, patch: LinuxResources): Promise<void> {
  const r = svc.resolve(idOrName);
  const v = svc.view(r);
  if (v.status === 'running' || v.status === 'paused') {
    const { runtime, runtimeArgs } = svc.monitorOf(r.id).session;
    const file = path.join(r.bundle, '.update-resources.json');
    writeJsonAtomic(file, patch);
    try {
      await runRuntime({ runtime, runtimeArgs }, ['update', '--resources', file, r.id]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  // A created or exited container has no cgroup to change: its next start reads config.json.
  const cfgFile = path.join(r.bundle, 'config.json');
  const spec = readJson<{ linux?: { resources?: LinuxResources } }>(cfgFile);
  spec.linux = { ...(spec.linux ?? {}), resources: mergeResources(spec.linux?.resources, patch) };
  writeJsonAtomic(cfgFile, spec);
}
