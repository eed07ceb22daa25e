// `berth serve`: hosts berth's API sockets over the same on-disk stores the CLI uses. Each server is
// started by its own module; this command only composes them and shuts them down on SIGTERM.
// Containers and pods outlive it (their monitors keep running; state is on disk).
import type { Register } from './index.js';
import path from 'node:path';
// The servers load only when `serve` runs: every other berth command starts faster without them.
import { DEFAULT_CRI_SOCKET } from '../../cri/defaults.js';

interface Closable { close(): Promise<void> }

const collect = (v: string, acc: string[]) => [...acc, v];

/** "registry=mirror" pairs, e.g. docker.io=localhost:5000 */
function parseMirrors(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0 || i === p.length - 1) throw new Error(`--registry-mirror ${JSON.stringify(p)} must be registry=mirror`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export const register: Register = (program, globals) => {
  program.command('serve')
    .description('serve the CRI v1 API (kubelet, crictl) and the Docker Engine API (docker CLI, SDKs) on unix sockets')
    .option('--cri-socket <path>', 'CRI socket path', DEFAULT_CRI_SOCKET)
    .option('--registry-mirror <registry=mirror>', 'pull images of a registry from a mirror (repeatable)', collect, [])
    .option('--insecure-registry <host[:port]>', 'speak plain HTTP to this registry (repeatable)', collect, [])
    .option('--cni-conf-dir <dir>', 'CNI network config directory')
    .option('--docker-socket <path>', 'Docker Engine API socket, mode 0660 (default: <state>/docker.sock = /run/berth/docker.sock)')
    .option('--no-docker', 'do not serve the Docker Engine API')
    .action(async (o: { criSocket: string; registryMirror: string[]; insecureRegistry: string[]; cniConfDir?: string; dockerSocket?: string; docker?: boolean }) => {
      const g = globals();
      const log = (m: string) => process.stderr.write(`berth serve: ${m}\n`);
      const servers: Closable[] = [];
      const { startCriServer } = await import('../../cri/server.js');
      const { startDockerApi } = await import('../../dockerapi/server.js');
      const { ContainerService } = await import('../../engine/service.js');
      const { CgroupPrefetch } = await import('../../engine/cgroup-prefetch.js');
      const { MonitorStandby } = await import('../../shim/monitor-standby.js');
      // one parked process and one set of standby monitors for both front ends, ended after the servers on shutdown
      const cgroupPrefetch = new CgroupPrefetch();
      const monitorStandby = new MonitorStandby();
      const cri = await startCriServer({
        engine: { root: g.root, state: g.state, runtime: process.env.BERTH_RUNTIME_BIN, cgroupPrefetch, monitorStandby },
        socket: o.criSocket, mirrors: parseMirrors(o.registryMirror), insecureRegistries: o.insecureRegistry,
        network: o.cniConfDir ? { confDir: o.cniConfDir } : undefined, log: g.debug ? log : undefined,
      });
      servers.push(cri);
      process.stdout.write(`CRI listening on ${cri.socket}\n`);
      // ---- Docker Engine API (dockerapi/): the docker CLI and SDKs, over the same engine and stores
      if (o.docker !== false) {
        const docker = await startDockerApi({
          socketPath: o.dockerSocket ?? path.join(g.state, 'docker.sock'),
          engine: new ContainerService({ root: g.root, state: g.state, runtime: process.env.BERTH_RUNTIME_BIN, cgroupPrefetch, monitorStandby }),
          insecureRegistries: o.insecureRegistry, debug: g.debug,
        });
        servers.push(docker);
        process.stdout.write(`Docker API listening on ${docker.socketPath}\n`);
      }
      // Removals a killed CLI or server left half done: finished once, off the servers' way (it reports its own failures).
      void cri.ctx.svc.finishInterruptedRemovals();
      await new Promise<void>((resolve) => {
        const stop = () => { Promise.all(servers.map((s) => s.close())).finally(() => Promise.all([cgroupPrefetch.close(), monitorStandby.close()])).finally(resolve); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
};
