// The container service's networking (CRI pod networking, `berth run --network bridge -p h:c`):
// berth-owned network namespaces plus a CNI 1.0 client driving the configured plugins. A bridge +
// host-local (+ portmap) network, the built-in one or a config dir's, runs natively (native-bridge.ts:
// one exec instead of four plugin execs, the same result) unless BERTH_NET_DRIVER=cni; any other
// network runs through CNI.
//
//   const net = new NetworkManager({ dataDir: '/var/lib/berth/network' });
//   const { netnsPath, ips } = await net.setupNetwork({ id, portMappings: [...] });
//   spec.linux.namespaces.push(networkNamespace(netnsPath));
//   ...
//   await net.teardownNetwork(id);       // idempotent; removes the netns setupNetwork created
import { opTimer, type OpTimer } from '../../lib/op-timer.js';
import { NetnsSpares } from './netns-spare.js';
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { BerthError, failedPrecondition, invalidArgument, notFound } from '../../lib/errors.js';
import { lockFilePolled, type FileLock } from '../../lib/file-lock.js';
import { schemaValidator } from '../../lib/schema-validator.js';
import { addNetworkList, checkNetworkList, delNetworkList, type PortMapping, type RuntimeConf, type ClientOptions } from './cni-client.js';
import { DEFAULT_CNI_PATH, DEFAULT_CONF_DIR, loadNetworkConfig, loopbackConfList, type DefaultNetworkOptions, type LoadedConfig } from './cni-config.js';
import { nativeAdd, nativeBridgeFor, nativeCheck, nativeDel, newHostVeth, type NativeBridge } from './native-bridge.js';
import { natChainsFor, natSetup } from './nat-rules.js';
import { applyNat, enableRouteLocalnet, removeNat } from './nat-apply.js';
import { nativeBinary } from '../../lib/paths.js';
import { cniArgs, findPlugin } from './cni-exec.js';
import type { CniResult, ConfList } from './cni-schemas.js';
import { DEFAULT_NETNS_DIR, NetnsStore, checkNetnsId, isNamespaceFile } from './netns.js';
import { RecordStore, portMappingSchema, type NetworkRecord } from './network-record.js';

export type { PortMapping } from './cni-client.js';
export type { ConfList, CniResult } from './cni-schemas.js';
export { CniPluginError } from './cni-exec.js';
export { defaultConfList, loopbackConfList } from './cni-config.js';

export const DEFAULT_DATA_DIR = '/var/lib/berth/network';

export interface NetworkOptions {
  /** Results, locks and (for the built-in network) host-local IPAM state. */
  dataDir?: string;
  /** Where config lists are looked up; the first file (by name) wins. */
  confDir?: string;
  /** Use this config list and ignore confDir (the CLI's --network, tests). */
  confList?: ConfList;
  /** Built-in network when confDir is empty; false: none (NetworkReady is then false). */
  defaultNetwork?: Omit<DefaultNetworkOptions, 'dataDir'> | false;
  cniPath?: string[];
  netnsDir?: string;
  ifName?: string;
  /** Per plugin call. */
  timeoutMs?: number;
  /** 'auto' (default; BERTH_NET_DRIVER overrides): the built-in network natively, others by CNI. 'cni': CNI for all. */
  driver?: NetworkDriver;
  /** Keep a namespace made ahead for the next claimNetns (a long-lived server; netns-spare.ts). */
  spareNetns?: boolean;
}

export type NetworkDriver = 'auto' | 'cni';

function driverFrom(opt: NetworkDriver | undefined): NetworkDriver {
  const v = opt ?? process.env.BERTH_NET_DRIVER ?? 'auto';
  if (v === 'native') return 'auto'; // native is only ever for the built-in network
  if (v !== 'auto' && v !== 'cni') throw invalidArgument(`BERTH_NET_DRIVER=${v}: use auto (default) or cni`);
  return v;
}

/**
 * The built-in network's settings from BERTH_DEFAULT_NETWORK (JSON: name, bridge, subnet, ipMasq, mtu),
 * so an operator or a test can move it off berth0/10.88.0.0/16 without writing a conflist.
 */
