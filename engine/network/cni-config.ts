// Which network the pods join: the first config list in the config dir (sorted by file name, as
// libcni does), else berth's built-in bridge network. A lone plugin config (.conf) is wrapped into
// a one-plugin list so both forms work.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../../lib/errors.js';
import { parseConfList, type ConfList } from './cni-schemas.js';

export const DEFAULT_CONF_DIR = '/etc/berth/cni/net.d';
export const DEFAULT_CNI_PATH = ['/usr/lib/cni', '/opt/cni/bin'];

export interface DefaultNetworkOptions {
  name?: string;        // network name (host-local keeps its allocations under dataDir/<name>)
  bridge?: string;      // host bridge device
  subnet?: string;      // pod subnet, CIDR
  dataDir: string;      // host-local IPAM state
  ipMasq?: boolean;     // masquerade pod traffic leaving the subnet (off unless asked for)
  mtu?: number;
}

/**
 * berth's built-in network: a bridge with host-local IPAM, the bridge as the pods' gateway, portmap
 * for hostPorts. Masquerade is off by default: a pod reaches the host and other pods, and only an
 * operator who sets ipMasq (or writes a conflist) lets pod traffic out of the machine.
 */
export function defaultConfList(o: DefaultNetworkOptions): ConfList {
  const bridge: Record<string, unknown> = {
    type: 'bridge',
    bridge: o.bridge ?? 'berth0',
    isGateway: true,
    ipMasq: o.ipMasq ?? false,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: o.subnet ?? '10.88.0.0/16' }]],
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir: o.dataDir,
    },
  };
  if (o.mtu) bridge.mtu = o.mtu;
  return parseConfList({
    cniVersion: '1.0.0',
    name: o.name ?? 'berth',
    plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true }, snat: true }],
  }, 'built-in default');
}

/** The loopback network every sandbox gets, applied before the pod network (as containerd does). */
export function loopbackConfList(): ConfList {
  return parseConfList({ cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] }, 'built-in loopback');
}

/** Parse one file: a .conflist as is, a .conf/.json single plugin wrapped into a list. */
export function readConfFile(file: string): ConfList {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw invalidArgument(`CNI network config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (file.endsWith('.conflist')) return parseConfList(doc, file);
  const single = doc as Record<string, unknown>;
  if (typeof single !== 'object' || single === null || Array.isArray(single)) throw invalidArgument(`CNI network config ${file} is not a JSON object`);
  const { cniVersion, name, ...plugin } = single;
  return parseConfList({ cniVersion, name, plugins: [plugin] }, file);
}

/** The config files in `dir` libcni would consider, sorted by name; [] when the dir is absent. */
export function listConfFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => /\.(conflist|conf|json)$/.test(n)).sort().map((n) => path.join(dir, n));
}

export interface LoadedConfig { confList: ConfList; source: string }

/** LoadedConfig.source of the built-in network (the one the native driver may run). */
export const BUILTIN_SOURCE = 'built-in default';

/** The network to use: first file in `confDir`, else the built-in default when `fallback` is given. */
export function loadNetworkConfig(confDir: string, fallback?: DefaultNetworkOptions): LoadedConfig | undefined {
  const files = listConfFiles(confDir);
  if (files.length) return { confList: readConfFile(files[0]), source: files[0] };
  if (fallback) return { confList: defaultConfList(fallback), source: BUILTIN_SOURCE };
  return undefined;
}
