// The native driver for bridge networks (berth's built-in one, and a config dir's bridge + host-local
// [+ portmap] list, the kind critest and kubelet setups use): one exec of native/build/berth-netns
// (rtnetlink) does what the loopback, bridge and host-local plugins do in three to four Go execs,
// with addresses from host-local's own store (host-local-ipam.ts). Results keep the CNI bridge
// plugin's shape (bridge, host veth, pod interface; one IP on interface 2), so records, inspect and
// CRI read the same either way. Published ports and ipMasq are nat rules of its own (nat-rules.ts).
import crypto from 'node:crypto';
import { BerthError, internal } from '../../lib/errors.js';
import { nativeBinary } from '../../lib/paths.js';
import type { LoadedConfig } from './cni-config.js';
import type { CniResult, ConfList } from './cni-schemas.js';
import { HostLocalIpam, formatIpv4, parseIpv4Subnet, type Allocation } from './host-local-ipam.js';
import { runTool } from './run-tool.js';

export interface NativeBridge {
  network: string;
  bridge: string;
  /** The pod subnet, CIDR (normalised to its network address). */
  subnet: string;
  mtu?: number;
  hairpin: boolean;
  /** The bridge plugin's ipMasq: masquerade pod traffic leaving the subnet (nat-rules.ts). */
  ipMasq: boolean;
  /** Published ports natively, as portmap with this snat would; undefined: the network has no portmap. */
  hostPorts?: { snat: boolean };
  ipam: HostLocalIpam;
  /** The plugins after bridge (portmap): only to DEL what older berth records chained through CNI. */
  chained: ConfList;
}

// What the native driver does exactly as the plugins would: any other key (promiscMode, vlan,
// macspoofchk, rangeStart, a portmap's conditionsV4...) keeps the network on the plugins.
const BRIDGE_KEYS = new Set(['type', 'name', 'cniVersion', 'bridge', 'isGateway', 'ipMasq', 'hairpinMode', 'mtu', 'ipam']);
const IPAM_KEYS = new Set(['type', 'ranges', 'routes', 'dataDir']);
const PORTMAP_KEYS = new Set(['type', 'name', 'cniVersion', 'capabilities', 'snat']);
/** host-local's own default data directory */
export const HOST_LOCAL_DATA_DIR = '/var/lib/cni/networks';

const onlyKeys = (o: Record<string, unknown>, keys: Set<string>) => Object.keys(o).every((k) => keys.has(k));

/**
 * How the native driver runs `cfg`; undefined when the network uses what the driver does not do
 * exactly as the plugins would (IPv6, several ranges, no default route, other plugins or keys):
 * those stay on CNI. A config dir's network qualifies as the built-in one does: bridge (isGateway)
 * with host-local (one IPv4 range, the default route), optionally followed by portmap.
 */
export function nativeBridgeFor(cfg: LoadedConfig): NativeBridge | undefined {
  const [bridge, ...rest] = cfg.confList.plugins as Record<string, any>[];
  if (bridge?.type !== 'bridge' || bridge.isGateway !== true || bridge.ipam?.type !== 'host-local') return undefined;
  if (!onlyKeys(bridge, BRIDGE_KEYS) || !onlyKeys(bridge.ipam, IPAM_KEYS)) return undefined;
  if (bridge.mtu !== undefined && !(Number.isInteger(bridge.mtu) && bridge.mtu > 0)) return undefined;
  if (bridge.bridge !== undefined && typeof bridge.bridge !== 'string') return undefined;
  const ranges = bridge.ipam.ranges as { subnet: string; gateway?: string; rangeStart?: string; rangeEnd?: string }[][] | undefined;
  if (ranges?.length !== 1 || ranges[0].length !== 1 || !onlyKeys(ranges[0][0], new Set(['subnet', 'gateway']))) return undefined;
  // berth-netns always adds the default route via the gateway: what host-local's routes say here
  const routes = bridge.ipam.routes as { dst?: string; gw?: string }[] | undefined;
  if (routes?.length !== 1 || routes[0].dst !== '0.0.0.0/0' || !onlyKeys(routes[0], new Set(['dst']))) return undefined;
  const subnet = parseIpv4Subnet(ranges[0][0].subnet);
  if (!subnet || rest.length > 1) return undefined;
  const portmap = rest[0];
  // without the portMappings capability portmap is given no ports: published ports would differ
  if (portmap && (portmap.type !== 'portmap' || !onlyKeys(portmap, PORTMAP_KEYS) || portmap.capabilities?.portMappings !== true)) return undefined;
  const dataDir = bridge.ipam.dataDir ?? HOST_LOCAL_DATA_DIR;
  if (typeof dataDir !== 'string') return undefined;
  return {
    // the bridge plugin's default bridge name
    network: cfg.confList.name, bridge: bridge.bridge ?? 'cni0', subnet: `${formatIpv4(subnet.network)}/${subnet.prefix}`, mtu: bridge.mtu,
    hairpin: Boolean(bridge.hairpinMode), ipMasq: bridge.ipMasq === true,
    // portmap's snat defaults to on
    hostPorts: portmap ? { snat: portmap.snat !== false } : undefined,
    ipam: new HostLocalIpam(dataDir, cfg.confList.name, subnet, ranges[0][0].gateway),
    chained: { ...cfg.confList, plugins: rest as ConfList['plugins'] },
  };
}

