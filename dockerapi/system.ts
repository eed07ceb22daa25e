// /_ping, /version, /info, /events: what clients ask first. The API version advertised here is what
// the docker CLI negotiates down to (v28 refuses anything below 1.40).
import fs from 'node:fs';
import os from 'node:os';
import { sendJson } from './http-util.js';
import { resOf, type Ctx, type Route } from './route.js';
import type { DockerEvent } from './events.js';
import { invalidArgument } from '../lib/errors.js';

export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';
export const SERVER_VERSION = '0.1.0-berth';

export function pingHeaders(): Record<string, string> {
  return {
    'API-Version': API_VERSION, 'OSType': 'linux', 'Docker-Experimental': 'false',
    'Builder-Version': '1', 'Cache-Control': 'no-cache, no-store, must-revalidate', 'Pragma': 'no-cache',
  };
}

const route = (method: string, p: string, handle: (c: Ctx) => Promise<void>): Route => ({ method, path: new RegExp(`^${p}$`), handle });

const arch = () => ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' } as Record<string, string>)[process.arch] ?? process.arch;

function ping(c: Ctx): Promise<void> {
  const res = resOf(c);
  const body = c.req.method === 'HEAD' ? '' : 'OK';
  res.writeHead(200, { ...pingHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  return Promise.resolve();
}

function cgroupVersion(): string {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    return m ? m[1] : 'Linux';
  } catch { return 'Linux'; }
}

export const systemRoutes: Route[] = [
  route('GET', '/_ping', ping),
  route('HEAD', '/_ping', ping),

  route('GET', '/version', async (c) => {
    const k = os.release();
    sendJson(resOf(c), 200, {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: SERVER_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: arch(), KernelVersion: k } }],
      Version: SERVER_VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'berth', GoVersion: `node${process.versions.node}`,
      Os: 'linux', Arch: arch(), KernelVersion: k, BuildTime: '',
    });
  }),

  route('GET', '/info', async (c) => {
    const views = c.b.engine.list({ all: true });
    const count = (s: string) => views.filter((v) => v.status === s).length;
    sendJson(resOf(c), 200, {
      ID: 'berth', Containers: views.length, ContainersRunning: count('running'), ContainersPaused: count('paused'),
      ContainersStopped: views.length - count('running') - count('paused'), Images: c.b.engine.images.list().length,
      Driver: 'overlay', DriverStatus: [], Plugins: { Volume: ['local'], Network: ['host', 'null'], Authorization: null, Log: [] },
      MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: false, PidsLimit: true,
      IPv4Forwarding: false, Debug: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs', CgroupVersion: cgroupVersion(), NEventsListener: 0, KernelVersion: os.release(),
      OperatingSystem: osName(), OSVersion: '', OSType: 'linux', Architecture: os.machine(), IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] }, NCPU: os.cpus().length, MemTotal: os.totalmem(),
      DockerRootDir: c.b.engine.cfg.root, Name: os.hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: SERVER_VERSION,
      Runtimes: { berth: { path: c.b.engine.layout.runtimePath() } }, DefaultRuntime: 'berth', Swarm: { LocalNodeState: 'inactive', ControlAvailable: false, NodeID: '', NodeAddr: '' },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: '', SecurityOptions: ['name=seccomp,profile=builtin'], Warnings: [],
    });
  }),

  route('GET', '/events', async (c) => {
    const res = resOf(c);
    const until = c.query.get('until');
    const untilMs = until ? Number(until) * 1000 : undefined;
    if (until && !Number.isFinite(untilMs)) throw invalidArgument(`invalid until ${until}`);
    let f: Record<string, string[]> = {};
    const raw = c.query.get('filters');
    if (raw) {
      try {
        for (const [k, v] of Object.entries(JSON.parse(raw) as Record<string, unknown>)) f[k] = Array.isArray(v) ? v.map(String) : Object.keys(v as object);
      } catch { throw invalidArgument(`invalid filters: ${raw}`); }
    }
    const want = (e: DockerEvent) => Object.entries(f).every(([k, vals]) => !vals.length || vals.some((x) => {
      if (k === 'type') return e.Type === x;
      if (k === 'event') return e.Action === x;
      if (k === 'container') return e.Type === 'container' && (e.Actor.ID.startsWith(x) || e.Actor.Attributes.name === x);
      if (k === 'image') return e.Actor.Attributes.image === x || e.Actor.Attributes.name === x;
      return true;
    }));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const off = c.b.events.subscribe((e) => { if (want(e)) res.write(JSON.stringify(e) + '\n'); });
      const done = () => { off(); if (timer) clearTimeout(timer); resolve(); };
      res.on('close', done);
      if (untilMs !== undefined) timer = setTimeout(() => { res.end(); done(); }, Math.max(0, untilMs - Date.now()));
    });
  }),
];
