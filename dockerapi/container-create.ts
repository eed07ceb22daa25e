// POST /containers/create: Docker's Config + HostConfig -> the container service's CreateRequest.
// Only translation happens here; every decision about the container is the engine's.
import fs from 'node:fs';
import { invalidArgument } from '../lib/errors.js';
import type { CreateRequest } from '../engine/service.js';

export interface DockerMount {
  Type?: string; Source?: string; Target?: string; ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
  BindOptions?: { Propagation?: string };
}

export interface HostConfig {
  Binds?: string[] | null; Mounts?: DockerMount[] | null; Tmpfs?: Record<string, string> | null;
  Memory?: number; MemorySwap?: number; NanoCpus?: number; CpuShares?: number; PidsLimit?: number | null;
  ReadonlyRootfs?: boolean; CapAdd?: string[] | null; CapDrop?: string[] | null; Privileged?: boolean;
  NetworkMode?: string; RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
  AutoRemove?: boolean; SecurityOpt?: string[] | null; ShmSize?: number; Sysctls?: Record<string, string> | null;
  GroupAdd?: string[] | null; PortBindings?: Record<string, unknown> | null; ConsoleSize?: [number, number] | null;
  IpcMode?: string; PidMode?: string; UTSMode?: string;
  [k: string]: unknown;
}

export interface ContainerConfigBody {
  Hostname?: string; User?: string; AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean;
  Tty?: boolean; OpenStdin?: boolean; StdinOnce?: boolean; Env?: string[] | null; Cmd?: string[] | string | null;
  Image?: string; WorkingDir?: string; Entrypoint?: string[] | string | null; Labels?: Record<string, string> | null;
  StopSignal?: string; StopTimeout?: number | null;
  HostConfig?: HostConfig;
  [k: string]: unknown;
}

const list = (v: string[] | string | null | undefined): string[] | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? [v] : v;

function parseBind(spec: string): { source: string; destination: string; readonly: boolean; named: boolean; options?: string[] } {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalidArgument(`invalid bind ${JSON.stringify(spec)}: expected source:destination[:options]`);
  const [source, destination, opts = ''] = parts;
  const flags = opts ? opts.split(',') : [];
  const propagation = flags.filter((f) => /^r?(private|shared|slave)$/.test(f));
  for (const f of flags) {
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', ...propagation].includes(f)) throw invalidArgument(`invalid bind option ${JSON.stringify(f)} in ${JSON.stringify(spec)}`);
  }
  return { source, destination, readonly: flags.includes('ro'), named: !source.startsWith('/'), ...(propagation.length ? { options: propagation } : {}) };
}

function tmpfsOptions(opts: string): string[] {
  const base = ['nosuid', 'nodev', 'noexec'];
  const extra = opts ? opts.split(',').filter(Boolean) : [];
  return [...base.filter((b) => !extra.some((e) => e === b.replace(/^no/, '') || e === b)), ...extra];
}

function namespaceMode(v: string | undefined, what: string): 'host' | undefined {
  if (!v || v === 'private' || v === 'shareable') return undefined;
  if (v === 'host') return 'host';
  throw invalidArgument(`${what} ${JSON.stringify(v)} is not supported (private or host)`);
}

