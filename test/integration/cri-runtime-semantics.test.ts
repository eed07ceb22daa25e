// CRI runtime semantics critest checks, through a real gRPC client against `cri/main.ts`:
// GetContainerEvents (also for a container that exits by itself), UpdateContainerResources on the
// live cgroup, an ExecSync timeout that kills the exec'd process, pid namespace modes
// (NODE / POD / CONTAINER), and bidirectional / host-to-container mount propagation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { criClient, endCriTest, registryWithBusybox, startCriProcess, type CriClient, type CriProcess } from '../lib/cri.js';

const ready = isRoot && haveRegistry() && fs.existsSync('/usr/bin/skopeo');
let base = '';
let reg: TestRegistry | undefined;
let ref = '';
let srv: CriProcess | undefined;
let c: CriClient;
const hostMounts: string[] = [];

const podConfig = (name: string, pid = 'CONTAINER') => ({
  metadata: { name, namespace: 'sem', uid: `uid-${name}`, attempt: 0 },
  log_directory: path.join(base, 'logs', name),
  linux: { cgroup_parent: `/kubepods/besteffort/pod${name}`, security_context: { namespace_options: { network: 'POD', pid, ipc: 'POD' } } },
});

async function runPod(name: string, pid?: string): Promise<string> {
  return (await c.runtime('RunPodSandbox', { config: podConfig(name, pid) })).pod_sandbox_id;
}

async function startContainer(pod: string, name: string, args: string[], extra: Record<string, unknown> = {}, linux: Record<string, unknown> = {}): Promise<string> {
  const id = (await c.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    config: { metadata: { name, attempt: 0 }, image: { image: ref }, command: ['/bin/sh', '-c'], args, log_path: `${name}.log`, linux, ...extra },
  })).container_id;
  await c.runtime('StartContainer', { container_id: id });
  return id;
}

async function exec(id: string, cmd: string[], timeout = 10): Promise<{ out: string; err: string; code: number }> {
  const r = await c.runtime('ExecSync', { container_id: id, cmd, timeout });
  return { out: Buffer.from(r.stdout).toString(), err: Buffer.from(r.stderr).toString(), code: r.exit_code };
}

async function configOf(id: string): Promise<any> {
  const info = JSON.parse((await c.runtime('ContainerStatus', { container_id: id, verbose: true })).info.info);
  return JSON.parse(fs.readFileSync(path.join(info.bundle, 'config.json'), 'utf8'));
}

async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Host pids whose command line is exactly `argv`. */
function hostPids(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') === want; } catch { return false; }
  }).map(Number);
}

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-cri-sem-');
  ({ reg, ref } = await registryWithBusybox(['mount', 'umount', 'mkdir', 'touch']));
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--loopback-only'] });
  c = criClient(srv.socket);
  await c.image('PullImage', { image: { image: ref } });
});

test.after(async () => {
  if (!ready) return;
  for (const m of hostMounts.reverse()) run('umount', ['-l', m]);
  await endCriTest({ client: c, srv, reg, base });
});

test('GetContainerEvents: created, started, stopped by itself, deleted, with the pod and its containers', async () => {
  if (!ready) return skip('cri runtime semantics', 'needs root, docker-registry and skopeo');
  const pod = await runPod('events');
  const events: any[] = [];
  const stream = (c.raw.runtime as unknown as { GetContainerEvents(req: object): grpc.ClientReadableStream<any> }).GetContainerEvents({});
  stream.on('data', (e: any) => events.push(e));
  stream.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 200)); // the subscription is in place before the first event
  try {
    const id = await startContainer(pod, 'short', ['sleep 1; exit 3']);
    const of = (type: string) => events.find((e) => e.container_id === id && e.container_event_type === type);
    await eventually('CREATED and STARTED', () => of('CONTAINER_CREATED_EVENT') && of('CONTAINER_STARTED_EVENT'));
    // nobody calls StopContainer: the exit alone makes the event
    const stopped = await eventually('STOPPED', () => of('CONTAINER_STOPPED_EVENT'));
    assert.is(stopped.pod_sandbox_status.id, pod);
    assert.is(stopped.pod_sandbox_status.state, 'SANDBOX_READY');
    const mine = stopped.containers_statuses.find((s: any) => s.id === id);
    assert.is(mine.state, 'CONTAINER_EXITED');
    assert.is(mine.exit_code, 3);
    assert.ok(BigInt(stopped.created_at) > 0n);
    await c.runtime('RemoveContainer', { container_id: id });
    const deleted = await eventually('DELETED', () => of('CONTAINER_DELETED_EVENT'));
    assert.is(deleted.pod_sandbox_status.id, pod);
    assert.not.ok(deleted.containers_statuses.some((s: any) => s.id === id));
    // StopContainer on a running one: exactly one STOPPED event
    const long = await startContainer(pod, 'long', ['exec sleep 600']);
    await c.runtime('StopContainer', { container_id: long, timeout: 0 });
    await eventually('STOPPED of a stopped container', () => events.find((e) => e.container_id === long && e.container_event_type === 'CONTAINER_STOPPED_EVENT'));
    await new Promise((r) => setTimeout(r, 500));
    assert.is(events.filter((e) => e.container_id === long && e.container_event_type === 'CONTAINER_STOPPED_EVENT').length, 1);
  } finally {
    stream.cancel();
    await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  }
});

