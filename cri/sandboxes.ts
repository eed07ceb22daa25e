// Pod sandboxes: a berth-pause process holding the pod's ipc/uts/net namespaces (net from CNI),
// a pod cgroup parent, and the pod's /etc/hosts, /etc/resolv.conf and hostname. The pause process is
// an ordinary container of the container service (rootfs = a shared directory holding only the pause
// binary), so its state, monitor and cleanup are the container service's.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, invalidArgument, isBerthError } from '../lib/errors.js';
import type { ContainerService } from '../engine/service.js';
import type { NetworkManager, NetworkSetup } from '../engine/network/index.js';
import { hostsFile, resolvConf } from '../engine/etc-files.js';
import { CriRecords, sandboxKey, type SandboxRecord } from './records.js';
import { podCgroupParent, removePodCgroup } from './pod-cgroup.js';
import { seccompFor } from './container-config.js';
import { nowNs } from './timestamps.js';
import { opTimer } from '../lib/op-timer.js';
import { pauseRootfs } from './pause-rootfs.js';
import type { Msg } from './grpc-status.js';

export type NsMode = 'pod' | 'container' | 'node';
const NS_MODES: Record<string, NsMode> = { POD: 'pod', CONTAINER: 'container', NODE: 'node', TARGET: 'container' };
export const nsMode = (m: string | undefined, dflt: NsMode): NsMode => (m ? NS_MODES[m] ?? dflt : dflt);

export interface SandboxView {
  record: SandboxRecord;
  ready: boolean;
  pausePid?: number;
}

const PAUSE_STOP_TIMEOUT_S = 5;

export class Sandboxes {
  constructor(readonly svc: ContainerService, readonly records: CriRecords, readonly net: NetworkManager) {}

  view(r: SandboxRecord): SandboxView {
    if (!r.pauseId || r.stopped) return { record: r, ready: false };
    try {
      const v = this.svc.view(this.svc.resolve(r.pauseId));
      return { record: r, ready: v.status === 'running', pausePid: v.pid };
    } catch (e) {
      if (isBerthError(e, 'NOT_FOUND')) return { record: r, ready: false };
      throw e;
    }
  }

  get(idOrPrefix: string): SandboxView {
    return this.view(this.records.sandboxes.get(this.records.sandboxes.resolve(idOrPrefix)));
  }

  list(): SandboxView[] {
    return this.records.sandboxes.list().map((r) => this.view(r));
  }

  /** The namespace files of a ready sandbox's pause process, for containers joining the pod. */
  nsPath(v: SandboxView, ns: 'net' | 'ipc' | 'uts' | 'pid'): string {
    if (!v.ready || !v.pausePid) throw failedPrecondition(`pod sandbox ${v.record.id} is not ready: its pause process is not running`);
    return `/proc/${v.pausePid}/ns/${ns}`;
  }

  /** The directory holding the pod's hosts, resolv.conf and hostname files. */
  filesDir(id: string): string { return this.records.sandboxDir(id); }

