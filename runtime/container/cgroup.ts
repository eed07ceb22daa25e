// The one place lifecycle code reaches the cgroup driver (runtime/cgroups), loaded lazily:
// commands such as `state` and `list` never need it.
import type { LinuxResources } from '../spec/resources-schema.js';

/** What the lifecycle needs of a container's cgroup, whatever the driver (v1, v2) behind it. */
export interface ContainerCgroup {
  create(): Promise<void>;
  addProcess(pid: number): Promise<void>;
  apply(resources: LinuxResources): Promise<void>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  killAll(signal: number): Promise<void>;
  pids(): Promise<number[]>;
  stats(): Promise<unknown>;
  destroy(): Promise<void>;
  paths(): Record<string, string>;
}

/**
 * The cgroup of a container: reopened from the paths saved at create (so a changed host default cannot
 * point us elsewhere), or resolved from cgroupsPath for a container being created.
 */
export async function containerCgroup(rec: { id: string; cgroupsPath?: string; cgroupPaths?: Record<string, string> }): Promise<ContainerCgroup> {
  const mod = await import('../cgroups/index.js');
  const m = rec.cgroupPaths && Object.keys(rec.cgroupPaths).length
    ? mod.cgroupManagerFromPaths(rec.cgroupPaths)
    : mod.cgroupManagerFor({ cgroupsPath: rec.cgroupsPath ?? '', id: rec.id });
  return {
    create: async () => { m.create(); },
    addProcess: async (pid) => { await m.addProcess(pid); },
    apply: async (r) => { await m.apply(r); },
    freeze: async () => { await m.freeze(); },
    thaw: async () => { await m.thaw(); },
    killAll: async (sig) => { await m.killAll(sig); },
    pids: async () => await m.pids(),
    stats: async () => await m.stats(),
    destroy: async () => { await m.destroy(); },
    paths: () => m.paths(),
  };
}
