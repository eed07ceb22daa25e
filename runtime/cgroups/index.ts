// runtime/cgroups: a container's cgroup behind one interface (CgroupManager), whatever the host has.
// v2 hosts get the v2 driver; v1 and hybrid hosts the v1 driver (which on hybrid hosts also joins the
// matching cgroup2 dir, like runc). Only the cgroupfs driver exists: systemd paths are refused.
import path from 'node:path';
import { failedPrecondition, invalidArgument } from '../../lib/errors.js';
import { cgroupMounts, resolveCgroupPath, unifiedMount, v1Paths } from './cgroup-path.js';
import { detectCgroupMode } from './detect.js';
import { rmdirIfEmpty } from './fs-util.js';
import type { CgroupManager } from './types.js';
import { V1Manager } from './v1.js';
import { V2Manager } from './v2.js';

export type { CgroupManager, CgroupStats, MemoryStats, CpuStats, IoDeviceStats } from './types.js';
export { detectCgroupMode, type CgroupMode } from './detect.js';
export { resolveCgroupPath, BERTH_PARENT } from './cgroup-path.js';
export { cpuSharesToWeight, memorySwapToV2, blkioWeightToIoWeight } from './convert.js';

export interface CgroupManagerOptions {
  cgroupsPath?: string;
  id: string;
  mode?: 'auto' | 'v1' | 'v2';
  /** v2 only: the hierarchy dir cgroupsPath is relative to (default: the cgroup2 mount point). */
  unifiedRoot?: string;
}

export function cgroupManagerFor(opts: CgroupManagerOptions): CgroupManager {
  const cg = resolveCgroupPath(opts.cgroupsPath, opts.id);
  const mode = !opts.mode || opts.mode === 'auto' ? (detectCgroupMode() === 'v2' ? 'v2' : 'v1') : opts.mode;
  if (mode === 'v2') {
    const root = opts.unifiedRoot ?? unifiedMount()?.mountpoint;
    if (!root) throw failedPrecondition('cgroup: no cgroup2 hierarchy is mounted');
    return new V2Manager(path.join(root, cg), root);
  }
  const paths = v1Paths(cg);
  if (!Object.keys(paths).some((k) => k !== 'unified')) throw failedPrecondition('cgroup: no cgroup v1 controller is mounted');
  return new V1Manager(paths);
}

/** Re-open a container's cgroup from the paths() saved in its state (after checking they are cgroup dirs). */
export function cgroupManagerFromPaths(paths: Record<string, string>): CgroupManager {
  const mounts = cgroupMounts();
  const mountOf = (p: string) => {
    const norm = path.normalize(p);
    if (!path.isAbsolute(p) || norm !== p.replace(/\/+$/, '')) throw invalidArgument(`cgroup: saved path ${JSON.stringify(p)} is not a clean absolute path`);
    const m = mounts.filter((x) => norm.startsWith(x.mountpoint + '/')).sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0];
    if (!m) throw invalidArgument(`cgroup: saved path ${p} is not inside a mounted cgroup hierarchy`);
    return m;
  };
  const keys = Object.keys(paths);
  if (!keys.length) throw invalidArgument('cgroup: no saved cgroup paths');
  for (const k of keys) mountOf(paths[k]!);
  if (keys.length === 1 && keys[0] === 'unified') return new V2Manager(paths.unified!, mountOf(paths.unified!).mountpoint);
  return new V1Manager({ ...paths });
}

/**
 * Makes a container's cgroup dirs before its runtime create does (which then finds them, as runc
 * accepts an existing cgroup): a caller that knows the path early takes the mkdirs off the create's
 * path (a new v1 pod cgroup is two levels in each of a dozen hierarchies, 4-8 ms here). The runtime's
 * delete removes the leaf as always; a container that is never created needs discardCgroupDirs.
 */
export function prepareCgroupDirs(cgroupsPath: string, id: string): void {
  cgroupManagerFor({ cgroupsPath, id }).create();
}

/**
 * The file whose change tells a watcher the kernel OOM-killed in the container's cgroup: v1's
 * memory.oom_control (its oom_kill count), v2's memory.events; undefined without a memory hierarchy.
 */
export function oomEventsFile(cgroupsPath: string | undefined, id: string): string | undefined {
  let paths: Record<string, string>;
  try { paths = cgroupManagerFor({ cgroupsPath, id }).paths(); } catch { return undefined; }
  if (paths.memory) return path.join(paths.memory, 'memory.oom_control');
  const keys = Object.keys(paths);
  return keys.length === 1 && paths.unified ? path.join(paths.unified, 'memory.events') : undefined;
}

/** Removes the leaf dirs prepareCgroupDirs made, where they are empty; ancestors are their owner's. */
export function discardCgroupDirs(cgroupsPath: string, id: string): void {
  for (const d of new Set(Object.values(cgroupManagerFor({ cgroupsPath, id }).paths()))) rmdirIfEmpty(d);
}
export { containerDeviceRules, DEFAULT_ALLOWED_DEVICES } from './default-devices.js';
