// RuntimeService: Version, Status, RuntimeConfig, UpdateRuntimeConfig.
import { createRequire } from 'node:module';
import type { CriContext } from './context.js';
import type { Msg } from './grpc-status.js';

const require = createRequire(import.meta.url);
const VERSION: string = (() => { try { return require('../package.json').version as string; } catch { return '0.0.0'; } })();

export function runtimeHandlers(ctx: CriContext) {
  return {
    Version: () => ({ version: '0.1.0', runtime_name: 'berth', runtime_version: VERSION, runtime_api_version: 'v1' }),
    Status: (req: Msg) => {
      const net = ctx.net.networkReady();
      const conditions = [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: net.ready, reason: net.ready ? '' : (net.reason ?? 'NetworkPluginNotReady'), message: net.message ?? '' },
      ];
      const info: Record<string, string> = {};
      if (req.verbose) info.config = JSON.stringify({ root: ctx.svc.cfg.root, state: ctx.svc.cfg.state, runtime: ctx.svc.layout.runtimePath(), podCidr: ctx.podCidr, cgroupDriver: 'cgroupfs' });
      return { status: { conditions }, info, runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: false, user_namespaces: false } }] };
    },
    RuntimeConfig: () => ({ linux: { cgroup_driver: 'CGROUPFS' } }),
    UpdateRuntimeConfig: (req: Msg) => {
      ctx.podCidr = req.runtime_config?.network_config?.pod_cidr ?? ctx.podCidr;
      ctx.log(`pod CIDR is now ${ctx.podCidr || '(none)'}`);
      return {};
    },
  };
}