function defaultNetworkFromEnv(): Omit<DefaultNetworkOptions, 'dataDir'> | undefined {
  const raw = process.env.BERTH_DEFAULT_NETWORK;
  if (!raw) return undefined;
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw invalidArgument('BERTH_DEFAULT_NETWORK is not JSON'); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('BERTH_DEFAULT_NETWORK must be a JSON object');
  const { name, bridge, subnet, ipMasq, mtu } = v as Record<string, unknown>;
  for (const [k, x] of Object.entries({ name, bridge, subnet })) if (x !== undefined && typeof x !== 'string') throw invalidArgument(`BERTH_DEFAULT_NETWORK.${k} must be a string`);
  if (ipMasq !== undefined && typeof ipMasq !== 'boolean') throw invalidArgument('BERTH_DEFAULT_NETWORK.ipMasq must be a boolean');
  if (mtu !== undefined && !Number.isInteger(mtu)) throw invalidArgument('BERTH_DEFAULT_NETWORK.mtu must be an integer');
  return { name, bridge, subnet, ipMasq, mtu } as Omit<DefaultNetworkOptions, 'dataDir'>;
}

export interface PortMappingInput {
  hostPort: number;
  containerPort: number;
  protocol?: string;   // tcp (default), udp, sctp; any case (CRI sends TCP)
  hostIP?: string;
}

export interface SetupRequest {
  id: string;
  /** Join this existing namespace (not removed at teardown); default: berth creates <netnsDir>/<id>. */
  netnsPath?: string;
  portMappings?: PortMappingInput[];
  /** CNI_ARGS, e.g. K8S_POD_NAMESPACE / K8S_POD_NAME. */
  args?: Record<string, string>;
  /**
   * Called once the namespace exists and before the plugins run (CNI path only), so a caller can
   * create its container in the namespace while ADD configures it (CRI: the pause container).
   */
  onNetns?: (netnsPath: string) => void;
}

export interface PodIP { address: string; prefixLength: number; version: 4 | 6; gateway?: string }

export interface NetworkSetup {
  id: string;
  netnsPath: string;
  network: string;
  ips: PodIP[];
  /** First IPv4 address without prefix, else first IPv6: what CRI's PodSandboxStatus shows. */
  ip?: string;
  gateway?: string;
  interface: { name: string; mac?: string };
  portMappings: PortMapping[];
  result: CniResult;
}

export interface NetworkReadiness { ready: boolean; reason?: string; message?: string }

/** The runtime-spec namespace entry that puts a container into `netnsPath`. */
export function networkNamespace(netnsPath: string): { type: 'network'; path: string } {
  return { type: 'network', path: netnsPath };
}

function normalizePorts(input: PortMappingInput[] | undefined): PortMapping[] {
  const v = schemaValidator('network.portMapping', portMappingSchema);
  return (input ?? []).map((p, i) => {
    const m: PortMapping = { hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'tcp').toLowerCase() as PortMapping['protocol'] };
    if (p.hostIP) m.hostIP = p.hostIP;
    if (m.hostIP !== undefined && isIP(m.hostIP) === 0) throw invalidArgument(`port mapping #${i + 1} ${JSON.stringify(p)}: hostIP is not an IP address`);
    if (!v(m)) throw invalidArgument(`port mapping #${i + 1} ${JSON.stringify(p)}: ${v.errors?.[0]?.instancePath || ''} ${v.errors?.[0]?.message}`.replace('  ', ' '));
    return m;
  });
}

function podIPs(result: CniResult, ifName: string): { ips: PodIP[]; iface: { name: string; mac?: string } } {
  const ifaces = result.interfaces ?? [];
  const idx = ifaces.findIndex((i) => i.name === ifName && i.sandbox !== undefined && i.sandbox !== '');
  const ips: PodIP[] = [];
  for (const ip of result.ips ?? []) {
    // An IP names its interface by index; without one it belongs to the (only) container interface.
    if (ip.interface !== undefined && idx >= 0 && ip.interface !== idx) continue;
    // Loopback addresses are no pod IP (a loopback-only network leaves the pod without one).
    if (ip.interface !== undefined && ifaces[ip.interface]?.name === 'lo') continue;
    const [addr, len] = ip.address.split('/');
    if (addr.startsWith('127.') || addr === '::1') continue;
    ips.push({ address: addr, prefixLength: Number(len), version: addr.includes(':') ? 6 : 4, ...(ip.gateway ? { gateway: ip.gateway } : {}) });
  }
  return { ips, iface: idx >= 0 ? { name: ifaces[idx].name, mac: ifaces[idx].mac } : { name: ifName } };
}

