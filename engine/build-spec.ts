// image config + user options -> OCI config.json. This is the one place the CLI, the CRI server and
// the Docker API turn "run this image like so" into a runtime spec, so the three behave the same.
import path from 'node:path';
import type { Spec, Mount } from '../runtime/spec/config-schema.js';
import { invalidArgument } from '../lib/errors.js';
import type { ContainerConfig } from '../image/index.js';

/** What the image contributes: image/'s checked view of the image config (all fields optional here). */
export type ImageRunConfig = Partial<ContainerConfig>;
import { resolveUser } from './resolve-user.js';
import {
  DEFAULT_CAPABILITIES, DEFAULT_PATH_ENV, MASKED_PATHS, READONLY_PATHS, defaultDeviceRules, defaultMounts,
} from './container-defaults.js';

export interface BindMount { source: string; destination: string; readonly?: boolean; options?: string[] }
export interface TmpfsMount { destination: string; options?: string[] }

export interface ContainerOptions {
  id: string;
  rootfs: string;               // mounted snapshot (absolute)
  containerDir: string;         // holds hosts, hostname, resolv.conf
  command?: string[];           // replaces image Cmd
  entrypoint?: string[];        // replaces image Entrypoint ([] clears it)
  env?: string[];
  workdir?: string;
  user?: string;
  groupAdd?: string[];
  hostname?: string;
  tty?: boolean;
  stdin?: boolean;
  readonlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** device nodes to create in /dev (privileged: every host device, engine/host-devices.ts) */
  devices?: { type: 'c' | 'b'; path: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }[];
  noNewPrivileges?: boolean;
  binds?: BindMount[];
  tmpfs?: TmpfsMount[];
  memory?: number;              // bytes
  memorySwap?: number;          // bytes, -1 unlimited
  cpus?: number;                // fractional CPUs -> cpu.max quota/period
  cpuShares?: number;
  pidsLimit?: number;
  network?: 'none' | 'host' | { netnsPath: string };
  ipc?: 'private' | 'host' | { path: string };
  pid?: 'private' | 'host' | { path: string };
  uts?: 'private' | 'host' | { path: string };
  cgroupsPath?: string;
  seccomp?: Spec['linux'] extends infer L ? (L extends { seccomp?: infer S } ? S : never) : never;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  sysctls?: Record<string, string>;
  shmSize?: number;
  /** replace the default masked / read-only /proc and /sys paths (CRI sends its own lists) */
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

const CPU_PERIOD = 100_000;

function normaliseCap(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

export function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const i = e.indexOf('=');
    const k = i < 0 ? e : e.slice(0, i);
    if (!k) throw invalidArgument(`invalid environment variable ${JSON.stringify(e)}`);
    out.set(k, e);
  }
  return [...out.values()].filter((e) => e.includes('='));
}

