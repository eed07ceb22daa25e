// CRI test helpers: a berth CRI server in its own process on a temporary socket, and a real gRPC
// client speaking cri/api.proto to it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../../cri/proto.js';
import { REPO, run, tmpDir } from './harness.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { busyboxEntries, makeImage, makeLayer, writeLayout } from './image-builder.js';

export interface CriClient {
  runtime: (method: string, req?: Record<string, unknown>, timeoutMs?: number) => Promise<any>;
  image: (method: string, req?: Record<string, unknown>, timeoutMs?: number) => Promise<any>;
  raw: { runtime: grpc.Client; image: grpc.Client };
  close(): void;
}

export function criClient(socket: string): CriClient {
  const { RuntimeService, ImageService } = loadCri();
  const rt = new RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());
  const im = new ImageService(`unix:${socket}`, grpc.credentials.createInsecure());
  const call = (c: grpc.Client) => (method: string, req: Record<string, unknown> = {}, timeoutMs = 60_000) => new Promise<any>((resolve, reject) => {
    const fn = (c as unknown as Record<string, Function>)[method];
    if (!fn) { reject(new Error(`no method ${method}`)); return; }
    fn.call(c, req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
  });
  return { runtime: call(rt), image: call(im), raw: { runtime: rt, image: im }, close: () => { rt.close(); im.close(); } };
}

export interface CriProcess { child: ChildProcess; socket: string; output: () => string; stop(): Promise<void> }

/** Starts cri/main.ts; resolves once the socket accepts connections. */
export async function startCriProcess(o: { root: string; state: string; socket: string; extra?: string[]; env?: NodeJS.ProcessEnv }): Promise<CriProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'cri/main.ts'), '--root', o.root, '--state', o.state, '--socket', o.socket, '--debug', ...(o.extra ?? [])], {
    cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(o.env ?? {}) },
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const deadline = Date.now() + 30_000;
  while (!out.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`CRI server exited: ${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`CRI server did not start: ${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child, socket: o.socket, output: () => out,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => { if (child.exitCode === null) child.kill('SIGKILL'); }, 5000).unref();
    }),
  };
}

export function socketMode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

/** Pushes a busybox-static image (sh, sleep, echo, cat, ... and `extraApplets`) to a fresh local registry as <host>/cri/bb:latest. */
export async function registryWithBusybox(extraApplets: string[] = []): Promise<{ reg: TestRegistry; ref: string }> {
  const reg = await startRegistry();
  const layer = await makeLayer([
    ...busyboxEntries(['sh', 'echo', 'true', 'false', 'sleep', 'cat', 'ls', 'env', 'id', 'hostname', 'printf', 'head', 'ps', 'kill', ...extraApplets]),
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'etc/group', content: 'root:x:0:\n' },
  ]);
  const img = makeImage({ layers: [layer], config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] } });
  const dir = tmpDir('berth-cri-layout-');
  writeLayout(dir, img.manifest, [img]);
  const ref = `${reg.host}/cri/bb:latest`;
  const r = run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${dir}:latest`, `docker://${ref}`]);
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) { await reg.stop(); throw new Error(`skopeo copy failed: ${r.stderr}`); }
  return { reg, ref };
}

/** The network library makes <state>/netns a shared bind mount of itself (as `ip netns` does): undo it. */
export function releaseNetnsDir(dir: string): void {
  for (let i = 0; i < 4 && fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir); i++) {
    run('umount', ['-l', dir]);
  }
}

/**
 * The kubepods parents (/berth/kubepods/<qos>) that pods created: removed when empty, so a test leaves
 * no cgroup behind. Another run's pods keep theirs (rmdir refuses a non-empty dir).
 */
export function removeEmptyKubepods(): void {
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const base = path.join('/sys/fs/cgroup', h, 'berth', 'kubepods');
    for (const qos of ['besteffort', 'burstable', '']) {
      try { fs.rmdirSync(qos ? path.join(base, qos) : base); } catch { /* absent, or still in use */ }
    }
  }
}

/**
 * The end of a CRI test file: removes whatever pods a failed test left (through the server), stops
 * the server and the registry, and removes the test's dir, unless mounts remain below it (a server
 * that died leaves containers mounted: removing through their root filesystems would be wrong).
 */
export async function endCriTest(o: { client?: CriClient; srv?: CriProcess; reg?: TestRegistry; base: string }): Promise<void> {
  try {
    for (const p of (await o.client!.runtime('ListPodSandbox', {})).items) {
      await o.client!.runtime('StopPodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await o.client!.runtime('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    }
  } catch { /* no client, or the server is gone */ }
  o.client?.close();
  await o.srv?.stop();
  await o.reg?.stop();
  releaseNetnsDir(path.join(o.base, 'state', 'netns'));
  removeEmptyKubepods();
  if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${o.base}/`)) {
    console.error(`left ${o.base}: mounts remain below it`);
    return;
  }
  fs.rmSync(o.base, { recursive: true, force: true });
}

