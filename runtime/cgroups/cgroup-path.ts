// Where a container's cgroup lives: cgroupsPath semantics (like runc's cgroupfs driver) and the
// mount points of the hierarchies, read from /proc/self/mountinfo.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, failedPrecondition } from '../../lib/errors.js';
import { unescapeMountField } from '../../lib/mountinfo.js';

/** Relative and empty cgroupsPaths go below this absolute parent, never below our own cgroup. */
export const BERTH_PARENT = '/berth';

const ID_RE = /^[\w+.-]+$/; // runc's container id alphabet

/**
 * The cgroup path inside each hierarchy (always absolute, normalised, never `/`).
 * - absolute `/a/b`: taken relative to each hierarchy's root;
 * - relative `a/b`: placed under /berth (runc would nest it under the caller's own cgroup, which on
 *   a shared host belongs to someone else);
 * - empty: /berth/<id>;
 * - `slice:prefix:name`: the systemd driver, refused.
 */
export function resolveCgroupPath(cgroupsPath: string | undefined, id: string): string {
  if (!ID_RE.test(id) || id === '.' || id === '..') throw invalidArgument(`cgroup: invalid container id ${JSON.stringify(id)}`);
  const p = cgroupsPath ?? '';
  if (p === '') return `${BERTH_PARENT}/${id}`;
  if (p.includes('\0')) throw invalidArgument('cgroup: cgroupsPath contains a NUL byte');
  if (!p.startsWith('/') && p.split(':').length === 3) {
    throw invalidArgument(`cgroup: cgroupsPath ${JSON.stringify(p)} is in the systemd form (slice:prefix:name); the systemd cgroup driver is not supported, use a cgroupfs path such as /berth/${id}`);
  }
  let resolved: string;
  if (p.startsWith('/')) {
    // normalize() folds `..` at the root, so an absolute path can never climb out of the hierarchy.
    resolved = path.posix.normalize(p);
  } else {
    const rel = path.posix.normalize(p);
    if (rel === '..' || rel.startsWith('../')) throw invalidArgument(`cgroup: cgroupsPath ${JSON.stringify(p)} escapes its parent`);
    resolved = path.posix.join(BERTH_PARENT, rel);
  }
  resolved = resolved.replace(/\/+$/, '');
  if (resolved === '' || resolved === '/' || resolved === '/.') {
    throw invalidArgument(`cgroup: cgroupsPath ${JSON.stringify(p)} names the root cgroup; a container needs its own cgroup`);
  }
  return resolved;
}

export interface CgroupMount {
  /** 'unified' for cgroup2; for v1 the controllers (and name=xxx) the hierarchy carries. */
  controllers: string[];
  mountpoint: string;
  /** The cgroup path this mount exposes as its root (`/` on the host, deeper inside containers). */
  root: string;
  version: 1 | 2;
}

export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const fstype = post[0];
    const root = unescapeMountField(pre[3] ?? '/');
    const mountpoint = unescapeMountField(pre[4] ?? '');
    if (fstype === 'cgroup2') {
      out.push({ controllers: ['unified'], mountpoint, root, version: 2 });
    } else if (fstype === 'cgroup') {
      const known = new Set<string>(V1_CONTROLLERS);
      const opts = (post[2] ?? '').split(',');
      const controllers = opts.filter((o) => known.has(o) || o.startsWith('name='));
      if (controllers.length) out.push({ controllers, mountpoint, root, version: 1 });
    }
  }
  return out;
}

export const V1_CONTROLLERS = [
  'cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb',
  'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc',
] as const;

let cachedMounts: CgroupMount[] | undefined;
export function cgroupMounts(): CgroupMount[] {
  cachedMounts ??= parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return cachedMounts;
}

/** The directory of cgroup `cgPath` inside a mounted hierarchy, honouring the mount's own root. */
export function dirInMount(m: CgroupMount, cgPath: string): string {
  if (m.root === '/') return path.join(m.mountpoint, cgPath);
  const rel = path.posix.relative(m.root, cgPath);
  if (rel.startsWith('..')) throw failedPrecondition(`cgroup: ${cgPath} is outside the part of the hierarchy mounted at ${m.mountpoint} (root ${m.root})`);
  return path.join(m.mountpoint, rel);
}

/**
 * controller -> dir for every mounted v1 hierarchy (co-mounted controllers share one dir; named
 * hierarchies appear as `name=xxx`), plus `unified` when a cgroup2 hierarchy is mounted too.
 */
export function v1Paths(cgPath: string, mounts = cgroupMounts()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of mounts) {
    if (m.version === 1) {
      for (const c of m.controllers) out[c] ??= dirInMount(m, cgPath);
    } else {
      out.unified ??= dirInMount(m, cgPath);
    }
  }
  return out;
}

export function unifiedMount(mounts = cgroupMounts()): CgroupMount | undefined {
  return mounts.find((m) => m.version === 2 && m.mountpoint === '/sys/fs/cgroup') ?? mounts.find((m) => m.version === 2);
}

/**
 * The cgroup dirs (in the mounted hierarchies) that process `pid` is in now, from /proc/<pid>/cgroup;
 * empty when it is gone. Joining a dir it is already in would be a no-op that still costs a write.
 */
export function memberDirs(pid: number, mounts = cgroupMounts()): Set<string> {
  const out = new Set<string>();
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const ctrls = m[1] ? m[1].split(',') : [];
    const hier = ctrls.length
      ? mounts.filter((x) => x.version === 1 && x.controllers.some((c) => ctrls.includes(c)))
      : mounts.filter((x) => x.version === 2);
    for (const h of hier) {
      try {
        out.add(dirInMount(h, m[2]));
      } catch {
        // outside what this mount shows: not one of ours
      }
    }
  }
  return out;
}
