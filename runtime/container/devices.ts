// The device cgroup rules a container gets: deny everything, the spec's rules, its own devices, and the
// devices every container needs (runc's AllowedDevices). Without the defaults init could not even
// create /dev/null, and a spec that only says "deny all" (as `spec` writes) would be unusable.
import type { Spec } from '../spec/config-schema.js';
import type { LinuxDeviceCgroup, LinuxResources } from '../spec/resources-schema.js';

const rwm = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access = 'rwm'): LinuxDeviceCgroup =>
  ({ allow: true, type, ...(major !== undefined ? { major } : {}), ...(minor !== undefined ? { minor } : {}), access });

export const DEFAULT_ALLOWED_DEVICES: readonly LinuxDeviceCgroup[] = [
  rwm('c', undefined, undefined, 'm'), // mknod of any char/block device (use still needs a rule)
  rwm('b', undefined, undefined, 'm'),
  rwm('c', 1, 3), // /dev/null
  rwm('c', 1, 8), // /dev/random
  rwm('c', 1, 7), // /dev/full
  rwm('c', 5, 0), // /dev/tty
  rwm('c', 1, 5), // /dev/zero
  rwm('c', 1, 9), // /dev/urandom
  rwm('c', 5, 1), // /dev/console
  rwm('c', 136, undefined), // /dev/pts/*
  rwm('c', 5, 2), // /dev/ptmx
  rwm('c', 10, 200), // /dev/net/tun
];

/** linux.resources with the complete, ordered device rule list the cgroup driver should apply. */
export function resourcesWithDevices(spec: Spec): LinuxResources {
  const r = spec.linux?.resources ?? {};
  const own = (spec.linux?.devices ?? [])
    .filter((d) => d.type === 'c' || d.type === 'b' || d.type === 'u')
    .map((d) => rwm(d.type === 'b' ? 'b' : 'c', d.major, d.minor));
  return { ...r, devices: [{ allow: false, access: 'rwm' }, ...(r.devices ?? []), ...own, ...DEFAULT_ALLOWED_DEVICES] };
}