test('GetContainerEvents: a pod\'s own created, started, stopped (also by itself, once), deleted under its sandbox id', async () => {
  if (!ready) return;
  const events: any[] = [];
  const stream = (c.raw.runtime as unknown as { GetContainerEvents(req: object): grpc.ClientReadableStream<any> }).GetContainerEvents({});
  stream.on('data', (e: any) => events.push(e));
  stream.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 200));
  let pod = '';
  try {
    pod = await runPod('podevents');
    const of = (type: string) => events.filter((e) => e.container_id === pod && e.container_event_type === type);
    const started = await eventually('the pod\'s CREATED and STARTED', () => of('CONTAINER_CREATED_EVENT').length && of('CONTAINER_STARTED_EVENT')[0]);
    assert.ok(events.indexOf(of('CONTAINER_CREATED_EVENT')[0]) < events.indexOf(started), 'created before started');
    assert.is(started.pod_sandbox_status.id, pod);
    assert.is(started.pod_sandbox_status.state, 'SANDBOX_READY');
    // the pause process dies with no RPC: the pod's STOPPED comes from its exit, and a later stop adds none
    const pausePid = JSON.parse((await c.runtime('PodSandboxStatus', { pod_sandbox_id: pod, verbose: true })).info.info).pid;
    assert.ok(pausePid > 0);
    process.kill(pausePid, 'SIGKILL');
    const stopped = await eventually('the pod\'s STOPPED', () => of('CONTAINER_STOPPED_EVENT')[0]);
    assert.is(stopped.pod_sandbox_status.state, 'SANDBOX_NOTREADY');
    await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
    const deleted = await eventually('the pod\'s DELETED', () => of('CONTAINER_DELETED_EVENT')[0]);
    assert.is(deleted.pod_sandbox_status, null, 'the pod is gone');
    assert.is(of('CONTAINER_STOPPED_EVENT').length, 1);
    pod = '';
    // a pod stopped by StopPodSandbox: one STOPPED too
    pod = await runPod('podevents2');
    await eventually('the second pod\'s STARTED', () => of('CONTAINER_STARTED_EVENT')[0]);
    await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
    await eventually('the second pod\'s STOPPED', () => of('CONTAINER_STOPPED_EVENT')[0]);
    await new Promise((r) => setTimeout(r, 300));
    assert.is(of('CONTAINER_STOPPED_EVENT').length, 1);
  } finally {
    stream.cancel();
    if (pod) {
      await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
      await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
    }
  }
});