/** A host-side name like the bridge plugin's (veth + 8 hex digits). */
export function newHostVeth(): string {
  return `veth${crypto.randomBytes(4).toString('hex')}`;
}

function runNetns(args: string[], what: string, timeoutMs: number): Promise<string> {
  return runTool(nativeBinary('berth-netns'), args, { what, timeoutMs, codeFor: (why) => (/: File exists$/.test(why) ? 'ALREADY_EXISTS' : 'INTERNAL') });
}

export interface NativeAdd {
  id: string;
  netnsPath: string;
  /** berth-netns makes the namespace (bind mount on netnsPath) */
  create: boolean;
  ifName: string;
  hostVeth: string;
  timeoutMs: number;
  /** also make a spare namespace here (netns-spare.ts) */
  spare?: string;
}

/** Address, namespace, veth pair, bridge: the bridge plugin's result and loopback's. */
export async function nativeAdd(nb: NativeBridge, a: NativeAdd, ip: Allocation): Promise<{ result: CniResult; loopback: CniResult }> {
  const args = ['add', '--netns', a.netnsPath, '--bridge', nb.bridge, '--gateway', ip.gateway, '--address', ip.address,
    '--prefix', String(ip.prefixLength), '--host-veth', a.hostVeth, '--ifname', a.ifName];
  if (a.create) args.push('--create');
  if (a.spare) args.push('--spare', a.spare);
  if (nb.hairpin) args.push('--hairpin');
  if (nb.mtu) args.push('--mtu', String(nb.mtu));
  const out = await runNetns(args, `native bridge network ADD for ${a.id}`, a.timeoutMs);
  let macs: { bridgeMac: string; hostMac: string; mac: string };
  try { macs = JSON.parse(out); } catch { throw internal(`berth-netns printed something that is not JSON: ${out.slice(0, 200)}`); }
  const result: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: nb.bridge, mac: macs.bridgeMac },
      { name: a.hostVeth, mac: macs.hostMac },
      { name: a.ifName, mac: macs.mac, sandbox: a.netnsPath },
    ],
    ips: [{ interface: 2, address: `${ip.address}/${ip.prefixLength}`, gateway: ip.gateway }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: {},
  };
  const loopback: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: a.netnsPath }],
    ips: [{ interface: 0, address: '127.0.0.1/8' }, { interface: 0, address: '::1/128' }],
    dns: {},
  };
  return { result, loopback };
}

/** Delete the veth pair and (unless the namespace is the caller's) the namespace. Idempotent. */
export function nativeDel(id: string, o: { netnsPath: string; hostVeth?: string; keepNetns: boolean; timeoutMs: number }): Promise<string> {
  const args = ['del', '--netns', o.netnsPath];
  if (o.hostVeth) args.push('--host-veth', o.hostVeth);
  if (o.keepNetns) args.push('--keep-netns');
  return runNetns(args, `native bridge network DEL for ${id}`, o.timeoutMs);
}

/** Rejects (FAILED_PRECONDITION) with the first drift from what ADD made. */
export async function nativeCheck(nb: NativeBridge, id: string, o: { netnsPath: string; hostVeth: string; ifName: string; result: CniResult; timeoutMs: number }): Promise<void> {
  const [address, prefix] = (o.result.ips?.[0]?.address ?? '').split('/');
  try {
    await runNetns(['check', '--netns', o.netnsPath, '--bridge', nb.bridge, '--host-veth', o.hostVeth, '--ifname', o.ifName,
      '--address', address, '--prefix', prefix], `native bridge network CHECK for ${id} failed`, o.timeoutMs);
  } catch (e) {
    throw new BerthError('FAILED_PRECONDITION', (e as Error).message);
  }
}
