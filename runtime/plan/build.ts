// config.json (validated) -> launch plan: every decision that can be made before clone() is made
// here, in Node, so berth-init only executes. Pure: depends on the spec and the options given, never on
// the calling process, so a resident planner can hand the same bytes to any client (DESIGN.md).
import path from 'node:path';
import { invalidArgument } from '../../lib/errors.js';
import { capabilityMask } from '../caps.js';
import type { Spec, Process, Mount, Hook, NamespaceType } from '../spec/config-schema.js';
import { MS, parseMountOptions, propagationFlags } from './mount-options.js';
import { PlanWriter, Tag, MountKind } from './encode.js';

export const CLONE = {
  NEWTIME: 0x80, NEWNS: 0x20000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000,
  NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
} as const;

export const NAMESPACE_FLAG: Record<NamespaceType, number> = {
  pid: CLONE.NEWPID, network: CLONE.NEWNET, mount: CLONE.NEWNS, ipc: CLONE.NEWIPC, uts: CLONE.NEWUTS,
  user: CLONE.NEWUSER, cgroup: CLONE.NEWCGROUP, time: CLONE.NEWTIME,
};
/** /proc/<pid>/ns/<file> for each spec namespace type. */
export const NAMESPACE_FILE: Record<NamespaceType, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};
const RLIM_INFINITY = (1n << 64n) - 1n;

const S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFBLK = 0o060000;
const DEVICE_TYPE: Record<string, number> = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO };

/** The devices every container gets (runc's defaults), unless the spec lists the same path. */
export const DEFAULT_DEVICES = [
  { path: '/dev/null', major: 1, minor: 3 }, { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 }, { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 }, { path: '/dev/tty', major: 5, minor: 0 },
] as const;

export interface SeccompProgram { filter: Buffer; flags: number }

export interface CreatePlanOptions {
  bundle: string;            // absolute; root.path is relative to it
  stateDir: string;          // exec.fifo lives here
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  seccomp?: SeccompProgram;
}

export interface ExecPlanOptions {
  containerPid: number;
  consoleSocket?: string;
  detach: boolean;
  preserveFds?: number;
  seccomp?: SeccompProgram;
}

function isAbsClean(p: string): boolean {
  return p.startsWith('/') && !p.split('/').includes('..');
}

