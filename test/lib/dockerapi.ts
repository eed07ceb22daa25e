// Helpers for the Docker API tests: a berth Docker API server in its own process (as `berth serve`
// runs it) over a temp --root/--state, a busybox-static image in a local registry, and the real
// docker CLI pointed at the server's socket.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './harness.js';
import { startRegistry, killAndWait, type TestRegistry } from './registry.js';
import { natChains, readSysctl, removePortmapChains, uniqueNetwork, writeSysctl } from './network.js';
import { busyboxEntries, makeImage, makeLayer, writeLayout } from './image-builder.js';

export const DOCKER_BIN = '/usr/local/bin/docker';

export function haveDocker(): boolean {
  return fs.existsSync(DOCKER_BIN);
}

export interface ApiServer {
  socket: string;
  root: string;
  state: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

/**
 * Containers made through the Docker API join a bridge network by default (as with dockerd): a
 * test-only bridge and subnet as berth's built-in network (BERTH_DEFAULT_NETWORK, inherited by a
 * server process; `confDir` is empty), so it runs natively unless BERTH_NET_DRIVER=cni. undo() puts
 * back what setup changed on the host (the bridge, portmap's chains, ip_forward) and releases the
 * netns dir's bind mount.
 */
export function testCniNetwork(dir: string, stateDir: string): { confDir: string; undo(): void } {
  const netw = uniqueNetwork();
  const chainsBefore = natChains();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const confDir = path.join(dir, 'test-cni');
  fs.mkdirSync(confDir);
  process.env.BERTH_DEFAULT_NETWORK = JSON.stringify({ name: netw.name, bridge: netw.bridge, subnet: netw.subnet, ipMasq: false });
  return {
    confDir,
    undo() {
      delete process.env.BERTH_DEFAULT_NETWORK;
      unmountBelow(stateDir);
      spawnSync('ip', ['link', 'del', netw.bridge], { stdio: 'ignore' });
      removePortmapChains(chainsBefore);
      writeSysctl('net.ipv4.ip_forward', forwardBefore);
    },
  };
}

/**
 * `serve`: run the bundled `berth serve` (what a deployment runs; the bench measures it) instead of
 * dockerapi/main.ts from the sources under tsx with --debug (what the tests run).
 */
export async function startApiServer(opts: { serve?: boolean } = {}): Promise<ApiServer> {
  const root = tmpDir('berth-dapi-root-');
  const state = tmpDir('berth-dapi-state-');
  const socket = path.join(state, 'docker.sock');
  // a caller that chose a CNI config (BERTH_CNI_CONF_DIR) cleans up after it itself
  const network = process.env.BERTH_CNI_CONF_DIR ? undefined : testCniNetwork(root, state);
  // `serve` through bin/berth, as a user starts it: its client execs Node with the daemon's heap flags
  const [cmd, argv] = opts.serve
    ? [path.join(REPO, 'bin', 'berth'), ['--root', root, '--state', state, 'serve', '--docker-socket', socket, '--cri-socket', path.join(state, 'cri.sock')]]
    : [process.execPath, ['--import', 'tsx', path.join(REPO, 'dockerapi/main.ts'), '--socket', socket, '--root', root, '--state', state, '--debug']];
  const ready = opts.serve ? 'Docker API listening on' : 'listening on';
  const child = spawn(cmd, argv,
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(network ? { BERTH_CNI_CONF_DIR: network.confDir } : {}) } });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const onExit = () => { try { if (child.exitCode === null) child.kill('SIGKILL'); } catch { /* gone */ } };
  process.once('exit', onExit);
  for (let i = 0; i < 400 && !out.includes(ready); i++) {
    if (child.exitCode !== null) throw new Error(`docker API server exited: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!out.includes(ready)) throw new Error(`docker API server did not start: ${out}`);
  return {
    socket, root, state, child, log: () => out,
    async stop() {
      process.removeListener('exit', onExit);
      // containers outlive the server (as with dockerd's live-restore): remove them through the API first
      await removeAllContainers(socket).catch(() => undefined);
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
      await killAndWait(child);
      unmountBelow(root);
      unmountBelow(state);
      network?.undo();
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

/** A raw HTTP request over the unix socket (for what the CLI does not show: status codes, bodies). */
export async function api(socket: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json: () => any }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function removeAllContainers(socket: string): Promise<void> {
  const list = (await api(socket, 'GET', '/containers/json?all=1')).json() as { Id: string }[];
  for (const c of list) await api(socket, 'DELETE', `/containers/${c.Id}?force=1`);
}

function unmountBelow(dir: string): void {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir + '/'));
  for (const m of mounts.sort((a, b) => b.length - a.length)) {
    spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
}


export const APPLETS = ['sh', 'echo', 'true', 'false', 'sleep', 'cat', 'ls', 'env', 'id', 'hostname', 'printf', 'head', 'wc', 'stty', 'tty', 'pwd', 'mkdir', 'touch'];

/** Pushes a busybox-static image to a fresh local registry: <host>/t/bb:latest. */
export async function registryWithBusybox(): Promise<{ reg: TestRegistry; ref: string }> {
  const reg = await startRegistry();
  const layer = await makeLayer([
    ...busyboxEntries(APPLETS),
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'etc/group', content: 'root:x:0:\n' },
  ]);
  const img = makeImage({ layers: [layer], config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] } });
  const dir = tmpDir('berth-dapi-layout-');
  writeLayout(dir, img.manifest, [img]);
  const ref = `${reg.host}/t/bb:latest`;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${dir}:latest`, `docker://${ref}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo copy failed: ${err}`))));
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return { reg, ref };
}

export interface DockerResult { status: number | null; stdout: string; stderr: string }

/** The real docker CLI against `socket` (async: the server may be in this process too). */
export function docker(socket: string, args: string[], o: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<DockerResult> {
  return new Promise((resolve) => {
    const cfg = path.join(path.dirname(socket), 'docker-config');
    fs.mkdirSync(cfg, { recursive: true });
    const p = spawn(DOCKER_BIN, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cfg, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout!.on('data', (d) => { stdout += d; });
    p.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n[test] docker ${args.join(' ')} timed out`; p.kill('SIGKILL'); }, o.timeoutMs ?? 60_000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    if (o.input !== undefined) p.stdin!.end(o.input); else p.stdin!.end();
  });
}
