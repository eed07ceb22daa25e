// The container service's view -> Docker's JSON: the list entry (GET /containers/json) and the
// inspect document (GET /containers/{id}/json), shaped as the docker CLI and SDKs read them.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerView } from '../engine/service.js';
import type { Backend } from './backend.js';
import { exitCodeOf } from './backend.js';
import { unixSeconds } from './http-util.js';
import type { ContainerConfigBody, HostConfig } from './container-create.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

interface SpecProcess { args?: string[]; env?: string[]; cwd?: string; terminal?: boolean }
interface SpecMount { destination: string; type?: string; source?: string; options?: string[] }

function bundleSpec(v: ContainerView): { process?: SpecProcess; mounts?: SpecMount[]; hostname?: string } {
  try { return JSON.parse(fs.readFileSync(path.join(v.record.bundle, 'config.json'), 'utf8')); } catch { return {}; }
}

/** docker's units.HumanDuration */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

function statusText(v: ContainerView): string {
  const now = Date.now();
  switch (v.status) {
    case 'created': return 'Created';
    case 'running': return `Up ${humanDuration(now - Date.parse(v.record.startedAt ?? v.record.created))}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(v.record.startedAt ?? v.record.created))} (Paused)`;
    case 'restarting': return v.exit ? `Restarting (${exitCodeOf(v.exit)}) ${humanDuration(now - Date.parse(v.exit.exitedAt))} ago` : 'Restarting';
    default: return v.exit ? `Exited (${exitCodeOf(v.exit)}) ${humanDuration(now - Date.parse(v.exit.exitedAt))} ago` : 'Exited';
  }
}

function mountsOf(v: ContainerView, volumesDir: string) {
  const spec = bundleSpec(v);
  return (spec.mounts ?? []).filter((m) => m.type === 'bind' && m.source && !m.source.startsWith(v.record.bundle) || m.type === 'tmpfs' && !['/dev', '/dev/shm', '/run'].includes(m.destination) && !m.destination.startsWith('/dev/'))
    .map((m) => {
      const rw = !(m.options ?? []).includes('ro');
      if (m.type === 'tmpfs') return { Type: 'tmpfs', Source: '', Destination: m.destination, Mode: '', RW: rw, Propagation: '' };
      const named = m.source!.startsWith(volumesDir + '/');
      return named
        ? { Type: 'volume', Name: m.source!.slice(volumesDir.length + 1).split('/')[0], Source: m.source!, Destination: m.destination, Driver: 'local', Mode: 'z', RW: rw, Propagation: '' }
        : { Type: 'bind', Source: m.source!, Destination: m.destination, Mode: '', RW: rw, Propagation: 'rprivate' };
    });
}

function networkMode(hc: HostConfig | undefined, v: ContainerView): string {
  return hc?.NetworkMode || String((v.record.options as { network?: string } | undefined)?.network ?? 'none');
}

/**
 * Docker's NetworkSettings: the address the container's CNI bridge network gave it (engine/network's
 * record), under Networks.bridge; a none or host container is listed under that network, addressless.
 */
function networkSettings(b: Backend, v: ContainerView, hc: HostConfig | undefined) {
  const r = v.record;
  const endpoint = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DriverOpts: null, DNSNames: null };
  if (r.network !== 'bridge') {
    const mode = networkMode(hc, v);
    return { top: { Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '', SandboxKey: '' }, networks: { [mode === 'host' ? 'host' : 'none']: { ...endpoint, NetworkID: mode } } };
  }
  let ep = { ...endpoint, NetworkID: 'bridge', IPAddress: r.ip ?? '' };
  let sandboxKey = '';
  try {
    const s = b.engine.network().networkStatus(r.id);
    const v4 = s.ips.find((x) => x.version === 4) ?? s.ips[0];
    ep = { ...ep, IPAddress: v4?.address ?? ep.IPAddress, IPPrefixLen: v4?.prefixLength ?? 0, Gateway: v4?.gateway ?? s.gateway ?? '', MacAddress: s.interface.mac ?? '' };
    sandboxKey = s.netnsPath;
  } catch { /* torn down meanwhile: the record's address is all there is */ }
  return { top: { Gateway: ep.Gateway, IPAddress: ep.IPAddress, IPPrefixLen: ep.IPPrefixLen, MacAddress: ep.MacAddress, SandboxKey: sandboxKey }, networks: { bridge: ep } };
}

export function listEntry(b: Backend, v: ContainerView) {
  const r = v.record;
  const args = bundleSpec(v).process?.args ?? [];
  const req = b.request(r.id);
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: r.image,
    ImageID: r.imageId ?? '',
    Command: args.join(' '),
    Created: unixSeconds(r.created),
    Ports: [],
    Labels: r.labels ?? {},
    State: v.status,
    Status: statusText(v),
    HostConfig: { NetworkMode: networkMode(req?.HostConfig, v) },
    NetworkSettings: { Networks: networkSettings(b, v, req?.HostConfig).networks },
    Mounts: mountsOf(v, b.engine.layout.volumes),
  };
}