function idMap(maps: readonly { containerID: number; hostID: number; size: number }[] | undefined): string {
  return (maps ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

function writeHook(w: PlanWriter, tag: number, h: Hook, where: string): void {
  if (!path.isAbsolute(h.path)) throw invalidArgument(`${where}/path must be absolute, got ${JSON.stringify(h.path)}`);
  const args = h.args ?? [h.path];
  const env = h.env ?? [];
  w.composite(tag, [['u32', h.timeout ?? 0], ['u32', args.length], ['u32', env.length]], [h.path, ...args, ...env], where);
}

function rlimitValue(v: number): bigint {
  // 2^64-1 written in JSON arrives as 18446744073709551616 after float rounding: that means unlimited.
  const b = BigInt(Math.trunc(v));
  return b >= (1n << 63n) ? RLIM_INFINITY : b;
}

const IOPRIO_CLASS: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
const SCHED_POLICY: Record<string, number> = { SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6 };
const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

/** "0-2,7" -> [0, 1, 2, 7] (the cpuset list format execCPUAffinity uses). */
export function parseCpuList(list: string, where: string): number[] {
  const out = new Set<number>();
  for (const part of list.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw invalidArgument(`${where}: ${JSON.stringify(list)} is not a CPU list like "0-2,7"`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= 8192) throw invalidArgument(`${where}: CPU range ${JSON.stringify(part)} is out of order or too large`);
    for (let c = a; c <= b; c++) out.add(c);
  }
  if (out.size === 0) throw invalidArgument(`${where}: empty CPU list`);
  return [...out].sort((x, y) => x - y);
}

function cpuRecord(w: PlanWriter, tag: number, list: string, where: string): void {
  const cpus = parseCpuList(list, where);
  const b = Buffer.alloc(4 * cpus.length);
  cpus.forEach((c, i) => b.writeUInt32LE(c, 4 * i));
  w.bytes(tag, b);
}

/** The process part of a plan, shared by create and exec. */
function writeProcess(w: PlanWriter, proc: Process, where: string, opts: { consoleSocket?: string; preserveFds?: number; seccomp?: SeccompProgram; exec?: boolean }): void {
  const args = proc.args;
  if (!args || args.length === 0) throw invalidArgument(`${where}/args: at least the program to run is required`);
  if (!proc.cwd.startsWith('/')) throw invalidArgument(`${where}/cwd must be an absolute path, got ${JSON.stringify(proc.cwd)}`);
  for (const a of args) w.str(Tag.ARG, a, `${where}/args`);
  for (const e of proc.env ?? []) w.str(Tag.ENV, e, `${where}/env`);
  w.str(Tag.CWD, proc.cwd, `${where}/cwd`);
  w.composite(Tag.USER, [['u32', proc.user.uid], ['u32', proc.user.gid]], [], `${where}/user`);
  if (proc.user.additionalGids?.length) {
    const b = Buffer.alloc(4 * proc.user.additionalGids.length);
    proc.user.additionalGids.forEach((g, i) => b.writeUInt32LE(g, 4 * i));
    w.bytes(Tag.ADDITIONAL_GIDS, b);
  }
  if (proc.user.umask !== undefined) w.u32(Tag.UMASK, proc.user.umask & 0o777);
  const c = proc.capabilities;
  if (c) {
    w.composite(Tag.CAPS, [
      ['u64', capabilityMask(c.bounding, `${where}/capabilities/bounding`)],
      ['u64', capabilityMask(c.effective, `${where}/capabilities/effective`)],
      ['u64', capabilityMask(c.inheritable, `${where}/capabilities/inheritable`)],
      ['u64', capabilityMask(c.permitted, `${where}/capabilities/permitted`)],
      ['u64', capabilityMask(c.ambient, `${where}/capabilities/ambient`)],
    ], [], `${where}/capabilities`);
  }
  if (proc.noNewPrivileges) w.flag(Tag.NO_NEW_PRIVS);
  const seen = new Set<string>();
  for (const [i, r] of (proc.rlimits ?? []).entries()) {
    const res = RLIMITS[r.type];
    if (res === undefined) throw invalidArgument(`${where}/rlimits/${i}/type: unknown rlimit ${JSON.stringify(r.type)}`);
    if (seen.has(r.type)) throw invalidArgument(`${where}/rlimits/${i}: ${r.type} is given twice`);
    seen.add(r.type);
    const soft = rlimitValue(r.soft), hard = rlimitValue(r.hard);
    if (soft > hard) throw invalidArgument(`${where}/rlimits/${i}: soft limit ${r.soft} is above hard limit ${r.hard}`);
    w.composite(Tag.RLIMIT, [['u32', res], ['u64', soft], ['u64', hard]], [], `${where}/rlimits`);
  }
  if (proc.oomScoreAdj !== undefined) w.i32(Tag.OOM_SCORE_ADJ, proc.oomScoreAdj);
  if (proc.ioPriority) w.u32(Tag.IOPRIO, (IOPRIO_CLASS[proc.ioPriority.class] << 13) | (proc.ioPriority.priority ?? 0));
  const sc = proc.scheduler;
  if (sc) {
    const policy = SCHED_POLICY[sc.policy];
    const rt = sc.policy === 'SCHED_FIFO' || sc.policy === 'SCHED_RR';
    if (sc.nice !== undefined && (sc.nice < -20 || sc.nice > 19)) throw invalidArgument(`${where}/scheduler/nice must be between -20 and 19`);
    if (rt && !(sc.priority && sc.priority >= 1 && sc.priority <= 99)) throw invalidArgument(`${where}/scheduler/priority must be 1..99 for ${sc.policy}`);
    if (!rt && sc.priority) throw invalidArgument(`${where}/scheduler/priority must be 0 for ${sc.policy}`);
    if (sc.policy !== 'SCHED_DEADLINE' && (sc.runtime || sc.deadline || sc.period)) throw invalidArgument(`${where}/scheduler: runtime, deadline and period are only for SCHED_DEADLINE`);
    const flags = (sc.flags ?? []).reduce((f, n) => f | SCHED_FLAG[n], 0);
    w.composite(Tag.SCHEDULER, [['u32', policy], ['u32', (sc.nice ?? 0) >>> 0], ['u32', sc.priority ?? 0], ['u64', flags],
      ['u64', sc.runtime ?? 0], ['u64', sc.deadline ?? 0], ['u64', sc.period ?? 0]], [], `${where}/scheduler`);
  }
  if (opts.exec && proc.execCPUAffinity?.initial) cpuRecord(w, Tag.CPU_AFFINITY_INITIAL, proc.execCPUAffinity.initial, `${where}/execCPUAffinity/initial`);
  if (opts.exec && proc.execCPUAffinity?.final) cpuRecord(w, Tag.CPU_AFFINITY_FINAL, proc.execCPUAffinity.final, `${where}/execCPUAffinity/final`);
  if (proc.terminal) {
    if (!opts.consoleSocket) throw invalidArgument(`${where}/terminal is true: a console socket (--console-socket) is required`);
    w.flag(Tag.TERMINAL);
    w.str(Tag.CONSOLE_SOCKET, opts.consoleSocket, 'console socket');
    if (proc.consoleSize) w.composite(Tag.CONSOLE_SIZE, [['u32', proc.consoleSize.height], ['u32', proc.consoleSize.width]], [], `${where}/consoleSize`);
  } else if (opts.consoleSocket) {
    throw invalidArgument(`a console socket was given but ${where}/terminal is false`);
  }
  if (opts.preserveFds) w.u32(Tag.PRESERVE_FDS, opts.preserveFds);
  if (opts.seccomp) {
    if (opts.seccomp.filter.length === 0 || opts.seccomp.filter.length % 8 !== 0) throw invalidArgument(`seccomp program is ${opts.seccomp.filter.length} bytes, not a whole number of struct sock_filter`);
    w.bytes(Tag.SECCOMP, opts.seccomp.filter);
    w.u32(Tag.SECCOMP_FLAGS, opts.seccomp.flags);
  }
}

function mountIsBind(m: Mount, flags: number): boolean {
  return m.type === 'bind' || (flags & MS.BIND) !== 0;
}

/** Build the create plan for a validated spec. Errors name the JSON path of the offending field. */
export function buildCreatePlan(spec: Spec, opts: CreatePlanOptions): Buffer {
  if (!spec.process) throw invalidArgument('config.json: /process is required to create a container');
  if (!spec.root) throw invalidArgument('config.json: /root is required to create a container');
  const linux = spec.linux ?? {};
  const w = new PlanWriter();
  w.u32(Tag.MODE, 1);
  const rootfs = path.resolve(opts.bundle, spec.root.path);
  w.str(Tag.ROOTFS, rootfs, 'root.path');

  let cloneFlags = 0;
  const joined = new Set<NamespaceType>();
  const seenNs = new Set<string>();
  for (const [i, ns] of (linux.namespaces ?? []).entries()) {
    if (seenNs.has(ns.type)) throw invalidArgument(`config.json: /linux/namespaces/${i}: namespace ${ns.type} is listed twice`);
    seenNs.add(ns.type);
    if (ns.path) {
      if (!path.isAbsolute(ns.path)) throw invalidArgument(`config.json: /linux/namespaces/${i}/path must be absolute`);
      joined.add(ns.type);
    } else if (ns.type !== 'cgroup' && ns.type !== 'time') {
      cloneFlags |= NAMESPACE_FLAG[ns.type];
    }
  }
  if (!seenNs.has('mount')) throw invalidArgument('config.json: /linux/namespaces must include a mount namespace (berth sets up the rootfs in it)');
  // A joined mount namespace (like runc) gets the rootfs set up and pivoted in it: whoever shares it
  // asked for that. berth-init opens every path it needs before it joins.
  // The user namespace is joined first (C orders it), then the others.
  for (const ns of linux.namespaces ?? []) if (ns.path) w.composite(Tag.SETNS, [['u32', NAMESPACE_FLAG[ns.type]]], [ns.path], `namespace ${ns.type}`);
  w.u64(Tag.CLONE_FLAGS, cloneFlags);
  if (seenNs.has('cgroup') && !joined.has('cgroup')) w.flag(Tag.UNSHARE_CGROUP);

  const newUser = (cloneFlags & CLONE.NEWUSER) !== 0;
  const inUserNs = newUser || joined.has('user');
  if (newUser) {
    if (!linux.uidMappings?.length || !linux.gidMappings?.length) throw invalidArgument('config.json: /linux/uidMappings and /linux/gidMappings are required with a new user namespace');
    w.str(Tag.UID_MAP, idMap(linux.uidMappings));
    w.str(Tag.GID_MAP, idMap(linux.gidMappings));
  } else if (linux.uidMappings?.length || linux.gidMappings?.length) {
    if (!joined.has('user')) throw invalidArgument('config.json: /linux/uidMappings needs a new user namespace in /linux/namespaces');
  }
  if (linux.timeOffsets && Object.keys(linux.timeOffsets).length) {
    if (!seenNs.has('time') || joined.has('time')) throw invalidArgument('config.json: /linux/timeOffsets needs a new time namespace in /linux/namespaces');
  }
  if (seenNs.has('time') && !joined.has('time')) {
    const lines = Object.entries(linux.timeOffsets ?? {}).map(([clock, off]) => {
      const o = off as { secs?: number; nanosecs?: number };
      if (clock !== 'monotonic' && clock !== 'boottime') throw invalidArgument(`config.json: /linux/timeOffsets/${clock}: only monotonic and boottime clocks have offsets`);
      return `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`;
    });
    w.str(Tag.TIME_OFFSETS, lines.join(''));
  }

  // Mounts, in spec order.
  let devIsBind = false;
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const where = `config.json: /mounts/${i}`;
    if (!isAbsClean(m.destination)) throw invalidArgument(`${where}/destination must be an absolute path without "..", got ${JSON.stringify(m.destination)}`);
    if (m.uidMappings || m.gidMappings) throw invalidArgument(`${where}: idmapped mounts are not supported by berth`);
    const o = parseMountOptions(m.options, where);
    const bind = mountIsBind(m, o.flags);
    const dest = path.posix.normalize(m.destination);
    if (dest === '/dev') devIsBind = bind;
    let source = m.source ?? '';
    if (bind) {
      if (!source) throw invalidArgument(`${where}/source is required for a bind mount`);
      source = path.resolve(opts.bundle, source);
    }
    const type = bind ? '' : (m.type ?? '');
    if (!bind && !type) throw invalidArgument(`${where}/type is required for a ${JSON.stringify(m.source ?? '')} mount that is not a bind mount`);
    const prop = o.propagation;
    w.composite(Tag.MOUNT,
      [['u32', bind ? MountKind.BIND : MountKind.PLAIN], ['u32', prop.length], ['u64', o.flags | (bind ? MS.BIND : 0)], ...prop.map((p) => ['u64', p] as ['u64', number])],
      [source, dest, type, o.data], where);
  }
  if (linux.rootfsPropagation) w.u64(Tag.ROOTFS_PROPAGATION, propagationFlags(linux.rootfsPropagation, 'config.json: /linux/rootfsPropagation'));
  if (spec.root.readonly) w.flag(Tag.READONLY_ROOT);
  if (opts.noPivot) w.flag(Tag.NO_PIVOT);
  for (const [i, p] of (linux.maskedPaths ?? []).entries()) {
    if (!isAbsClean(p)) throw invalidArgument(`config.json: /linux/maskedPaths/${i} must be an absolute path without ".."`);
    w.str(Tag.MASKED_PATH, p);
  }
  for (const [i, p] of (linux.readonlyPaths ?? []).entries()) {
    if (!isAbsClean(p)) throw invalidArgument(`config.json: /linux/readonlyPaths/${i} must be an absolute path without ".."`);
    w.str(Tag.READONLY_PATH, p);
  }

  // Devices and /dev symlinks: skipped when /dev is the host's, bound in (as runc).
  if (!devIsBind) {
    const listed = new Set<string>();
    for (const [i, d] of (linux.devices ?? []).entries()) {
      const where = `config.json: /linux/devices/${i}`;
      if (!isAbsClean(d.path)) throw invalidArgument(`${where}/path must be an absolute path without ".."`);
      if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) throw invalidArgument(`${where}: major and minor are required for a ${d.type} device`);
      listed.add(path.posix.normalize(d.path));
      w.composite(Tag.DEVICE, [['u32', DEVICE_TYPE[d.type]], ['u32', (d.fileMode ?? 0o666) & 0o7777], ['u32', d.major ?? 0], ['u32', d.minor ?? 0],
        ['u32', d.uid ?? 0], ['u32', d.gid ?? 0]], [d.path], where);
    }
    for (const d of DEFAULT_DEVICES) {
      if (listed.has(d.path)) continue;
      w.composite(Tag.DEVICE, [['u32', S_IFCHR], ['u32', 0o666], ['u32', d.major], ['u32', d.minor], ['u32', 0], ['u32', 0]], [d.path], 'default device');
    }
    if (inUserNs) w.flag(Tag.BIND_DEVICES);
    w.flag(Tag.DEV_SYMLINKS);
  }

  // A uts namespace joined by path counts too (runc's rule): the hostname is set in that namespace.
  const hasUts = seenNs.has('uts');
  if (spec.hostname) {
    if (!hasUts) throw invalidArgument('config.json: /hostname needs a uts namespace in /linux/namespaces');
    w.str(Tag.HOSTNAME, spec.hostname, 'hostname');
  }
  if (spec.domainname) {
    if (!hasUts) throw invalidArgument('config.json: /domainname needs a uts namespace in /linux/namespaces');
    w.str(Tag.DOMAINNAME, spec.domainname, 'domainname');
  }
  for (const [k, v] of Object.entries(linux.sysctl ?? {})) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/.test(k) || k.split(/[./]/).includes('..')) throw invalidArgument(`config.json: /linux/sysctl: invalid key ${JSON.stringify(k)}`);
    if (k.startsWith('net.') && !(cloneFlags & CLONE.NEWNET) && !joined.has('network')) throw invalidArgument(`config.json: /linux/sysctl/${k} needs a network namespace`);
    if ((k.startsWith('kernel.msg') || k.startsWith('kernel.sem') || k.startsWith('kernel.shm') || k.startsWith('fs.mqueue.')) && !(cloneFlags & CLONE.NEWIPC) && !joined.has('ipc')) throw invalidArgument(`config.json: /linux/sysctl/${k} needs an ipc namespace`);
    w.composite(Tag.SYSCTL, [], [k, v], `sysctl ${k}`);
  }
  if (linux.personality) w.u32(Tag.PERSONALITY, linux.personality.domain === 'LINUX32' ? 0x0008 : 0);

  writeProcess(w, spec.process, 'config.json: /process', opts);
  w.str(Tag.EXEC_FIFO, path.join(opts.stateDir, 'exec.fifo'), 'exec fifo');
  for (const [i, h] of (spec.hooks?.createContainer ?? []).entries()) writeHook(w, Tag.HOOK_CREATE_CONTAINER, h, `config.json: /hooks/createContainer/${i}`);
  for (const [i, h] of (spec.hooks?.startContainer ?? []).entries()) writeHook(w, Tag.HOOK_START_CONTAINER, h, `config.json: /hooks/startContainer/${i}`);
  if (!opts.noNewKeyring) w.flag(Tag.NEW_KEYRING);
  return w.finish();
}

/** Build the exec plan: join the namespaces of the running container `containerPid` and run `process`. */
export function buildExecPlan(spec: Spec, proc: Process, opts: ExecPlanOptions): Buffer {
  const w = new PlanWriter();
  w.u32(Tag.MODE, 2);
  w.u32(Tag.JOIN_PID, opts.containerPid);
  // Join every namespace the container has, through its init: the paths in the spec may be gone.
  for (const ns of spec.linux?.namespaces ?? []) {
    w.composite(Tag.SETNS, [['u32', NAMESPACE_FLAG[ns.type]]], [`/proc/${opts.containerPid}/ns/${NAMESPACE_FILE[ns.type]}`], `namespace ${ns.type}`);
  }
  if (opts.detach) w.flag(Tag.DETACH);
  writeProcess(w, proc, 'process', { ...opts, exec: true });
  return w.finish();
}