  async run(config: Msg, runtimeHandler: string): Promise<string> {
    // the pause's cgroup join comes ~10 ms from now: the grace period it would wait for starts here
    this.svc.expectCgroupJoins();
    const md = config?.metadata;
    if (!md?.name || !md?.namespace) throw invalidArgument('pod sandbox config needs metadata with a name and a namespace');
    if (runtimeHandler && runtimeHandler !== 'berth' && runtimeHandler !== 'runc') {
      throw invalidArgument(`runtime handler ${JSON.stringify(runtimeHandler)} is not configured (berth has "berth" and the default "")`);
    }
    const attempt = Number(md.attempt ?? 0);
    // The kubelet retries RunPodSandbox after a timeout: the same name+attempt must not make a second pod.
    const exists = (holder: string) => new BerthError('ALREADY_EXISTS', `pod sandbox ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${attempt}) already exists as ${holder}`);
    const metadata = { name: md.name, uid: md.uid ?? '', namespace: md.namespace, attempt };
    const earlier = this.records.sandboxes.byKey(sandboxKey({ metadata }));
    if (earlier) throw exists(earlier);
    const linux = config.linux ?? {};
    const sc = linux.security_context ?? {};
    const nso = sc.namespace_options ?? {};
    const namespaces = { network: nsMode(nso.network, 'pod'), pid: nsMode(nso.pid, 'container'), ipc: nsMode(nso.ipc, 'pod') };
    if (sc.apparmor?.profile_type === 'Localhost' && !apparmorEnabled()) throw invalidArgument('apparmor profile requested but AppArmor is not enabled on this host');
    const seccomp = seccompFor(sc);
    const id = crypto.randomBytes(32).toString('hex');
    // As containerd: without one from the kubelet, the pod keeps the node's hostname.
    const hostname = config.hostname || fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
    if (hostname.length > 64) throw invalidArgument(`hostname ${JSON.stringify(hostname)} is longer than the kernel's 64 characters`);
    const record: SandboxRecord = {
      id,
      metadata,
      createdAt: nowNs(), hostname, logDirectory: config.log_directory ?? '',
      labels: { ...(config.labels ?? {}) }, annotations: { ...(config.annotations ?? {}) },
      runtimeHandler: runtimeHandler ?? '', cgroupParent: podCgroupParent(linux.cgroup_parent ?? '', id), namespaces,
    };
    const tm = opTimer('cri', 'run-pod', id.slice(0, 12));
    // the new pod cgroup (two levels in every v1 hierarchy) is made while the rest is written
    this.svc.prepareCgroup(pauseCgroupsPath(record));
    const files = this.filesDir(id);
    // Written beside the rest (its fsync would hold everything up), and settled before the pod is: a
    // racing retry that wins makes this pod's setup undone below. Until the last write, the record
    // has no pause id: a crash before it leaves a pause container found by its name (pauseIdOf).
    const adding = this.records.sandboxes.add(record, { beside: true });
    adding.catch(() => undefined); // awaited below
    try {
      // The network's ADD configures the namespace while the pause container is created (and, once the
      // namespace exists, started) in it: the pause only holds the namespace, and the pod is reported
      // ready once both are done. The namespace's path is known before it exists; the runtime's create
      // needs the file. Interface sysctls (net.*.conf.eth0.*) need the interface: then in turn.
      let networked: Promise<NetworkSetup> | undefined;
      let nsExists: Promise<unknown> = Promise.resolve();
      let netnsPath: string | undefined;
      let created!: { ok: () => void; failed: (e: unknown) => void };
      const pauseCreated = new Promise<void>((ok, failed) => { created = { ok, failed }; });
      pauseCreated.catch(() => undefined); // awaited through `networked`
      if (namespaces.network !== 'node') {
        netnsPath = this.net.netnsFor(id).path;
        // A namespace made ahead: the pause starts in it while the network is set up, which then waits
        // for the pause's create (their file work and execs would slow each other; the ADD has time).
        const claimed = this.net.claimNetns(id);
        let nsReady!: () => void;
        const nsKnown = new Promise<void>((r) => { nsReady = r; });
        networked = tm.span('network', (claimed ? pauseCreated : Promise.resolve()).then(() => this.net.setupNetwork({
          id,
          portMappings: (config.port_mappings ?? []).filter((p: Msg) => p.host_port > 0).map((p: Msg) => ({
            hostPort: p.host_port, containerPort: p.container_port, protocol: String(p.protocol ?? 'TCP'), ...(p.host_ip ? { hostIP: p.host_ip } : {}),
          })),
          args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: md.namespace, K8S_POD_NAME: md.name, K8S_POD_INFRA_CONTAINER_ID: id, K8S_POD_UID: md.uid ?? '' },
          ...(needsInterfaces(linux.sysctls) ? {} : { onNetns: () => nsReady() }),
        })));
        // the native driver makes the namespace with its interfaces in one step: no callback, setup's own end
        nsExists = claimed && !needsInterfaces(linux.sysctls) ? Promise.resolve() : Promise.race([nsKnown, networked]);
        // both are awaited below; an early failure elsewhere must not leave them unhandled
        for (const p of [networked, nsExists]) p.catch(() => undefined);
      }
      const rootfs = pauseRootfs(this.records.pauseRootfsDir);
      fs.mkdirSync(files, { recursive: true, mode: 0o755 });
      if (config.log_directory) fs.mkdirSync(config.log_directory, { recursive: true, mode: 0o755 });
      tm.mark('rootfs');

      const dns = config.dns_config ?? {};
      const etc = { hostname, ip: record.ip, dns: dns.servers ?? [], dnsSearch: dns.searches ?? [], dnsOptions: dns.options ?? [], hostNetwork: namespaces.network === 'node' };
      const hostsOf = () => (etc.hostNetwork ? fs.readFileSync('/etc/hosts', 'utf8') : hostsFile(etc));
      fs.writeFileSync(path.join(files, 'hostname'), hostname + '\n');
      fs.writeFileSync(path.join(files, 'hosts'), hostsOf());
      fs.writeFileSync(path.join(files, 'resolv.conf'), resolvConf(etc));
      tm.mark('etc');

      const pauseUp = (async () => {
        const pause = await tm.span('pause-create', this.svc.create({
          rootfsDir: rootfs,
          name: pauseName(record),
          command: ['/pause'],
          hostname: namespaces.network === 'node' ? undefined : hostname,
          network: netnsPath ? { netnsPath } : 'host',
          uts: namespaces.network === 'node' ? 'host' : 'private',
          ipc: namespaces.ipc === 'node' ? 'host' : 'private',
          pid: namespaces.pid === 'node' ? 'host' : 'private',
          cgroupsPath: pauseCgroupsPath(record),
          sysctls: { ...(linux.sysctls ?? {}) },
          readonlyRootfs: true,
          capDrop: ['ALL'],
          noNewPrivileges: true,
          // the pod's own profile, as containerd gives its sandbox: none unless the kubelet asks for one
          seccompProfile: seccomp,
          labels: { 'io.berth.cri.sandbox': id },
          annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': id },
          binds: [
            { source: path.join(files, 'hosts'), destination: '/etc/hosts', readonly: true },
            { source: path.join(files, 'resolv.conf'), destination: '/etc/resolv.conf', readonly: true },
            { source: path.join(files, 'hostname'), destination: '/etc/hostname', readonly: true },
          ],
          stopSignal: 'SIGTERM',
          stopTimeout: PAUSE_STOP_TIMEOUT_S,
        })).catch((e: unknown) => { created.failed(e); throw e; });
        created.ok();
        record.pauseId = pause.id;
        await tm.span('ns-wait', nsExists);
        await tm.span('pause-start', this.svc.start(pause.id));
      })();
      const [added, up, net] = await Promise.allSettled([adding, pauseUp, networked]);
      tm.mark('pause+network');
      if (added.status === 'rejected') throw added.reason;
      if (added.value) throw exists(added.value);
      // a failed ADD tears its namespace down under the pause: its error is the one that explains
      if (net.status === 'rejected') throw net.reason;
      if (up.status === 'rejected') throw up.reason;
      if (net.value) {
        if (net.value.netnsPath !== netnsPath) throw new BerthError('INTERNAL', `pod network namespace ${net.value.netnsPath}, expected ${netnsPath}`);
        record.ip = net.value.ip;
        etc.ip = net.value.ip;
        // in place (same inode): the pause's bind mount of it sees the address too
        fs.writeFileSync(path.join(files, 'hosts'), hostsOf());
      }
      await this.records.sandboxes.put(record, { beside: true });
      tm.mark('record');
      tm.end();
      return id;
    } catch (e) {
      await adding.catch(() => undefined);
      // what this call knows: a racing winner deleted our record, a crash-free failure has its pause id
      await this.remove(id, record).catch(() => undefined);
      throw e;
    }
  }

  /** The pause container of a pod: recorded, or (a pod whose setup died before its last write) by name. */
  private pauseIdOf(r: SandboxRecord): string | undefined {
    if (r.pauseId) return r.pauseId;
    try {
      const c = this.svc.resolve(pauseName(r));
      return c.labels?.['io.berth.cri.sandbox'] === r.id ? c.id : undefined;
    } catch (e) {
      if (isBerthError(e, 'NOT_FOUND')) return undefined;
      throw e;
    }
  }

  /** Stops the pod's containers (kill at once, as the kubelet stops them itself first), the pause process and the network. */
  async stop(idOrPrefix: string, stopContainer: (id: string, timeoutS: number) => Promise<void>, containersOf: (sandboxId: string) => string[]): Promise<void> {
    const r = this.records.sandboxes.get(this.records.sandboxes.resolve(idOrPrefix));
    for (const c of containersOf(r.id)) await stopContainer(c, 0);
    const pauseId = this.pauseIdOf(r);
    if (pauseId) {
      try { await this.svc.stop(pauseId, PAUSE_STOP_TIMEOUT_S); } catch (e) { if (!isBerthError(e, 'NOT_FOUND')) throw e; }
    }
    await this.net.teardownNetwork(r.id);
    await this.records.sandboxes.put({ ...r, stopped: true });
  }

  /**
   * Removes the pause container, the network, the pod cgroup and the pod's files; the caller removed its
   * containers. `known`: the record as a failing run() has it (on disk it may be gone or older).
   */
  async remove(id: string, known?: SandboxRecord): Promise<void> {
    const r = (() => { try { return this.records.sandboxes.get(id); } catch (e) { if (isBerthError(e, 'NOT_FOUND')) return undefined; throw e; } })() ?? known;
    const pauseId = known?.pauseId ?? (r && this.pauseIdOf(r));
    if (pauseId) {
      try { await this.svc.remove(pauseId, { force: true }); } catch (e) { if (!isBerthError(e, 'NOT_FOUND')) throw e; }
    }
    await this.net.teardownNetwork(id);
    if (r) {
      this.svc.discardCgroup(pauseCgroupsPath(r)); // made at run, with or without a pause container
      removePodCgroup(r.cgroupParent);
    }
    fs.rmSync(this.filesDir(id), { recursive: true, force: true });
    this.records.sandboxes.delete(id);
  }
}

/** Unique among live pods (the kubelet's key), so a second pause for one key fails to be created. */
const pauseName = (r: Pick<SandboxRecord, 'metadata'>) => {
  const md = r.metadata;
  return `k8s_POD_${safeName(md.name)}_${safeName(md.namespace)}_${safeName(md.uid)}_${md.attempt}`.slice(0, 128);
};

const pauseCgroupsPath = (r: SandboxRecord) => `${r.cgroupParent}/berth-pause-${r.id.slice(0, 12)}`;

/** Sysctls of one network interface (net.ipv4.conf.eth0.*): they need the interface CNI's ADD makes. */
function needsInterfaces(sysctls: Record<string, string> | undefined): boolean {
  return Object.keys(sysctls ?? {}).some((k) => /^net[./]ipv[46][./](conf|neigh)[./]/.test(k) && !/^net[./]ipv[46][./](conf|neigh)[./](all|default|lo)[./]/.test(k));
}

function safeName(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]/g, '-') || 'x';
}

export function apparmorEnabled(): boolean {
  try { return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y'; } catch { return false; }
}
