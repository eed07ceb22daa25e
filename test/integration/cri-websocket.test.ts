// CRI streaming over WebSocket (what crictl 1.30+ and kubelets >= 1.29 try before SPDY): Exec,
// Attach and PortForward URLs from the real gRPC server, driven by a `ws` client speaking the
// kubelet's channel protocols (v5 and v4 binary, v4 base64; port-forward's port-numbered channels).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { criClient, endCriTest, registryWithBusybox, startCriProcess, type CriClient, type CriProcess } from '../lib/cri.js';

const ready = isRoot && haveRegistry() && fs.existsSync('/usr/bin/skopeo');
let base = '';
let reg: TestRegistry | undefined;
let ref = '';
let srv: CriProcess | undefined;
let c: CriClient;
let pod = '';
let sleeper = '';

interface Session { ws: WebSocket; frames: { ch: number; data: Buffer }[]; closed: Promise<void>; on(ch: number): string; send(ch: number, data: string | Buffer): void }

/** Opens a WebSocket on a streaming URL; base64 protocols carry text frames. */
async function open(url: string, protocol?: string): Promise<Session> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocol ? [protocol] : []);
  const b64 = Boolean(protocol?.includes('base64'));
  const frames: Session['frames'] = [];
  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    if (b64) { assert.not.ok(isBinary, 'base64 protocols send text frames'); const t = raw.toString(); frames.push({ ch: t.charCodeAt(0) - 48, data: Buffer.from(t.slice(1), 'base64') }); }
    else frames.push({ ch: raw[0], data: raw.subarray(1) });
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); ws.once('unexpected-response', (_r, res) => reject(new Error(`HTTP ${res.statusCode}`))); });
  return {
    ws, frames, closed,
    on: (ch) => Buffer.concat(frames.filter((f) => f.ch === ch).map((f) => f.data)).toString(),
    send: (ch, data) => {
      const body = Buffer.from(data);
      ws.send(b64 ? String.fromCharCode(48 + ch) + body.toString('base64') : Buffer.concat([Buffer.from([ch]), body]));
    },
  };
}

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function closedWithin(s: Session, ms = 10_000): Promise<void> {
  await Promise.race([s.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('the server did not close the session')), ms))]);
}

async function container(name: string, args: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const id = (await c.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    config: { metadata: { name, attempt: 0 }, image: { image: ref }, command: ['/bin/sh', '-c'], args, log_path: `${name}.log`, linux: {}, ...extra },
  })).container_id;
  await c.runtime('StartContainer', { container_id: id });
  return id;
}

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-cri-ws-');
  ({ reg, ref } = await registryWithBusybox(['nc']));
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--loopback-only'] });
  c = criClient(srv.socket);
  await c.image('PullImage', { image: { image: ref } });
  pod = (await c.runtime('RunPodSandbox', { config: { metadata: { name: 'ws', namespace: 'default', uid: 'ws-uid', attempt: 0 }, log_directory: path.join(base, 'logs'), linux: {} } })).pod_sandbox_id;
  sleeper = await container('sleeper', ['exec sleep 600']);
});

test.after(async () => {
  if (!ready) return;
  await endCriTest({ client: c, srv, reg, base });
});

test('exec over v5.channel.k8s.io: stdin and its close signal, stdout, stderr, exit code in the status', async () => {
  if (!ready) return skip('CRI WebSocket streaming', 'needs root, docker-registry and skopeo');
  const { url } = await c.runtime('Exec', { container_id: sleeper, cmd: ['sh', '-c', 'cat; echo done >&2; exit 7'], stdin: true, stdout: true, stderr: true });
  const s = await open(url, 'v5.channel.k8s.io');
  assert.is(s.ws.protocol, 'v5.channel.k8s.io');
  await until('the opening message', () => s.frames.length > 0);
  assert.equal([s.frames[0].ch, s.frames[0].data.length], [1, 0], 'an empty message on stdout opens the session');
  s.send(0, 'hello\n');
  s.send(255, Buffer.from([0])); // v5: close stdin
  await closedWithin(s);
  assert.is(s.on(1), 'hello\n');
  assert.is(s.on(2), 'done\n');
  const status = JSON.parse(s.on(3));
  assert.is(status.status, 'Failure');
  assert.is(status.reason, 'NonZeroExitCode');
  assert.is(status.details.causes[0].message, '7');
});

test('exec over v4.base64.channel.k8s.io: text frames, Success', async () => {
  if (!ready) return;
  const { url } = await c.runtime('Exec', { container_id: sleeper, cmd: ['echo', 'hi there'], stdout: true });
  const s = await open(url, 'v4.base64.channel.k8s.io');
  await closedWithin(s);
  assert.is(s.on(1), 'hi there\n');
  assert.is(JSON.parse(s.on(3)).status, 'Success');
});