export function toCreateRequest(body: ContainerConfigBody, name: string | undefined): CreateRequest {
  if (!body.Image) throw invalidArgument('Config.Image is required');
  const hc = body.HostConfig ?? {};
  const binds: NonNullable<CreateRequest['binds']> = [];
  const volumes: NonNullable<CreateRequest['volumes']> = [];
  const tmpfs: NonNullable<CreateRequest['tmpfs']> = [];
  for (const b of hc.Binds ?? []) {
    const p = parseBind(b);
    if (p.named) volumes.push({ name: p.source, destination: p.destination, readonly: p.readonly });
    else {
      if (!fs.existsSync(p.source)) fs.mkdirSync(p.source, { recursive: true }); // what dockerd does for -v /missing:/x
      binds.push({ source: p.source, destination: p.destination, readonly: p.readonly, ...(p.options ? { options: p.options } : {}) });
    }
  }
  for (const m of hc.Mounts ?? []) {
    if (!m.Target) throw invalidArgument('mount: Target is required');
    const type = m.Type ?? 'volume';
    if (type === 'bind') {
      if (!m.Source || !fs.existsSync(m.Source)) throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.Source ?? ''}`);
      binds.push({ source: m.Source, destination: m.Target, readonly: Boolean(m.ReadOnly), ...(m.BindOptions?.Propagation ? { options: [m.BindOptions.Propagation] } : {}) });
    } else if (type === 'volume') {
      if (!m.Source) throw invalidArgument('anonymous volumes are not supported yet: give the volume a name');
      volumes.push({ name: m.Source, destination: m.Target, readonly: Boolean(m.ReadOnly) });
    } else if (type === 'tmpfs') {
      const o: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) o.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) o.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      tmpfs.push({ destination: m.Target, options: tmpfsOptions(o.join(',')) });
    } else throw invalidArgument(`mount type ${JSON.stringify(type)} is not supported (bind, volume, tmpfs)`);
  }
  for (const [dst, opts] of Object.entries(hc.Tmpfs ?? {})) tmpfs.push({ destination: dst, options: tmpfsOptions(opts) });

  const mode = hc.NetworkMode || 'default';
  if (!['host', 'none', 'default', 'bridge'].includes(mode)) throw invalidArgument(`network mode ${JSON.stringify(mode)} is not supported (none, host, bridge)`);
  // As with dockerd, "default" and "bridge" (what the docker CLI sends unless told otherwise) put the
  // container on a bridge network: a CNI network of its own (engine/network), with an address.
  const publish = publishedPorts(hc.PortBindings);
  const network: 'none' | 'host' | 'bridge' = mode === 'host' || mode === 'none' ? mode : 'bridge';
  if (publish.length && network !== 'bridge') throw invalidArgument(`publishing ports needs the bridge network, not ${mode}`);

  let seccompProfile: CreateRequest['seccompProfile'] = 'default';
  let noNewPrivileges = false;
  for (const s of hc.SecurityOpt ?? []) {
    if (/^no-new-privileges([:=]true)?$/.test(s)) noNewPrivileges = true;
    else if (/^no-new-privileges[:=]false$/.test(s)) noNewPrivileges = false;
    else if (s === 'seccomp=unconfined' || s === 'seccomp:unconfined') seccompProfile = 'unconfined';
    else throw invalidArgument(`security option ${JSON.stringify(s.length > 60 ? s.slice(0, 60) + '...' : s)} is not supported (seccomp=unconfined, no-new-privileges)`);
  }

  const policy = hc.RestartPolicy?.Name || 'no';
  if (!['no', 'on-failure', 'always', 'unless-stopped'].includes(policy)) throw invalidArgument(`invalid restart policy ${JSON.stringify(policy)}`);
  if (hc.AutoRemove && policy !== 'no') throw invalidArgument('conflicting options: cannot specify both --restart and --rm');
  let entrypoint = list(body.Entrypoint);
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const cmd = list(body.Cmd);
  const pos = (n: number | null | undefined) => (n && n > 0 ? n : undefined);
  return {
    image: body.Image, name, pull: 'never',
    command: cmd && cmd.length ? cmd : undefined, entrypoint,
    env: body.Env ?? undefined, workdir: body.WorkingDir || undefined, user: body.User || undefined,
    groupAdd: hc.GroupAdd ?? undefined, hostname: body.Hostname || undefined,
    tty: Boolean(body.Tty), stdin: Boolean(body.OpenStdin),
    readonlyRootfs: Boolean(hc.ReadonlyRootfs), capAdd: hc.CapAdd ?? undefined, capDrop: hc.CapDrop ?? undefined,
    privileged: Boolean(hc.Privileged), noNewPrivileges, seccompProfile, binds, volumes, tmpfs,
    memory: pos(hc.Memory), memorySwap: hc.MemorySwap === -1 ? -1 : pos(hc.MemorySwap),
    cpus: hc.NanoCpus ? hc.NanoCpus / 1e9 : undefined, cpuShares: pos(hc.CpuShares), pidsLimit: pos(hc.PidsLimit),
    shmSize: pos(hc.ShmSize), sysctls: hc.Sysctls ?? undefined, network, publish,
    ipc: namespaceMode(hc.IpcMode, 'IpcMode'), pid: namespaceMode(hc.PidMode, 'PidMode'), uts: namespaceMode(hc.UTSMode, 'UTSMode'),
    labels: body.Labels ?? undefined, autoRemove: Boolean(hc.AutoRemove),
    restartPolicy: policy as CreateRequest['restartPolicy'],
    ...(policy === 'on-failure' && pos(hc.RestartPolicy?.MaximumRetryCount) ? { restartMaxRetries: hc.RestartPolicy!.MaximumRetryCount } : {}),
    stopSignal: body.StopSignal || undefined, stopTimeout: body.StopTimeout ?? undefined,
  };
}

/** HostConfig.PortBindings {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} -> engine port mappings. */
export function publishedPorts(bindings: Record<string, unknown> | null | undefined): { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[] {
  const out: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    if (!Array.isArray(list)) continue;
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(key);
    if (!m) throw invalidArgument(`invalid port ${JSON.stringify(key)} in PortBindings`);
    for (const b of list as { HostIp?: string; HostPort?: string }[]) {
      const hostPort = Number(b?.HostPort || m[1]);
      if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw invalidArgument(`invalid host port ${JSON.stringify(b?.HostPort)} for ${key}`);
      out.push({ hostPort, containerPort: Number(m[1]), protocol: m[2] ?? 'tcp', ...(b?.HostIp && b.HostIp !== '0.0.0.0' ? { hostIP: b.HostIp } : {}) });
    }
  }
  return out;
}