export function computeCapabilities(opts: Pick<ContainerOptions, 'capAdd' | 'capDrop' | 'privileged'>, allCaps: readonly string[]): string[] {
  if (opts.privileged) return [...allCaps];
  const drop = (opts.capDrop ?? []).map(normaliseCap);
  const add = (opts.capAdd ?? []).map(normaliseCap);
  let caps: string[] = drop.includes('CAP_ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  if (add.includes('CAP_ALL')) caps = [...allCaps];
  for (const c of add) {
    if (c === 'CAP_ALL') continue;
    if (!allCaps.includes(c)) throw invalidArgument(`unknown capability ${c}`);
    if (!caps.includes(c)) caps.push(c);
  }
  return caps;
}

function absoluteIn(p: string, what: string): string {
  if (!p.startsWith('/')) throw invalidArgument(`${what} ${JSON.stringify(p)} must be an absolute path`);
  return path.posix.normalize(p);
}

function namespaceFor(type: string, mode: 'private' | 'host' | { path: string } | undefined) {
  if (mode === 'host') return [];
  if (mode && typeof mode === 'object') return [{ type, path: mode.path }];
  return [{ type }];
}

export function buildSpec(image: ImageRunConfig, opts: ContainerOptions, allCaps: readonly string[]): Spec {
  const entrypoint = opts.entrypoint ?? image.entrypoint ?? [];
  const cmd = opts.command ?? (opts.entrypoint ? [] : (image.cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument('no command specified: the image has no Entrypoint or Cmd and none was given');

  const user = resolveUser(opts.rootfs, opts.user ?? image.user, opts.groupAdd);
  const baseEnv = image.env && image.env.length ? image.env : [DEFAULT_PATH_ENV];
  const env = mergeEnv([...baseEnv, ...(opts.tty ? ['TERM=xterm'] : [])], [...(opts.env ?? []), `HOSTNAME=${opts.hostname ?? opts.id.slice(0, 12)}`]);
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH_ENV);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  const cwd = absoluteIn(opts.workdir ?? (image.workingDir || '/'), 'working directory');
  const caps = computeCapabilities(opts, allCaps);

  const mounts: Mount[] = defaultMounts({ shmSize: opts.shmSize, privileged: opts.privileged });
  const hostnameFile = (name: string) => path.join(opts.containerDir, name);
  mounts.push(
    { destination: '/etc/hosts', type: 'bind', source: hostnameFile('hosts'), options: ['rbind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: hostnameFile('hostname'), options: ['rbind', 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: hostnameFile('resolv.conf'), options: ['rbind', 'rprivate'] },
  );
  for (const b of opts.binds ?? []) {
    mounts.push({
      destination: absoluteIn(b.destination, 'volume destination'), type: 'bind', source: absoluteIn(b.source, 'volume source'),
      options: ['rbind', b.readonly ? 'ro' : 'rw', ...(b.options ?? ['rprivate'])],
    });
  }
  for (const t of opts.tmpfs ?? []) {
    mounts.push({ destination: absoluteIn(t.destination, 'tmpfs destination'), type: 'tmpfs', source: 'tmpfs', options: t.options ?? ['nosuid', 'nodev', 'noexec'] });
  }
  // A later mount on the same destination replaces the default one (docker: user mounts win).
  const byDest = new Map<string, Mount>();
  for (const m of mounts) { byDest.delete(m.destination); byDest.set(m.destination, m); }

  const resources: Record<string, unknown> = { devices: opts.privileged ? [{ allow: true, access: 'rwm' }] : defaultDeviceRules() };
  if (opts.memory !== undefined) {
    const memory: Record<string, number> = { limit: opts.memory };
    if (opts.memorySwap !== undefined) memory.swap = opts.memorySwap;
    resources.memory = memory;
  }
  if (opts.cpus !== undefined || opts.cpuShares !== undefined) {
    const cpu: Record<string, number> = {};
    if (opts.cpus !== undefined) { cpu.quota = Math.round(opts.cpus * CPU_PERIOD); cpu.period = CPU_PERIOD; }
    if (opts.cpuShares !== undefined) cpu.shares = opts.cpuShares;
    resources.cpu = cpu;
  }
  if (opts.pidsLimit !== undefined) resources.pids = { limit: opts.pidsLimit };

  const netns = opts.network === 'host' ? [] : opts.network && typeof opts.network === 'object' ? [{ type: 'network', path: opts.network.netnsPath }] : [{ type: 'network' }];
  const spec = {
    ociVersion: '1.2.0',
    process: {
      terminal: Boolean(opts.tty),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, umask: 0o022 },
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: Boolean(opts.noNewPrivileges),
    },
    root: { path: opts.rootfs, readonly: Boolean(opts.readonlyRootfs) },
    // a joined UTS namespace (a pod's) already has its hostname: setting it again is not allowed
    hostname: opts.uts === 'host' || typeof opts.uts === 'object' ? undefined : (opts.hostname ?? opts.id.slice(0, 12)),
    mounts: [...byDest.values()],
    annotations: { ...(opts.annotations ?? {}) },
    linux: {
      namespaces: [
        { type: 'pid' as const, ...(typeof opts.pid === 'object' ? { path: opts.pid.path } : {}) },
        { type: 'mount' as const },
        ...namespaceFor('ipc', opts.ipc),
        ...namespaceFor('uts', opts.uts),
        ...netns,
        { type: 'cgroup' as const },
      ].filter((n) => !(n.type === 'pid' && opts.pid === 'host')),
      cgroupsPath: opts.cgroupsPath ?? `/berth/${opts.id}`,
      resources,
      ...(opts.devices?.length ? { devices: opts.devices } : {}),
      maskedPaths: opts.privileged ? [] : (opts.maskedPaths ?? MASKED_PATHS),
      readonlyPaths: opts.privileged ? [] : (opts.readonlyPaths ?? READONLY_PATHS),
      ...rootfsPropagationFor(opts.binds ?? []),
      sysctl: opts.sysctls,
      ...(opts.seccomp && !opts.privileged ? { seccomp: opts.seccomp } : {}),
    },
  };
  return spec as unknown as Spec;
}

/**
 * A shared bind only propagates both ways when the container's / stays shared (the runtime then
 * keeps just the rootfs's own mount private); a slave bind needs / to be no more than a slave.
 * As containerd's CRI does: rshared when any bind is shared, else rslave when any is a slave.
 */
function rootfsPropagationFor(binds: BindMount[]): { rootfsPropagation?: 'rshared' | 'rslave' } {
  const opts = binds.flatMap((b) => b.options ?? []);
  if (opts.some((o) => o === 'rshared' || o === 'shared')) return { rootfsPropagation: 'rshared' };
  if (opts.some((o) => o === 'rslave' || o === 'slave')) return { rootfsPropagation: 'rslave' };
  return {};
}
