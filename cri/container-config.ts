// CRI ContainerConfig (+ the sandbox it joins) -> the container service's CreateRequest.
// Pure translation: every CRI field either maps onto an option the CLI shares, or is refused or
// ignored with a reason.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../lib/errors.js';
import type { CreateRequest } from '../engine/service.js';
import type { BindMount } from '../engine/build-spec.js';
import type { LinuxResources } from '../runtime/spec/resources-schema.js';
import type { Msg } from './grpc-status.js';
import { apparmorEnabled, nsMode, type SandboxView } from './sandboxes.js';

export interface SandboxJoin {
  view: SandboxView;
  filesDir: string;
  ns: (ns: 'net' | 'ipc' | 'uts' | 'pid') => string;
  /** The pid namespace of another container (namespace_options.pid = TARGET). */
  targetPidNs?: (containerId: string) => string;
}

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

/** CRI's Signal enum names SIGNAL_SIGxxx; the service takes SIGxxx. */
export function stopSignalName(s: string | undefined): string | undefined {
  if (!s || s === 'SIGNAL_RUNTIME_DEFAULT') return undefined;
  return s.replace(/^SIGNAL_/, '').replace('RTMINPLUS', 'RTMIN+').replace('RTMAXMINUS', 'RTMAX-');
}

export function seccompFor(sc: Msg): CreateRequest['seccompProfile'] {
  const prof = sc?.seccomp;
  let kind: string | undefined;
  let ref = '';
  if (prof) { kind = prof.profile_type; ref = prof.localhost_ref ?? ''; }
  else if (sc?.seccomp_profile_path) {
    const p = String(sc.seccomp_profile_path);
    if (p === 'runtime/default' || p === 'docker/default') kind = 'RuntimeDefault';
    else if (p === 'unconfined') kind = 'Unconfined';
    else if (p.startsWith('localhost/')) { kind = 'Localhost'; ref = p.slice('localhost/'.length); }
    else throw invalidArgument(`seccomp profile path ${JSON.stringify(p)} is not runtime/default, unconfined or localhost/<path>`);
  }
  // No profile at all: unconfined, as the kubelet's own default (seccompDefault off) means.
  if (!kind || kind === 'Unconfined') return 'unconfined';
  if (kind === 'RuntimeDefault') return 'default';
  if (!path.isAbsolute(ref)) throw invalidArgument(`localhost seccomp profile ${JSON.stringify(ref)} must be an absolute path`);
  let doc: Msg;
  try { doc = JSON.parse(fs.readFileSync(ref, 'utf8')); } catch (e) {
    throw invalidArgument(`localhost seccomp profile ${ref} cannot be read: ${(e as Error).message}`);
  }
  if (!doc || typeof doc.defaultAction !== 'string') throw invalidArgument(`localhost seccomp profile ${ref} has no defaultAction`);
  // Docker's profile format is the runtime-spec's plus fields the runtime does not take.
  const out: Msg = { defaultAction: doc.defaultAction };
  if (doc.defaultErrnoRet !== undefined) out.defaultErrnoRet = doc.defaultErrnoRet;
  if (Array.isArray(doc.architectures)) out.architectures = doc.architectures;
  if (Array.isArray(doc.flags)) out.flags = doc.flags;
  if (Array.isArray(doc.syscalls)) {
    out.syscalls = doc.syscalls.map((s: Msg) => ({
      names: s.names ?? (s.name ? [s.name] : []), action: s.action,
      ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args ? { args: s.args } : {}),
    }));
  }
  return out;
}

function userFor(sc: Msg): string | undefined {
  const uid = sc?.run_as_user ? String(sc.run_as_user.value) : undefined;
  const gid = sc?.run_as_group ? String(sc.run_as_group.value) : undefined;
  const name = sc?.run_as_username || undefined;
  if (gid !== undefined && uid === undefined && !name) throw invalidArgument('run_as_group needs run_as_user or run_as_username');
  const who = uid ?? name;
  if (who === undefined) return undefined;
  return gid !== undefined ? `${who}:${gid}` : who;
}

