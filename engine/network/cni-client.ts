// A CNI 1.0 client for network config lists: ADD runs the plugins in order, each one handed the
// previous plugin's result; DEL runs them in reverse with the cached ADD result; CHECK in order
// with that result. Runtime config (portMappings) goes only to plugins that declare the capability.
import { failedPrecondition } from '../../lib/errors.js';
import { execPlugin, type CniCommand } from './cni-exec.js';
import type { CniResult, ConfList, PluginConf } from './cni-schemas.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifName: string;
  args?: Record<string, string>;
  capabilityArgs?: { portMappings?: PortMapping[] };
}

export interface ClientOptions { cniPath: string[]; timeoutMs: number }

function pluginConfig(list: ConfList, plugin: PluginConf, rt: RuntimeConf, prevResult: CniResult | undefined): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) conf.prevResult = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, wanted] of Object.entries(plugin.capabilities ?? {})) {
    const v = (rt.capabilityArgs as Record<string, unknown> | undefined)?.[cap];
    if (wanted && v !== undefined) runtimeConfig[cap] = v;
  }
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  return conf;
}

function invoke(command: CniCommand, list: ConfList, plugin: PluginConf, rt: RuntimeConf, prev: CniResult | undefined, o: ClientOptions) {
  return execPlugin(plugin.type, pluginConfig(list, plugin, rt, prev), {
    command, containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, args: rt.args, cniPath: o.cniPath, timeoutMs: o.timeoutMs,
  });
}

/** `prev`: a result to chain onto (the native bridge driver's, for portmap). */
export async function addNetworkList(list: ConfList, rt: RuntimeConf, o: ClientOptions, prev?: CniResult): Promise<CniResult> {
  for (const plugin of list.plugins) {
    const r = await invoke('ADD', list, plugin, rt, prev, o);
    // ADD must print a result; a chained plugin that prints nothing would break the chain silently.
    if (!r) throw failedPrecondition(`CNI plugin ${plugin.type} ADD for ${rt.containerId} printed no result`);
    prev = r;
  }
  return prev as CniResult;
}

export async function delNetworkList(list: ConfList, rt: RuntimeConf, cached: CniResult | undefined, o: ClientOptions): Promise<void> {
  for (const plugin of [...list.plugins].reverse()) await invoke('DEL', list, plugin, rt, cached, o);
}

export async function checkNetworkList(list: ConfList, rt: RuntimeConf, cached: CniResult, o: ClientOptions): Promise<void> {
  if (list.disableCheck) return;
  const [major, minor] = list.cniVersion.split('.').map(Number);
  if (major === 0 && minor < 4) throw failedPrecondition(`CNI network ${list.name}: CHECK needs cniVersion 0.4.0 or later, config has ${list.cniVersion}`);
  for (const plugin of list.plugins) await invoke('CHECK', list, plugin, rt, cached, o);
}