export class NetworkManager {
  readonly dataDir: string;
  readonly confDir: string;
  readonly cniPath: string[];
  readonly ifName: string;
  readonly netns: NetnsStore;
  private readonly records: RecordStore;
  private readonly client: ClientOptions;
  private readonly queues = new Map<string, Promise<unknown>>();
  readonly driver: NetworkDriver;
  private readonly spares?: NetnsSpares;

  constructor(private readonly opts: NetworkOptions = {}) {
    this.dataDir = path.resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
    this.confDir = opts.confDir ?? DEFAULT_CONF_DIR;
    this.cniPath = opts.cniPath ?? (process.env.CNI_PATH ? process.env.CNI_PATH.split(':').filter(Boolean) : DEFAULT_CNI_PATH);
    this.ifName = opts.ifName ?? 'eth0';
    this.netns = new NetnsStore(opts.netnsDir ?? DEFAULT_NETNS_DIR);
    this.records = new RecordStore(path.join(this.dataDir, 'results'));
    this.client = { cniPath: this.cniPath, timeoutMs: opts.timeoutMs ?? 30_000 };
    this.driver = driverFrom(opts.driver);
    if (opts.spareNetns) {
      this.spares = new NetnsSpares(this.netns);
      this.spares.refill();
    }
  }

  /**
   * Makes `id`'s namespace exist now, from the spare, so its container can start in it while the
   * network is set up (setupNetwork then configures it). False when there was no spare: setupNetwork
   * makes it as usual. A namespace claimed but never set up goes with teardownNetwork(id).
   */
  claimNetns(id: string): boolean {
    checkNetnsId(id);
    return this.spares?.take(id) ?? false;
  }

  /** True while a namespace made ahead waits for claimNetns. */
  get hasSpareNetns(): boolean {
    return this.spares?.hasSpare ?? false;
  }

  /** Removes the spare namespace, if any (server shutdown). */
  async close(): Promise<void> {
    await this.spares?.close();
  }

  /** How `cfg` is run: natively when it is the built-in network and the driver allows, else undefined (CNI). */
  private nativeFor(cfg: LoadedConfig): NativeBridge | undefined {
    return this.driver === 'cni' ? undefined : nativeBridgeFor(cfg);
  }

  /** The network pods join now (config dir, explicit list, or built-in); undefined when none. */
  config(): LoadedConfig | undefined {
    if (this.opts.confList) return { confList: this.opts.confList, source: 'caller' };
    const fallback = this.opts.defaultNetwork === false ? undefined : { ...(this.opts.defaultNetwork ?? defaultNetworkFromEnv() ?? {}), dataDir: path.join(this.dataDir, 'ipam') };
    return loadNetworkConfig(this.confDir, fallback);
  }

  /** CRI's NetworkReady: a config is found and every plugin it (and loopback) names is installed. */
  networkReady(): NetworkReadiness {
    let cfg: LoadedConfig | undefined;
    try {
      cfg = this.config();
    } catch (e) {
      return { ready: false, reason: 'NetworkPluginNotReady', message: `network config is invalid: ${(e as Error).message}` };
    }
    if (!cfg) return { ready: false, reason: 'NetworkPluginNotReady', message: `no CNI network config found in ${this.confDir}` };
    if (this.nativeFor(cfg)) {
      // iptables-restore is only run for published ports or ipMasq; a missing one fails those setups alone
      try { nativeBinary('berth-netns'); } catch (e) { return { ready: false, reason: 'NetworkPluginNotReady', message: (e as Error).message }; }
      return { ready: true };
    }
    const missing = [...cfg.confList.plugins.map((p) => p.type), 'loopback'].filter((t) => !findPlugin(t, this.cniPath));
    if (missing.length) return { ready: false, reason: 'NetworkPluginNotReady', message: `CNI plugins not found in ${this.cniPath.join(':')}: ${[...new Set(missing)].join(', ')}` };
    return { ready: true };
  }

