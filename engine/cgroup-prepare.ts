// A container's cgroup dirs made ahead of its runtime create (runtime/cgroups prepareCgroupDirs): the
// engine knows the path at create, well before the runtime's create would make them. In this thread:
// a v1 pod cgroup is ~20 mkdirs, ~0.7 ms in a row, where spread over the libuv pool they took 4-18 ms
// and held up the daemon's other file operations.
import { discardCgroupDirs, prepareCgroupDirs } from '../runtime/cgroups/index.js';

/**
 * Makes the dirs; never throws (the runtime's own create reports a real failure). Only for absolute
 * paths: a relative one means something else to each runtime.
 */
export function prepareCgroup(cgroupsPath: string, id: string): void {
  if (!cgroupsPath.startsWith('/')) return;
  try { prepareCgroupDirs(cgroupsPath, id); } catch { /* the runtime's create says why */ }
}

/** Removes the leaf dirs of a container whose runtime never took them over (empty ones only). */
export function discardCgroup(cgroupsPath: string, id: string): void {
  if (!cgroupsPath.startsWith('/')) return;
  try { discardCgroupDirs(cgroupsPath, id); } catch { /* no cgroup hierarchy: nothing was made */ }
}
