// The device rules a container gets, as runc builds them: the config's linux.resources.devices, then
// the devices every container may use (appended, so a config cannot deny /dev/null by accident), then
// an allow rule for each device node the config creates (linux.devices). Empty means deny all.
import type { LinuxDeviceCgroup } from '../spec/resources-schema.js';

export const DEFAULT_ALLOWED_DEVICES: readonly LinuxDeviceCgroup[] = [
  { allow: true, type: 'c', access: 'm' }, // mknod of any char device (opening still needs a rule)
  { allow: true, type: 'b', access: 'm' }, // mknod of any block device
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
];

export interface LinuxDeviceNode { type: string; major?: number; minor?: number }

export function containerDeviceRules(resourceRules: readonly LinuxDeviceCgroup[] | undefined, nodes: readonly LinuxDeviceNode[] = []): LinuxDeviceCgroup[] {
  const out: LinuxDeviceCgroup[] = [...(resourceRules ?? []), ...DEFAULT_ALLOWED_DEVICES];
  for (const n of nodes) {
    // 'u' (unbuffered char) is a char device to the kernel; fifos need no cgroup permission.
    const type = n.type === 'b' ? 'b' : n.type === 'c' || n.type === 'u' ? 'c' : undefined;
    if (type && n.major !== undefined && n.minor !== undefined) out.push({ allow: true, type, major: n.major, minor: n.minor, access: 'rwm' });
  }
  return out;
}
