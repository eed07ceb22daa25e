// Pod-level cgroups with the cgroupfs driver, in the kubelet's kubepods layout, always below berth's
// own absolute parent (/berth/...): never below the cgroup of whoever started `berth serve`.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../lib/errors.js';

export const BERTH_KUBEPODS = '/berth/kubepods';

/** The kubelet's cgroup_parent (e.g. /kubepods/burstable/pod<uid>) placed below /berth. */
export function podCgroupParent(kubeletParent: string, sandboxId: string): string {
  const p = kubeletParent.trim();
  if (!p) return `${BERTH_KUBEPODS}/pod-${sandboxId.slice(0, 12)}`;
  if (p.endsWith('.slice')) throw invalidArgument(`cgroup parent ${p} is a systemd slice: berth uses the cgroupfs driver (set the kubelet's cgroupDriver to cgroupfs)`);
  const parts = p.split('/').filter(Boolean);
  if (parts.some((x) => x === '..' || x === '.')) throw invalidArgument(`cgroup parent ${JSON.stringify(p)} must not contain . or ..`);
  if (parts[0] !== 'kubepods') parts.unshift('kubepods');
  return `/berth/${parts.join('/')}`;
}

function hierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  let names: string[] = [];
  try { names = fs.readdirSync(base); } catch { return []; }
  // cgroup2 at the root has cgroup.controllers; a hybrid host has it at /sys/fs/cgroup/unified
  if (names.includes('cgroup.controllers')) return [base];
  return names.map((n) => path.join(base, n)).filter((d) => {
    try { return fs.lstatSync(d).isDirectory(); } catch { return false; }
  });
}

/** Removes the pod's cgroup dirs (empty once its containers are deleted) up to, not including, /berth/kubepods. */
export function removePodCgroup(parent: string): void {
  if (!parent.startsWith(BERTH_KUBEPODS + '/')) return;
  for (const h of hierarchies()) {
    let rel = parent;
    while (rel.startsWith(BERTH_KUBEPODS + '/')) {
      try { fs.rmdirSync(path.join(h, rel)); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') break; // not empty (another pod or a live process): keep it
      }
      rel = path.posix.dirname(rel);
    }
  }
}
