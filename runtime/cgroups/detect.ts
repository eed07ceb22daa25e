// Which cgroup layout this host has. v2: cgroup2 at /sys/fs/cgroup; hybrid: v1 controllers plus a
// cgroup2 hierarchy (usually /sys/fs/cgroup/unified) without controllers; v1: no cgroup2 at all.
import { cgroupMounts, type CgroupMount } from './cgroup-path.js';

export type CgroupMode = 'v2' | 'v1' | 'hybrid';

export function detectCgroupMode(mounts: CgroupMount[] = cgroupMounts()): CgroupMode {
  if (mounts.some((m) => m.version === 2 && m.mountpoint === '/sys/fs/cgroup')) return 'v2';
  const hasV1Controller = mounts.some((m) => m.version === 1 && m.controllers.some((c) => !c.startsWith('name=')));
  if (!hasV1Controller) return mounts.some((m) => m.version === 2) ? 'v2' : 'v1';
  return mounts.some((m) => m.version === 2) ? 'hybrid' : 'v1';
}