  /** Create/remove/inspect berth's namespace for `id` (CRI: the sandbox's netns). */
  netnsFor(id: string): { path: string; exists(): boolean; create(): string; remove(): void } {
    const store = this.netns;
    const p = store.path(id);
    return { path: p, exists: () => store.exists(id), create: () => store.create(id), remove: () => store.remove(id) };
  }

  /** ADD `id` to the network (loopback first, then the pod network). ALREADY_EXISTS if it is attached. */
  setupNetwork(req: SetupRequest): Promise<NetworkSetup> {
    checkNetnsId(req.id);
    const tm = opTimer('network', 'add', req.id.slice(0, 12));
    return this.serialized(req.id, () => { tm.mark('lock'); return this.doSetup(req, tm); });
  }

  /** DEL `id` from its network and remove the namespace berth created for it. Succeeds when already gone. */
  teardownNetwork(id: string): Promise<void> {
    checkNetnsId(id);
    return this.serialized(id, () => this.doTeardown(id));
  }

  /** What ADD gave `id`; NOT_FOUND when it is not attached. */
  networkStatus(id: string): NetworkSetup {
    checkNetnsId(id);
    const rec = this.records.read(id);
    if (!rec || rec.phase !== 'ready' || !rec.result) throw notFound(`container ${id} has no network attached`);
    return this.describe(rec);
  }

  /** CNI CHECK against the stored result: rejects with the plugin's error when the network drifted. */
  checkNetwork(id: string): Promise<void> {
    checkNetnsId(id);
    return this.serialized(id, async () => {
      const rec = this.records.read(id);
      if (!rec || rec.phase !== 'ready' || !rec.result) throw notFound(`container ${id} has no network attached`);
      if (rec.driver === 'native') {
        // the nat rules are not CHECKed (nor is portmap on the CNI path: Debian's fails for IPv4-only hostPorts)
        const nb = this.nativeRecordBridge(rec);
        return nativeCheck(nb, id, { netnsPath: rec.netnsPath, hostVeth: rec.hostVeth as string, ifName: rec.ifName, result: rec.result, timeoutMs: this.client.timeoutMs });
      }
      await checkNetworkList(rec.confList as ConfList, this.runtimeConf(rec, rec.netnsPath), rec.result, this.client);
    });
  }

  /** Ids with a network record (attached, or left half-attached by a crash: teardown them). */
  list(): string[] {
    return this.records.list();
  }

  private describe(rec: NetworkRecord): NetworkSetup {
    const result = rec.result as CniResult;
    const { ips, iface } = podIPs(result, rec.ifName);
    const primary = ips.find((i) => i.version === 4) ?? ips[0];
    return {
      id: rec.id, netnsPath: rec.netnsPath, network: (rec.confList as ConfList).name, ips, ip: primary?.address,
      gateway: primary?.gateway, interface: iface, portMappings: rec.portMappings as PortMapping[], result,
    };
  }

  private runtimeConf(rec: NetworkRecord, netns: string): RuntimeConf {
    return { containerId: rec.id, netns, ifName: rec.ifName, args: rec.args as Record<string, string> | undefined, capabilityArgs: { portMappings: rec.portMappings as PortMapping[] } };
  }