export function inspectDoc(b: Backend, v: ContainerView & { logPath: string }) {
  const r = v.record;
  const spec = bundleSpec(v);
  const req: ContainerConfigBody = b.request(r.id) ?? {};
  const opts = (r.options ?? {}) as Record<string, unknown>;
  const args = spec.process?.args ?? [];
  const running = v.status === 'running' || v.status === 'paused';
  // dockerd keeps Running true while a restart policy is about to start the container again
  const restarting = v.status === 'restarting';
  const dir = b.engine.layout.containerDir(r.id);
  const hc = req.HostConfig ?? {};
  return {
    Id: r.id,
    Created: r.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: v.status,
      Running: running || restarting,
      Paused: v.status === 'paused',
      Restarting: restarting,
      OOMKilled: Boolean(v.exit?.oomKilled),
      Dead: v.status === 'dead',
      Pid: running ? v.pid ?? 0 : 0,
      ExitCode: v.exit ? exitCodeOf(v.exit) : 0,
      Error: v.exit?.error ?? '',
      StartedAt: r.startedAt ?? ZERO_TIME,
      FinishedAt: v.exit && !running ? v.exit.exitedAt : ZERO_TIME,
    },
    Image: r.imageId ?? '',
    ResolvConfPath: path.join(dir, 'resolv.conf'),
    HostnamePath: path.join(dir, 'hostname'),
    HostsPath: path.join(dir, 'hosts'),
    LogPath: v.logPath,
    Name: `/${r.name}`,
    RestartCount: v.restartCount ?? 0,
    Driver: r.snapshotKey ? 'overlay' : 'rootfs',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: b.execIdsOf(r.id),
    HostConfig: {
      Binds: hc.Binds ?? null,
      NetworkMode: networkMode(hc, v),
      PortBindings: hc.PortBindings ?? {},
      RestartPolicy: { Name: r.restartPolicy ?? 'no', MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0 },
      AutoRemove: Boolean(r.autoRemove),
      CapAdd: (opts.capAdd as string[] | undefined) ?? null,
      CapDrop: (opts.capDrop as string[] | undefined) ?? null,
      Privileged: Boolean(opts.privileged),
      ReadonlyRootfs: Boolean(opts.readonlyRootfs),
      SecurityOpt: hc.SecurityOpt ?? null,
      Tmpfs: hc.Tmpfs ?? undefined,
      Memory: (opts.memory as number | undefined) ?? 0,
      MemorySwap: (opts.memorySwap as number | undefined) ?? 0,
      NanoCpus: opts.cpus ? Math.round((opts.cpus as number) * 1e9) : 0,
      CpuShares: (opts.cpuShares as number | undefined) ?? 0,
      PidsLimit: (opts.pidsLimit as number | undefined) ?? null,
      ShmSize: (opts.shmSize as number | undefined) ?? 67108864,
      Mounts: hc.Mounts ?? undefined,
      ConsoleSize: hc.ConsoleSize ?? [0, 0],
      LogConfig: { Type: 'json-file', Config: {} },
      IpcMode: hc.IpcMode || 'private',
      PidMode: hc.PidMode || '',
      Runtime: 'berth',
    },
    GraphDriver: { Name: 'overlay', Data: r.snapshotKey ? { MergedDir: r.rootfs } : { RootDir: r.rootfs } },
    Mounts: mountsOf(v, b.engine.layout.volumes),
    Config: {
      Hostname: spec.hostname ?? '',
      Domainname: '',
      User: req.User ?? (opts.user as string | undefined) ?? '',
      AttachStdin: Boolean(req.AttachStdin),
      AttachStdout: req.AttachStdout ?? true,
      AttachStderr: req.AttachStderr ?? true,
      Tty: Boolean(r.tty),
      OpenStdin: Boolean(r.stdin),
      StdinOnce: Boolean(req.StdinOnce),
      Env: spec.process?.env ?? [],
      Cmd: (opts.command as string[] | undefined) ?? null,
      Image: r.image,
      Volumes: null,
      WorkingDir: spec.process?.cwd ?? '',
      Entrypoint: (opts.entrypoint as string[] | undefined) ?? null,
      OnBuild: null,
      Labels: r.labels ?? {},
      StopSignal: r.stopSignal ?? 'SIGTERM',
      StopTimeout: r.stopTimeout,
    },
    NetworkSettings: (() => {
      const n = networkSettings(b, v, hc);
      return { Bridge: '', SandboxID: '', Ports: hc.PortBindings ?? {}, HairpinMode: false, ...n.top, Networks: n.networks };
    })(),
  };
}