test('UpdateContainerResources: the live cgroup, config.json and ContainerStatus.resources change', async () => {
  if (!ready) return;
  const pod = await runPod('update');
  const id = await startContainer(pod, 'upd', ['exec sleep 600'], {}, { resources: { memory_limit_in_bytes: 128 * 1024 * 1024, cpu_shares: 256 } });
  const cg = (await configOf(id)).linux.cgroupsPath as string;
  const v1 = fs.existsSync('/sys/fs/cgroup/memory/berth');
  const memFile = v1 ? `/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes` : `/sys/fs/cgroup${cg}/memory.max`;
  const cpuFile = v1 ? `/sys/fs/cgroup/cpu${cg}/cpu.cfs_quota_us` : `/sys/fs/cgroup${cg}/cpu.max`;
  assert.is(fs.readFileSync(memFile, 'utf8').trim(), String(128 * 1024 * 1024));
  await c.runtime('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 64 * 1024 * 1024, cpu_period: 100000, cpu_quota: 50000 } });
  assert.is(fs.readFileSync(memFile, 'utf8').trim(), String(64 * 1024 * 1024));
  assert.match(fs.readFileSync(cpuFile, 'utf8').trim(), v1 ? /^50000$/ : /^50000 100000$/);
  const res = (await configOf(id)).linux.resources;
  assert.is(res.memory.limit, 64 * 1024 * 1024);
  assert.equal([res.cpu.quota, res.cpu.period], [50000, 100000]);
  // as last set: the limit given at create changed, the shares given at create stayed
  const linux = (await c.runtime('ContainerStatus', { container_id: id })).status.resources.linux;
  assert.equal([linux.memory_limit_in_bytes, linux.cpu_quota, linux.cpu_period, linux.cpu_shares], [String(64 * 1024 * 1024), '50000', '100000', '256']);
  // zero values are CRI's "unset": the limits stay
  await c.runtime('UpdateContainerResources', { container_id: id, linux: {} });
  assert.is(fs.readFileSync(memFile, 'utf8').trim(), String(64 * 1024 * 1024));
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});

test('ExecSync timeout: DEADLINE_EXCEEDED and the exec\'d process is killed', async () => {
  if (!ready) return;
  const pod = await runPod('exectimeout');
  const id = await startContainer(pod, 'sleeper', ['exec sleep 600']);
  const argv = ['sleep', '4321'];
  const call = c.runtime('ExecSync', { container_id: id, cmd: argv, timeout: 2 });
  const seen = await eventually('the exec\'d sleep', () => hostPids(argv).length > 0 || undefined);
  assert.ok(seen);
  try { await call; assert.unreachable('ExecSync should time out'); } catch (e) {
    assert.is((e as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
  }
  await eventually('the timed-out process to be gone', () => hostPids(argv).length === 0 || undefined, 5000);
  // the container itself is untouched
  assert.is((await exec(id, ['echo', 'alive'])).out, 'alive\n');
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});

test('pid namespace: NODE sees the host, POD sees pause as pid 1, CONTAINER its own process', async () => {
  if (!ready) return;
  const cmdline1 = async (id: string) => (await exec(id, ['cat', '/proc/1/cmdline'])).out.split('\0').filter(Boolean).join(' ');
  const podPod = await runPod('pidpod', 'POD');
  const inPod = await startContainer(podPod, 'p', ['exec sleep 601'], {}, { security_context: { namespace_options: { pid: 'POD' } } });
  assert.is(await cmdline1(inPod), '/pause');
  const nodePod = await runPod('pidnode', 'NODE');
  const onNode = await startContainer(nodePod, 'n', ['exec sleep 602'], {}, { security_context: { namespace_options: { pid: 'NODE' } } });
  assert.is(await cmdline1(onNode), fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean).join(' '));
  const ownPod = await runPod('pidown', 'CONTAINER');
  const own = await startContainer(ownPod, 'o', ['exec sleep 603'], {}, { security_context: { namespace_options: { pid: 'CONTAINER' } } });
  assert.is(await cmdline1(own), 'sleep 603');
  for (const p of [podPod, nodePod, ownPod]) {
    await c.runtime('StopPodSandbox', { pod_sandbox_id: p });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: p });
  }
});

test('mount propagation: BIDIRECTIONAL goes both ways, HOST_TO_CONTAINER only inwards, nothing else leaks', async () => {
  if (!ready) return;
  const shared = (name: string) => {
    const d = path.join(base, name);
    fs.mkdirSync(d, { recursive: true });
    assert.is(run('mount', ['--bind', d, d]).status, 0);
    hostMounts.push(d);
    assert.is(run('mount', ['--make-rshared', d]).status, 0);
    return d;
  };
  const tmpfsAt = (d: string) => { fs.mkdirSync(d, { recursive: true }); assert.is(run('mount', ['-t', 'tmpfs', 'tmpfs', d]).status, 0); hostMounts.push(d); };
  const bi = shared('bi');
  const slave = shared('slave');
  const pod = await runPod('prop');
  const id = await startContainer(pod, 'prop', ['exec sleep 600'], {
    mounts: [
      { container_path: '/bi', host_path: bi, propagation: 'PROPAGATION_BIDIRECTIONAL' },
      { container_path: '/slave', host_path: slave, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    ],
  }, { security_context: { privileged: true } });
  // host -> container, both modes
  for (const d of [bi, slave]) {
    tmpfsAt(path.join(d, 'from-host'));
    fs.writeFileSync(path.join(d, 'from-host', 'flag'), 'x');
  }
  assert.is((await exec(id, ['ls', '/bi/from-host'])).out.trim(), 'flag');
  assert.is((await exec(id, ['ls', '/slave/from-host'])).out.trim(), 'flag');
  // container -> host only through the bidirectional mount
  for (const d of ['/bi', '/slave']) {
    const r = await exec(id, ['sh', '-c', `mkdir -p ${d}/inner && mount -t tmpfs tmpfs ${d}/inner && touch ${d}/inner/from-container`]);
    assert.is(r.code, 0, r.err);
  }
  hostMounts.push(path.join(bi, 'inner'));
  assert.ok(fs.existsSync(path.join(bi, 'inner', 'from-container')), 'a mount made in the container shows on the host');
  assert.not.ok(fs.existsSync(path.join(slave, 'inner', 'from-container')), 'a slave mount does not propagate outwards');
  // the container's own mounts (proc, dev, sys...) stay inside even with a shared root
  const rootfs = (await configOf(id)).root.path as string;
  const leaked = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(rootfs + '/'));
  assert.equal(leaked, []);
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});

test.run();
