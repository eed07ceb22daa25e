// Pod sandboxes: a berth-pause process holding the pod's ipc/uts/net namespaces (net from CNI),
// a pod cgroup parent, and the pod's /etc/hosts, /etc/resolv.conf and hostname. The pause process is
// an ordinary container of the container service (rootfs = a directory holding only the pause
// binary), so its state, monitor and cleanup are the container service's.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, invalidArgument, isBerthError } from '../lib/errors.js';
import { nativeBinary } from '../lib/paths.js';
import type { ContainerService } from '../engine/service.js';
import type { NetworkManager, NetworkSetup } from '../engine/network/index.js';
import { hostsFile, resolvConf } from '../engine/etc-files.js';
import { CriRecords, sandboxKey, type SandboxRecord } from './records.js';
import { podCgroupParent, removePodCgroup } from './pod-cgroup.js';
import { nowNs } from './timestamps.js';
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
    const files = this.filesDir(id);
    const rootfs = path.join(files, 'rootfs');
    const racing = await this.records.sandboxes.add(record);
    if (racing) throw exists(racing);
    try {
      fs.mkdirSync(rootfs, { recursive: true, mode: 0o755 });
      for (const d of ['proc', 'dev', 'sys', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
      // the rootfs is read-only: the bind mount points must exist beforehand
      for (const f of ['hosts', 'resolv.conf', 'hostname']) fs.writeFileSync(path.join(rootfs, 'etc', f), '');
      fs.copyFileSync(nativeBinary('berth-pause'), path.join(rootfs, 'pause'));
      fs.chmodSync(path.join(rootfs, 'pause'), 0o755);
      if (config.log_directory) fs.mkdirSync(config.log_directory, { recursive: true, mode: 0o755 });

      // The network's ADD configures the namespace while the pause container is created (and, once the
      // namespace exists, started) in it: the pause only holds the namespace, and the pod is reported
      // ready once both are done. The namespace's path is known before it exists; the runtime's create
      // needs the file. Interface sysctls (net.*.conf.eth0.*) need the interface: then in turn.
      let networked: Promise<NetworkSetup> | undefined;
      let nsExists: Promise<unknown> = Promise.resolve();
      let netnsPath: string | undefined;
      if (namespaces.network !== 'node') {
        netnsPath = this.net.netnsFor(id).path;
        let nsReady!: () => void;
        const nsKnown = new Promise<void>((r) => { nsReady = r; });
        networked = this.net.setupNetwork({
          id,
          portMappings: (config.port_mappings ?? []).filter((p: Msg) => p.host_port > 0).map((p: Msg) => ({
            hostPort: p.host_port, containerPort: p.container_port, protocol: String(p.protocol ?? 'TCP'), ...(p.host_ip ? { hostIP: p.host_ip } : {}),
          })),
          args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: md.namespace, K8S_POD_NAME: md.name, K8S_POD_INFRA_CONTAINER_ID: id, K8S_POD_UID: md.uid ?? '' },
          ...(needsInterfaces(linux.sysctls) ? {} : { onNetns: () => nsReady() }),
        });
        // the native driver makes the namespace with its interfaces in one step: no callback, setup's own end
        nsExists = Promise.race([nsKnown, networked]);
        // both are awaited below; an early failure elsewhere must not leave them unhandled
        for (const p of [networked, nsExists]) p.catch(() => undefined);
      }
      const dns = config.dns_config ?? {};
      const etc = { hostname, ip: record.ip, dns: dns.servers ?? [], dnsSearch: dns.searches ?? [], dnsOptions: dns.options ?? [], hostNetwork: namespaces.network === 'node' };
      const hostsOf = () => (etc.hostNetwork ? fs.readFileSync('/etc/hosts', 'utf8') : hostsFile(etc));
      fs.writeFileSync(path.join(files, 'hostname'), hostname + '\n');
      fs.writeFileSync(path.join(files, 'hosts'), hostsOf());
      fs.writeFileSync(path.join(files, 'resolv.conf'), resolvConf(etc));

      const pauseUp = (async () => {
        const pause = await this.svc.create({
          rootfsDir: rootfs,
          name: `k8s_POD_${safeName(md.name)}_${safeName(md.namespace)}_${safeName(md.uid ?? '')}_${attempt}`.slice(0, 128),
          command: ['/pause'],
          hostname: namespaces.network === 'node' ? undefined : hostname,
          network: netnsPath ? { netnsPath } : 'host',
          uts: namespaces.network === 'node' ? 'host' : 'private',
          ipc: namespaces.ipc === 'node' ? 'host' : 'private',
          pid: namespaces.pid === 'node' ? 'host' : 'private',
          cgroupsPath: `${record.cgroupParent}/berth-pause-${id.slice(0, 12)}`,
          sysctls: { ...(linux.sysctls ?? {}) },
          readonlyRootfs: true,
          capDrop: ['ALL'],
          noNewPrivileges: true,
          seccompProfile: 'default',
          labels: { 'io.berth.cri.sandbox': id },
          annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': id },
          binds: [
            { source: path.join(files, 'hosts'), destination: '/etc/hosts', readonly: true },
            { source: path.join(files, 'resolv.conf'), destination: '/etc/resolv.conf', readonly: true },
            { source: path.join(files, 'hostname'), destination: '/etc/hostname', readonly: true },
          ],
          stopSignal: 'SIGTERM',
          stopTimeout: PAUSE_STOP_TIMEOUT_S,
        });
        record.pauseId = pause.id;
        await this.records.sandboxes.put(record);
        await nsExists;
        await this.svc.start(pause.id);
      })();
      const [up, net] = await Promise.allSettled([pauseUp, networked]);
      // a failed ADD tears its namespace down under the pause: its error is the one that explains
      if (net.status === 'rejected') throw net.reason;
      if (up.status === 'rejected') throw up.reason;
      if (net.value) {
        if (net.value.netnsPath !== netnsPath) throw new BerthError('INTERNAL', `pod network namespace ${net.value.netnsPath}, expected ${netnsPath}`);
        record.ip = net.value.ip;
        etc.ip = net.value.ip;
        // in place (same inode): the pause's bind mount of it sees the address too
        fs.writeFileSync(path.join(files, 'hosts'), hostsOf());
        await this.records.sandboxes.put(record);
      }
      return id;
    } catch (e) {
      await this.remove(id).catch(() => undefined);
      throw e;
    }
  }

  /** Stops the pod's containers (kill at once, as the kubelet stops them itself first), the pause process and the network. */
  async stop(idOrPrefix: string, stopContainer: (id: string, timeoutS: number) => Promise<void>, containersOf: (sandboxId: string) => string[]): Promise<void> {
    const r = this.records.sandboxes.get(this.records.sandboxes.resolve(idOrPrefix));
    for (const c of containersOf(r.id)) await stopContainer(c, 0);
    if (r.pauseId) {
      try { await this.svc.stop(r.pauseId, PAUSE_STOP_TIMEOUT_S); } catch (e) { if (!isBerthError(e, 'NOT_FOUND')) throw e; }
    }
    await this.net.teardownNetwork(r.id);
    await this.records.sandboxes.put({ ...r, stopped: true });
  }

  /** Removes the pause container, the network, the pod cgroup and the pod's files; the caller removed its containers. */
  async remove(id: string): Promise<void> {
    const r = (() => { try { return this.records.sandboxes.get(id); } catch (e) { if (isBerthError(e, 'NOT_FOUND')) return undefined; throw e; } })();
    if (r?.pauseId) {
      try { await this.svc.remove(r.pauseId, { force: true }); } catch (e) { if (!isBerthError(e, 'NOT_FOUND')) throw e; }
    }
    await this.net.teardownNetwork(id);
    if (r) removePodCgroup(r.cgroupParent);
    fs.rmSync(this.filesDir(id), { recursive: true, force: true });
    this.records.sandboxes.delete(id);
  }
}

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