  private async doSetup(req: SetupRequest, tm: OpTimer): Promise<NetworkSetup> {
    const existing = this.records.read(req.id);
    if (existing) {
      const state = existing.phase === 'ready' ? 'is already attached' : 'has a half-finished setup (run teardown first)';
      throw new BerthError('ALREADY_EXISTS', `container ${req.id} ${state} to network ${(existing.confList as ConfList).name}`);
    }
    const portMappings = normalizePorts(req.portMappings);
    if (req.args) cniArgs(req.args); // refuse bad CNI_ARGS before anything is created
    const cfg = this.config();
    if (!cfg) throw failedPrecondition(`no CNI network config: put a .conflist in ${this.confDir}`);
    let netnsPath = req.netnsPath;
    if (netnsPath !== undefined) {
      if (!path.isAbsolute(netnsPath)) throw invalidArgument(`network namespace path ${netnsPath} must be absolute`);
      if (!fs.existsSync(netnsPath)) throw notFound(`network namespace ${netnsPath} does not exist`);
    }
    const ownsNetns = netnsPath === undefined;
    const native = this.nativeFor(cfg);
    tm.mark('config');
    if (native) return this.doNativeSetup(req, cfg, native, portMappings, tm);
    tm.end();
    if (ownsNetns) netnsPath = this.netns.exists(req.id) ? this.netns.path(req.id) : await this.netns.createAsync(req.id);
    const rec: NetworkRecord = {
      id: req.id, phase: 'adding', netnsPath: netnsPath as string, ownsNetns, ifName: this.ifName, confList: cfg.confList,
      configSource: cfg.source, portMappings, created: new Date().toISOString(),
    };
    if (req.args) rec.args = { ...req.args };
    return this.attach(rec, async () => {
      req.onNetns?.(rec.netnsPath);
      const rt = this.runtimeConf(rec, rec.netnsPath);
      rec.loopback = await addNetworkList(loopbackConfList(), { ...rt, ifName: 'lo' }, this.client);
      rec.result = await addNetworkList(cfg.confList, rt, this.client);
    });
  }

  // The record is written before ADD (phase adding) so a crash mid-ADD still gets its DEL.
  private async attach(rec: NetworkRecord, add: () => Promise<void>): Promise<NetworkSetup> {
    await this.records.write(rec);
    try {
      await add();
      rec.phase = 'ready';
      // not durable: an OS crash ends the namespace too, and an 'adding' record is torn down anyway
      await this.records.write(rec, { durable: false });
    } catch (e) {
      // Undo what ADD did before the failure; the ADD error is what the caller must see.
      // A DEL that fails here would fail on every retry too (typically the same bad config), so
      // the record and the namespace go regardless: nothing would ever clean them up otherwise.
      await this.doTeardown(rec.id, true).catch(() => undefined);
      throw e;
    }
    return this.describe(rec);
  }

  // The record carries the host veth's name before anything exists; then the address, one
  // berth-netns exec, and one iptables-restore only when ports are published or ipMasq is on.
  private async doNativeSetup(req: SetupRequest, cfg: LoadedConfig, nb: NativeBridge, portMappings: PortMapping[], tm: OpTimer): Promise<NetworkSetup> {
    const ownsNetns = req.netnsPath === undefined;
    let netnsPath = req.netnsPath as string;
    let create = false;
    if (ownsNetns) {
      // a namespace left by a crash is reused, as on the CNI path
      create = !this.netns.exists(req.id);
      netnsPath = create ? this.netns.prepare(req.id) : this.netns.path(req.id);
    }
    const rec: NetworkRecord = {
      id: req.id, phase: 'adding', netnsPath, ownsNetns, ifName: this.ifName, confList: cfg.confList,
      configSource: cfg.source, portMappings, created: new Date().toISOString(), driver: 'native', hostVeth: newHostVeth(),
    };
    if (req.args) rec.args = { ...req.args };
    // Published ports and ipMasq: the chains are named in the record before anything exists, so a
    // crash at any point leaves a teardown that finds them.
    const nat = { network: nb.network, id: req.id, portMappings: nb.hostPorts ? portMappings : [], snat: nb.hostPorts?.snat ?? false, ipMasq: nb.ipMasq };
    const chains = natChainsFor(nat);
    if (chains.length) rec.nat = { chains };
    return this.attach(rec, async () => {
      tm.mark('record');
      const ip = await nb.ipam.allocate(req.id, this.ifName);
      tm.mark('ipam');
      // the next pod's namespace is made by this same exec
      const spare = this.spares?.reserve();
      const made = await nativeAdd(nb, { id: req.id, netnsPath, create, ifName: this.ifName, hostVeth: rec.hostVeth as string, timeoutMs: this.client.timeoutMs, spare }, ip)
        .finally(() => { if (spare) this.spares?.settle(spare); });
      rec.loopback = made.loopback;
      rec.result = made.result;
      tm.mark('berth-netns');
      tm.end();
      if (!rec.nat) return;
      const rules = natSetup({ ...nat, bridge: nb.bridge, subnet: nb.subnet, podIP: ip.address });
      if (rules.routeLocalnet) enableRouteLocalnet(nb.bridge);
      await applyNat(rules.script, req.id, this.client.timeoutMs);
      rec.nat = { chains: rules.chains, jumps: rules.jumps };
    });
  }