test('exec with a terminal: the resize channel sets its size', async () => {
  if (!ready) return;
  const argv = ['sleep', '7.5'];
  const { url } = await c.runtime('Exec', { container_id: sleeper, cmd: argv, tty: true, stdout: true });
  const s = await open(url, 'v4.channel.k8s.io');
  s.send(4, JSON.stringify({ Width: 123, Height: 45 }));
  // busybox-static's stty cannot read a terminal: the host's stty reads the exec's pty instead
  const want = argv.join('\0') + '\0';
  const find = () => fs.readdirSync('/proc').find((d) => /^\d+$/.test(d) && (() => { try { return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') === want; } catch { return false; } })());
  let pid: string | undefined;
  await until('the exec\'d process', () => (pid = find()) !== undefined);
  let size = '';
  await until('the new size', () => (size = run('stty', ['-F', `/proc/${pid}/fd/1`, 'size']).stdout.trim()) === '45 123', 5000).catch(() => undefined);
  assert.is(size, '45 123');
  // and a later resize while it runs
  s.send(4, JSON.stringify({ Width: 77, Height: 22 }));
  await until('the second size', () => run('stty', ['-F', `/proc/${pid}/fd/1`, 'size']).stdout.trim() === '22 77', 5000);
  s.ws.close();
  await s.closed;
});

test('attach over v5: stdin reaches the container, its output comes back', async () => {
  if (!ready) return;
  const id = await container('catter', ['exec cat'], { stdin: true });
  const { url } = await c.runtime('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
  const s = await open(url, 'v5.channel.k8s.io');
  s.send(0, 'ping\n');
  await until('the echo', () => s.on(1) === 'ping\n');
  s.send(0, 'pong\n');
  await until('the second echo', () => s.on(1) === 'ping\npong\n');
  s.ws.close();
  await s.closed;
});

test('attach: without stdin_once stdin outlives each client (detach, stdin close); with it, the first client to leave closes it', async () => {
  if (!ready) return;
  const loop = ['while read l; do echo "got $l"; done; echo eof'];
  const keeper = await container('keeper', [`${loop[0]}; exec sleep 600`], { stdin: true, stdin_once: false });
  const attach = async () => open((await c.runtime('Attach', { container_id: keeper, stdin: true, stdout: true })).url, 'v5.channel.k8s.io');
  const s1 = await attach();
  s1.send(0, 'a\n');
  await until('the first line', () => s1.on(1) === 'got a\n');
  s1.ws.close(); // a client that detaches
  await s1.closed;
  const s2 = await attach();
  s2.send(0, 'b\n');
  await until('a line after a detach', () => s2.on(1) === 'got b\n');
  s2.send(255, Buffer.from([0])); // a client whose stdin ends: its attach ends, the container's stdin stays
  await closedWithin(s2);
  assert.is(JSON.parse(s2.on(3)).status, 'Success');
  const s3 = await attach();
  s3.send(0, 'c\n');
  await until('a line after a closed stdin channel', () => s3.on(1) === 'got c\n');
  s3.ws.close();
  await s3.closed;
  assert.is((await c.runtime('ContainerStatus', { container_id: keeper })).status.state, 'CONTAINER_RUNNING');

  const once = await container('once', loop, { stdin: true, stdin_once: true });
  const s4 = await open((await c.runtime('Attach', { container_id: once, stdin: true, stdout: true })).url, 'v5.channel.k8s.io');
  s4.send(0, 'x\n');
  await until('the line', () => s4.on(1) === 'got x\n');
  s4.ws.close();
  await s4.closed;
  const status = async () => (await c.runtime('ContainerStatus', { container_id: once })).status;
  let st = await status();
  for (const end = Date.now() + 10_000; st.state !== 'CONTAINER_EXITED' && Date.now() < end; st = await status()) await new Promise((r) => setTimeout(r, 50));
  assert.is(st.state, 'CONTAINER_EXITED', 'the loop read EOF once the client left');
  assert.is(st.exit_code, 0);
});

test('port-forward over WebSocket: port-numbered channels to a server in the pod', async () => {
  if (!ready) return;
  await container('echo-server', ['exec nc -ll -p 8080 -e cat']);
  const { url } = await c.runtime('PortForward', { pod_sandbox_id: pod, port: [8080] });
  // the listener may need a moment: each WebSocket forwards one connection
  let got = '';
  for (let attempt = 0; attempt < 20 && got !== 'over ws\n'; attempt++) {
    const { url: u } = attempt === 0 ? { url } : await c.runtime('PortForward', { pod_sandbox_id: pod, port: [8080] });
    const s = await open(`${u}?port=8080`, 'v4.channel.k8s.io');
    await until('the port announcements', () => s.frames.filter((f) => f.data.length === 2).length >= 2);
    assert.equal(s.frames.slice(0, 2).map((f) => [f.ch, f.data.readUInt16LE(0)]), [[0, 8080], [1, 8080]]);
    s.send(0, 'over ws\n');
    await Promise.race([until('the echo', () => s.frames.slice(2).some((f) => f.ch === 0), 3000).catch(() => undefined), s.closed]);
    got = Buffer.concat(s.frames.slice(2).filter((f) => f.ch === 0).map((f) => f.data)).toString();
    s.ws.close();
    await s.closed;
    if (got !== 'over ws\n') await new Promise((r) => setTimeout(r, 200));
  }
  assert.is(got, 'over ws\n');
});

test('a WebSocket exec without a known protocol is refused; a used token is gone', async () => {
  if (!ready) return;
  const { url } = await c.runtime('Exec', { container_id: sleeper, cmd: ['true'], stdout: true });
  try { await open(url, 'made.up.protocol'); assert.unreachable('should be refused'); } catch (e) { assert.match((e as Error).message, /HTTP 400/); }
  try { await open(url, 'v5.channel.k8s.io'); assert.unreachable('the token is single-use'); } catch (e) { assert.match((e as Error).message, /HTTP 404/); }
});

test.run();