export function translateContainer(config: Msg, sb: SandboxJoin, ids: { cgroupLeaf: string }): { req: CreateRequest; notes: string[] } {
  const notes: string[] = [];
  const md = config?.metadata;
  if (!md?.name) throw invalidArgument('container config needs metadata with a name');
  const image = config.image?.image;
  if (!image) throw invalidArgument('container config needs an image');
  const linux = config.linux ?? {};
  const sc = linux.security_context ?? {};
  const res = linux.resources ?? {};
  const nso = sc.namespace_options ?? {};
  const sbNs = sb.view.record.namespaces;

  if (sc.apparmor?.profile_type === 'Localhost' || (sc.apparmor_profile && sc.apparmor_profile !== 'unconfined' && sc.apparmor_profile !== 'runtime/default')) {
    if (!apparmorEnabled()) throw invalidArgument('an AppArmor profile was requested but AppArmor is not enabled on this host');
    notes.push('AppArmor profiles are not applied by berth');
  }
  if (sc.selinux_options && Object.values(sc.selinux_options).some(Boolean)) notes.push('SELinux options ignored: SELinux is not supported');
  if ((config.devices ?? []).length) throw invalidArgument('CRI devices are not supported by berth yet');

  const binds: BindMount[] = [];
  for (const m of config.mounts ?? []) {
    if (!m.container_path || !m.host_path) throw invalidArgument('a mount needs container_path and host_path');
    if (m.selinux_relabel) notes.push(`SELinux relabel of ${m.host_path} ignored: SELinux is not supported`);
    // As containerd does: a missing host path becomes a directory.
    if (!fs.existsSync(m.host_path)) fs.mkdirSync(m.host_path, { recursive: true, mode: 0o755 });
    binds.push({ source: m.host_path, destination: m.container_path, readonly: Boolean(m.readonly), options: [PROPAGATION[m.propagation] ?? 'rprivate'] });
  }
  // The pod's files win over the image's (unless the kubelet mounts its own, which comes later).
  const podFiles: BindMount[] = [
    { source: path.join(sb.filesDir, 'hosts'), destination: '/etc/hosts' },
    { source: path.join(sb.filesDir, 'resolv.conf'), destination: '/etc/resolv.conf' },
    { source: path.join(sb.filesDir, 'hostname'), destination: '/etc/hostname' },
  ].filter((f) => !binds.some((b) => path.posix.normalize(b.destination) === f.destination));

  const netMode = nsMode(nso.network, sbNs.network);
  const pidMode = nso.pid === 'TARGET' ? 'target' : nsMode(nso.pid, 'container');
  const ipcMode = nsMode(nso.ipc, sbNs.ipc);
  const pid: CreateRequest['pid'] = pidMode === 'node' ? 'host'
    : pidMode === 'pod' ? { path: sb.ns('pid') }
    : pidMode === 'target' ? { path: sb.targetPidNs!(nso.target_id) } : 'private';

  const cpuQuota = Number(res.cpu_quota ?? 0);
  const cpuPeriod = Number(res.cpu_period ?? 0) || 100_000;
  const req: CreateRequest = {
    image,
    pull: 'never',
    ...(config.command?.length ? { entrypoint: config.command, command: config.args ?? [] } : config.args?.length ? { command: config.args } : {}),
    ...(config.working_dir ? { workdir: config.working_dir } : {}),
    env: (config.envs ?? []).map((kv: Msg) => `${kv.key}=${Buffer.isBuffer(kv.value) ? kv.value.toString('utf8') : String(kv.value ?? '')}`),
    user: userFor(sc),
    groupAdd: (sc.supplemental_groups ?? []).map((g: Msg) => String(g)),
    hostname: sb.view.record.hostname,
    tty: Boolean(config.tty),
    stdin: Boolean(config.stdin),
    // As containerd: a terminal's stdin stays open when its client leaves, so `kubectl attach -it`
    // can come back; without a terminal, stdin_once decides.
    stdinOnce: Boolean(config.stdin) && Boolean(config.stdin_once) && !config.tty,
    readonlyRootfs: Boolean(sc.readonly_rootfs),
    privileged: Boolean(sc.privileged),
    capAdd: sc.capabilities?.add_capabilities ?? [],
    capDrop: sc.capabilities?.drop_capabilities ?? [],
    noNewPrivileges: Boolean(sc.no_new_privs),
    seccompProfile: sc.privileged ? 'unconfined' : seccompFor(sc),
    binds: [...podFiles, ...binds],
    network: netMode === 'node' ? 'host' : { netnsPath: sb.ns('net') },
    uts: netMode === 'node' ? 'host' : { path: sb.ns('uts') },
    ipc: ipcMode === 'node' ? 'host' : ipcMode === 'pod' ? { path: sb.ns('ipc') } : 'private',
    pid,
    cgroupsPath: `${sb.view.record.cgroupParent}/${ids.cgroupLeaf}`,
    labels: { ...(config.labels ?? {}) },
    annotations: { ...(config.annotations ?? {}), 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': sb.view.record.id },
    ...(Number(res.memory_limit_in_bytes) > 0 ? { memory: Number(res.memory_limit_in_bytes) } : {}),
    ...(Number(res.memory_swap_limit_in_bytes) > 0 ? { memorySwap: Number(res.memory_swap_limit_in_bytes) } : {}),
    ...(cpuQuota > 0 ? { cpus: cpuQuota / cpuPeriod } : {}),
    ...(Number(res.cpu_shares) > 0 ? { cpuShares: Number(res.cpu_shares) } : {}),
    ...(stopSignalName(config.stop_signal) ? { stopSignal: stopSignalName(config.stop_signal) } : {}),
  };
  // The kubelet always sends both lists (empty for procMount Unmasked); absent means berth's defaults.
  if (sc.masked_paths?.length) req.maskedPaths = sc.masked_paths;
  if (sc.readonly_paths?.length) req.readonlyPaths = sc.readonly_paths;
  return { req, notes };
}

/**
 * CRI LinuxContainerResources (UpdateContainerResources) -> the runtime-spec's resources. CRI's zero
 * values mean "not set" (proto3 has no absence), so they change nothing; oom_score_adj belongs to the
 * process, not to a cgroup, and cannot change on a running container.
 */
export function linuxResourcesFromCri(res: Msg): LinuxResources {
  const n = (v: unknown) => Number(v ?? 0);
  const cpu: Record<string, unknown> = {};
  if (n(res?.cpu_period) > 0) cpu.period = n(res.cpu_period);
  if (n(res?.cpu_quota) !== 0) cpu.quota = n(res.cpu_quota);
  if (n(res?.cpu_shares) > 0) cpu.shares = n(res.cpu_shares);
  if (res?.cpuset_cpus) cpu.cpus = String(res.cpuset_cpus);
  if (res?.cpuset_mems) cpu.mems = String(res.cpuset_mems);
  const memory: Record<string, unknown> = {};
  if (n(res?.memory_limit_in_bytes) > 0) memory.limit = n(res.memory_limit_in_bytes);
  if (n(res?.memory_swap_limit_in_bytes) !== 0) memory.swap = n(res.memory_swap_limit_in_bytes);
  const out: Record<string, unknown> = {};
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (Object.keys(memory).length) out.memory = memory;
  const huge = (res?.hugepage_limits ?? []).filter((h: Msg) => h?.page_size);
  if (huge.length) out.hugepageLimits = huge.map((h: Msg) => ({ pageSize: String(h.page_size), limit: n(h.limit) }));
  if (res?.unified && Object.keys(res.unified).length) out.unified = { ...res.unified };
  return out as LinuxResources;
}


/**
 * The inverse, for ContainerStatus.resources: the container's limits as last set, read from its
 * bundle's config.json (which UpdateContainerResources rewrites), as containerd reports them.
 */
export function criResourcesFromSpec(spec: { process?: { oomScoreAdj?: number }; linux?: { resources?: LinuxResources } }): Msg {
  const r = (spec.linux?.resources ?? {}) as Msg;
  const linux: Msg = {
    cpu_period: r.cpu?.period ?? 0, cpu_quota: r.cpu?.quota ?? 0, cpu_shares: r.cpu?.shares ?? 0,
    cpuset_cpus: r.cpu?.cpus ?? '', cpuset_mems: r.cpu?.mems ?? '',
    memory_limit_in_bytes: r.memory?.limit ?? 0, memory_swap_limit_in_bytes: r.memory?.swap ?? 0,
    oom_score_adj: spec.process?.oomScoreAdj ?? 0,
    hugepage_limits: (r.hugepageLimits ?? []).map((h: Msg) => ({ page_size: h.pageSize, limit: h.limit })),
    unified: { ...(r.unified ?? {}) },
  };
  return { linux };
}