  /** The native driver for a record it made: from the record's own config, not today's. */
  private nativeRecordBridge(rec: NetworkRecord): NativeBridge {
    const nb = nativeBridgeFor({ confList: rec.confList as ConfList, source: rec.configSource });
    if (!nb) throw new BerthError('DATA_LOSS', `network record ${rec.id}: driver native but its config is not the built-in bridge network`);
    return nb;
  }

  private async doNativeTeardown(rec: NetworkRecord, force: boolean): Promise<void> {
    const nb = this.nativeRecordBridge(rec);
    const timeoutMs = this.client.timeoutMs;
    const steps: (() => Promise<unknown>)[] = [
      // Deleting a veth waits for the kernel's synchronize_net (10-30 ms here); unmounting the
      // namespace we own is free and the pair goes with it moments later (the kernel's netns
      // cleanup). A caller's namespace stays, so there the pair is deleted.
      rec.ownsNetns ? async () => this.netns.remove(rec.id)
        : () => nativeDel(rec.id, { netnsPath: rec.netnsPath, hostVeth: rec.hostVeth, keepNetns: true, timeoutMs }),
      () => nb.ipam.release(rec.id, rec.ifName),
    ];
    if (rec.nat) {
      const nat = { chains: rec.nat.chains, jumps: rec.nat.jumps ?? [] };
      steps.unshift(() => removeNat(nat, rec.id, timeoutMs));
    } else if ((rec.portMappings as PortMapping[]).length && nb.chained.plugins.length) {
      // a record from before native ports: portmap made its rules
      const netns = isNamespaceFile(rec.netnsPath) ? rec.netnsPath : '';
      steps.unshift(() => delNetworkList(nb.chained, this.runtimeConf(rec, netns), rec.result, this.client));
    }
    // Unforced, the first failure stops here and keeps the record for a retry; forced (undoing a
    // failed ADD), every step is tried and the record goes regardless, as on the CNI path.
    let failure: unknown;
    for (const step of steps) {
      try {
        await step();
      } catch (e) {
        failure ??= e;
        if (!force) throw e;
      }
    }
    this.forget(rec);
    if (failure) throw failure;
  }

  private async doTeardown(id: string, force = false): Promise<void> {
    const rec = this.records.read(id);
    if (!rec) {
      // nothing set up; a namespace claimed for it (claimNetns) may still be there
      this.netns.remove(id);
      return;
    }
    if (rec.driver === 'native') return this.doNativeTeardown(rec, force);
    // Plugins accept DEL without a namespace when it is gone (the spec requires it): release IPAM anyway.
    // A file that is no namespace any more (a reboot, a lost mount) counts as gone: plugins refuse it.
    const netns = isNamespaceFile(rec.netnsPath) ? rec.netnsPath : '';
    const rt = this.runtimeConf(rec, netns);
    try {
      await delNetworkList(rec.confList as ConfList, rt, rec.result, this.client);
    } finally {
      // A failed DEL keeps the record (and namespace) so a later teardown retries it, unless forced.
      // Loopback needs no DEL of its own: it goes with the namespace.
      if (force) this.forget(rec);
    }
    if (!force) this.forget(rec);
  }

  private forget(rec: NetworkRecord): void {
    if (rec.ownsNetns) this.netns.remove(rec.id);
    this.records.remove(rec.id);
  }

  // One operation per id at a time: in this process by chaining, across processes by a flock taken
  // without blocking (a blocking flock would stall Node's event loop while another ADD runs here).
  private serialized<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(async () => {
      const lock = await this.lock(id);
      try {
        return await fn();
      } finally {
        lock.release();
      }
    });
    this.queues.set(id, next);
    void next.finally(() => { if (this.queues.get(id) === next) this.queues.delete(id); }).catch(() => undefined);
    return next;
  }

  private async lock(id: string): Promise<FileLock> {
    const dir = path.join(this.dataDir, 'locks');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return lockFilePolled(path.join(dir, `${id}.lock`), { delayMs: 50, timeoutMs: this.client.timeoutMs * 4 });
  }
}
