// CRI v1 through a real gRPC client against `cri/main.ts` on a real unix socket: image pull from a
// local registry, a pod sandbox (pause in its own namespaces), containers joining it, ExecSync,
// logs in the CRI format at the kubelet's log path, stop/remove, and a server restart in between.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { criClient, endCriTest, registryWithBusybox, socketMode, startCriProcess, type CriClient, type CriProcess } from '../lib/cri.js';

const ready = isRoot && haveRegistry() && fs.existsSync('/usr/bin/skopeo');
let base = '';
let reg: TestRegistry | undefined;
let ref = '';
let srv: CriProcess | undefined;
let c: CriClient;
let podId = '';
let sleeperId = '';
let pausePid = 0;

async function start() {
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--loopback-only', '--mirror', `docker.io=${reg!.host}`] });
  c = criClient(srv.socket);
}

async function rejectsWith(p: Promise<unknown>, code: grpc.status, re?: RegExp) {
  try { await p; } catch (e) {
    const err = e as grpc.ServiceError;
    assert.is(err.code, code, `expected gRPC code ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    if (re) assert.match(err.details, re);
    return;
  }
  assert.unreachable(`expected ${grpc.status[code]}`);
}

const podConfig = () => ({
  metadata: { name: 'web', namespace: 'default', uid: 'uid-1', attempt: 0 },
  hostname: 'web-pod', log_directory: path.join(base, 'logs', 'web'),
  dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
  labels: { app: 'web' }, annotations: { 'note': 'x' },
  linux: { cgroup_parent: '/kubepods/besteffort/poduid-1', security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
});

const containerConfig = (name: string, args: string[], extra: Record<string, unknown> = {}) => ({
  pod_sandbox_id: podId,
  config: {
    metadata: { name, attempt: 0 }, image: { image: ref }, command: ['/bin/sh', '-c'], args,
    envs: [{ key: 'GREETING', value: Buffer.from('hi') }], labels: { role: name }, log_path: `${name}/0.log`, ...extra,
  },
  sandbox_config: podConfig(),
});

async function waitState(id: string, state: string, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = (await c.runtime('ContainerStatus', { container_id: id })).status;
    if (s.state === state) return s;
    if (Date.now() > end) assert.unreachable(`container ${id} stayed ${s.state}, wanted ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-cri-');
  ({ reg, ref } = await registryWithBusybox());
  await start();
});

test.after(async () => {
  if (!ready) return;
  await endCriTest({ client: c, srv, reg, base });
});

test('the socket is 0660; Version and Status answer', async () => {
  if (!ready) return skip('cri pod lifecycle', 'needs root, docker-registry and skopeo');
  assert.is(socketMode(srv!.socket), 0o660);
  const v = await c.runtime('Version', { version: 'v1' });
  assert.is(v.runtime_name, 'berth');
  assert.is(v.runtime_api_version, 'v1');
  const s = await c.runtime('Status', { verbose: true });
  const cond = Object.fromEntries(s.status.conditions.map((x: any) => [x.type, x.status]));
  assert.equal(cond, { RuntimeReady: true, NetworkReady: true });
  assert.is((await c.runtime('RuntimeConfig', {})).linux.cgroup_driver, 'CGROUPFS');
});

test('PullImage, ImageStatus, ListImages, ImageFsInfo', async () => {
  if (!ready) return;
  assert.is((await c.image('ImageStatus', { image: { image: ref } })).image, null, 'not pulled yet: absent, not an error');
  const p = await c.image('PullImage', { image: { image: ref } });
  assert.match(p.image_ref, /^sha256:[a-f0-9]{64}$/);
  const st = await c.image('ImageStatus', { image: { image: ref }, verbose: true });
  assert.is(st.image.id, p.image_ref);
  assert.ok(st.image.repo_tags.includes(ref));
  assert.ok(Number(st.image.size) > 0);
  assert.ok(st.info.info.includes('"platform"'));
  const list = await c.image('ListImages', {});
  assert.ok(list.images.some((i: any) => i.id === p.image_ref));
  const fsi = await c.image('ImageFsInfo', {});
  assert.ok(Number(fsi.image_filesystems[0].used_bytes.value) > 0);
  assert.ok(fsi.image_filesystems[0].fs_id.mountpoint.endsWith('/snapshots'));
});

test('PullImage through a registry mirror records the name the kubelet asked for', async () => {
  if (!ready) return;
  const cp = run('skopeo', ['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ref}`, `docker://${reg!.host}/library/mirrored:1`]);
  assert.is(cp.status, 0, cp.stderr);
  const p = await c.image('PullImage', { image: { image: 'mirrored:1' } });
  const st = await c.image('ImageStatus', { image: { image: 'docker.io/library/mirrored:1' } });
  assert.is(st.image.id, p.image_ref);
  assert.ok(st.image.repo_tags.includes('docker.io/library/mirrored:1'), JSON.stringify(st.image.repo_tags));
  await rejectsWith(c.image('PullImage', { image: { image: 'nosuch:1' } }), grpc.status.NOT_FOUND);
});

test('RunPodSandbox: pause in its own namespaces, pod cgroup below /berth, READY', async () => {
  if (!ready) return;
  podId = (await c.runtime('RunPodSandbox', { config: podConfig() })).pod_sandbox_id;
  assert.match(podId, /^[a-f0-9]{64}$/);
  await rejectsWith(c.runtime('RunPodSandbox', { config: podConfig() }), grpc.status.ALREADY_EXISTS, new RegExp(`already exists as ${podId}`));
  const st = await c.runtime('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
  assert.is(st.status.state, 'SANDBOX_READY');
  assert.is(st.status.metadata.name, 'web');
  assert.equal(st.status.labels, { app: 'web' });
  assert.is(st.status.linux.namespaces.options.network, 'POD');
  const info = JSON.parse(st.info.info);
  pausePid = info.pid;
  assert.ok(pausePid > 0);
  assert.is(info.cgroupParent, '/berth/kubepods/besteffort/poduid-1');
  for (const ns of ['net', 'ipc', 'uts']) assert.is.not(fs.readlinkSync(`/proc/${pausePid}/ns/${ns}`), fs.readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace is the pod's own`);
  const cg = fs.readFileSync(`/proc/${pausePid}/cgroup`, 'utf8');
  assert.match(cg, /\/berth\/kubepods\/besteffort\/poduid-1\//);
  // no seccomp asked for the pod: an unconfined pause, as containerd's sandbox (and no new privileges)
  const status = fs.readFileSync(`/proc/${pausePid}/status`, 'utf8');
  assert.match(status, /^Seccomp:\s+0$/m);
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  const list = await c.runtime('ListPodSandbox', { filter: { label_selector: { app: 'web' } } });
  assert.is(list.items.length, 1);
  assert.is((await c.runtime('ListPodSandbox', { filter: { label_selector: { app: 'other' } } })).items.length, 0);
});

test('a pod that asks for RuntimeDefault seccomp gets a filtered pause', async () => {
  if (!ready) return;
  const cfg = podConfig();
  cfg.metadata = { ...cfg.metadata, name: 'sec', uid: 'uid-sec' };
  (cfg.linux.security_context as Record<string, unknown>).seccomp = { profile_type: 'RuntimeDefault' };
  const id = (await c.runtime('RunPodSandbox', { config: cfg })).pod_sandbox_id;
  try {
    const info = JSON.parse((await c.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info.info);
    assert.match(fs.readFileSync(`/proc/${info.pid}/status`, 'utf8'), /^Seccomp:\s+2$/m);
  } finally {
    await c.runtime('StopPodSandbox', { pod_sandbox_id: id });
    await c.runtime('RemovePodSandbox', { pod_sandbox_id: id });
  }
});

test('CreateContainer/StartContainer join the pod: hostname, resolv.conf, shared net+ipc', async () => {
  if (!ready) return;
  sleeperId = (await c.runtime('CreateContainer', containerConfig('sleeper', ['echo started; exec sleep 600']))).container_id;
  // the kubelet's retry of the same name and attempt makes no second container
  await rejectsWith(c.runtime('CreateContainer', containerConfig('sleeper', ['true'])), grpc.status.INVALID_ARGUMENT, new RegExp(`sleeper attempt 0 already exists in pod sandbox ${podId} as ${sleeperId}`));
  let s = (await c.runtime('ContainerStatus', { container_id: sleeperId })).status;
  assert.is(s.state, 'CONTAINER_CREATED');
  await c.runtime('StartContainer', { container_id: sleeperId });
  s = await waitState(sleeperId, 'CONTAINER_RUNNING');
  assert.ok(BigInt(s.started_at) > 0n);
  assert.is(s.log_path, path.join(base, 'logs', 'web', 'sleeper/0.log'));
  const ex = async (cmd: string[]) => c.runtime('ExecSync', { container_id: sleeperId, cmd, timeout: 10 });
  const host = await ex(['hostname']);
  assert.is(Buffer.from(host.stdout).toString().trim(), 'web-pod');
  const resolv = Buffer.from((await ex(['cat', '/etc/resolv.conf'])).stdout).toString();
  assert.match(resolv, /nameserver 10\.96\.0\.10/);
  assert.match(resolv, /search default\.svc\.cluster\.local/);
  assert.match(resolv, /options ndots:5/);
  const env = Buffer.from((await ex(['env'])).stdout).toString();
  assert.match(env, /GREETING=hi/);
  // the container shares the pause process's net and ipc namespaces, not its pid namespace
  const ns = Buffer.from((await ex(['sh', '-c', 'ls -l /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/pid'])).stdout).toString();
  assert.ok(ns.includes(fs.readlinkSync(`/proc/${pausePid}/ns/net`)), ns);
  assert.ok(ns.includes(fs.readlinkSync(`/proc/${pausePid}/ns/ipc`)), ns);
  assert.not.ok(ns.includes(fs.readlinkSync(`/proc/${pausePid}/ns/pid`)), ns);
});

test('ExecSync: exit code, stderr, timeout', async () => {
  if (!ready) return;
  const r = await c.runtime('ExecSync', { container_id: sleeperId, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeout: 10 });
  assert.is(r.exit_code, 3);
  assert.is(Buffer.from(r.stdout).toString(), 'out\n');
  assert.is(Buffer.from(r.stderr).toString(), 'err\n');
  const t0 = Date.now();
  await rejectsWith(c.runtime('ExecSync', { container_id: sleeperId, cmd: ['sleep', '30'], timeout: 1 }), grpc.status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - t0 < 10_000);
});

test('a container that exits: Completed, CRI-format log at the kubelet path; ListContainers filters', async () => {
  if (!ready) return;
  const id = (await c.runtime('CreateContainer', containerConfig('once', ['echo line1; echo line2 >&2']))).container_id;
  await c.runtime('StartContainer', { container_id: id });
  const s = await waitState(id, 'CONTAINER_EXITED');
  assert.is(s.exit_code, 0);
  assert.is(s.reason, 'Completed');
  assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at));
  const log = fs.readFileSync(s.log_path, 'utf8');
  assert.match(log, /^\S+Z stdout F line1$/m);
  assert.match(log, /^\S+Z stderr F line2$/m);
  const all = (await c.runtime('ListContainers', {})).containers;
  assert.is(all.length, 2);
  const running = (await c.runtime('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers;
  assert.equal(running.map((x: any) => x.id), [sleeperId]);
  const byLabel = (await c.runtime('ListContainers', { filter: { label_selector: { role: 'once' } } })).containers;
  assert.equal(byLabel.map((x: any) => x.id), [id]);
  const byPod = (await c.runtime('ListContainers', { filter: { pod_sandbox_id: podId.slice(0, 12) } })).containers;
  assert.is(byPod.length, 2);
  assert.is(byPod[0].pod_sandbox_id, podId);
  assert.not.ok(fs.lstatSync(s.log_path).isSymbolicLink(), 'the monitor writes at the kubelet path itself');
  await c.runtime('RemoveContainer', { container_id: id });
  await c.runtime('RemoveContainer', { container_id: id }); // again: gone is fine
});

test('ReopenContainerLog: after the kubelet renames the log, new lines go to a new file', async () => {
  if (!ready) return;
  const id = (await c.runtime('CreateContainer', containerConfig('ticker', ['while true; do echo tick; sleep 0.1; done']))).container_id;
  await c.runtime('StartContainer', { container_id: id });
  const s = await waitState(id, 'CONTAINER_RUNNING');
  const waitFor = async (f: string) => { const end = Date.now() + 5000; while (!(fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('tick'))) { if (Date.now() > end) assert.unreachable(`no tick in ${f}`); await new Promise((r) => setTimeout(r, 50)); } };
  await waitFor(s.log_path);
  fs.renameSync(s.log_path, s.log_path + '.1');
  await c.runtime('ReopenContainerLog', { container_id: id });
  await waitFor(s.log_path);
  assert.match(fs.readFileSync(s.log_path, 'utf8'), /^\S+ stdout F tick$/m);
  await c.runtime('RemoveContainer', { container_id: id });
  await rejectsWith(c.runtime('ReopenContainerLog', { container_id: id }), grpc.status.NOT_FOUND);
});

test('a container over its memory limit ends OOMKilled', async () => {
  if (!ready) return;
  const id = (await c.runtime('CreateContainer', containerConfig('hog', ['a=$(head -c 200000000 /dev/urandom); echo survived'], {
    linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024, memory_swap_limit_in_bytes: 16 * 1024 * 1024 } },
  }))).container_id;
  await c.runtime('StartContainer', { container_id: id });
  const s = await waitState(id, 'CONTAINER_EXITED', 30_000);
  assert.is(s.reason, 'OOMKilled', JSON.stringify(s));
  assert.is.not(s.exit_code, 0);
  await c.runtime('RemoveContainer', { container_id: id });
});

test('a restarted server keeps the pod and its running container', async () => {
  if (!ready) return;
  c.close();
  await srv!.stop();
  await start();
  assert.is((await c.runtime('PodSandboxStatus', { pod_sandbox_id: podId })).status.state, 'SANDBOX_READY');
  assert.is((await c.runtime('ContainerStatus', { container_id: sleeperId })).status.state, 'CONTAINER_RUNNING');
  const r = await c.runtime('ExecSync', { container_id: sleeperId, cmd: ['echo', 'still here'], timeout: 10 });
  assert.is(Buffer.from(r.stdout).toString(), 'still here\n');
});

test('stats answer for a running container and the pod', async () => {
  if (!ready) return;
  const st = (await c.runtime('ContainerStats', { container_id: sleeperId })).stats;
  assert.is(st.attributes.id, sleeperId);
  assert.ok(Number(st.memory.usage_bytes?.value ?? 0) > 0, JSON.stringify(st.memory));
  const list = (await c.runtime('ListContainerStats', {})).stats;
  assert.equal(list.map((x: any) => x.attributes.id), [sleeperId]);
  const pod = (await c.runtime('PodSandboxStats', { pod_sandbox_id: podId })).stats;
  assert.is(pod.attributes.id, podId);
  assert.is(pod.linux.containers.length, 2 - 1);
});

test('errors: unknown ids, bad streaming requests; Exec hands out a one-time loopback URL', async () => {
  if (!ready) return;
  await rejectsWith(c.runtime('ContainerStatus', { container_id: 'f'.repeat(64) }), grpc.status.NOT_FOUND);
  await rejectsWith(c.runtime('PodSandboxStatus', { pod_sandbox_id: 'nope' }), grpc.status.NOT_FOUND);
  await rejectsWith(c.runtime('CreateContainer', { pod_sandbox_id: podId, config: { metadata: { name: 'x' } } }), grpc.status.INVALID_ARGUMENT, /image/);
  await rejectsWith(c.runtime('Exec', { container_id: sleeperId, cmd: ['sh'] }), grpc.status.INVALID_ARGUMENT, /stdin, stdout and stderr/);
  await rejectsWith(c.runtime('Exec', { container_id: sleeperId, cmd: ['sh'], tty: true, stdout: true, stderr: true }), grpc.status.INVALID_ARGUMENT, /tty and stderr/);
  const { url } = await c.runtime('Exec', { container_id: sleeperId, cmd: ['sh'], stdout: true });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{20,}$/);
  // a plain request (no SPDY upgrade) is refused, and the token is spent by any use
  const first = await fetch(url, { method: 'POST' }).then((r) => r.status);
  assert.is(first, 400);
  // nothing to change is no error; an unknown container is (cri-runtime-semantics tests real updates)
  await c.runtime('UpdateContainerResources', { container_id: sleeperId, linux: {} });
  await rejectsWith(c.runtime('UpdateContainerResources', { container_id: 'e'.repeat(64), linux: { cpu_shares: 512 } }), grpc.status.NOT_FOUND);
});

test('StopContainer kills after the timeout; StopPodSandbox and RemovePodSandbox clean up', async () => {
  if (!ready) return;
  const t0 = Date.now();
  await c.runtime('StopContainer', { container_id: sleeperId, timeout: 1 });
  assert.ok(Date.now() - t0 < 8000);
  const s = await waitState(sleeperId, 'CONTAINER_EXITED');
  assert.is(s.reason, 'Error');
  assert.is(s.exit_code, 137);
  await c.runtime('StopPodSandbox', { pod_sandbox_id: podId });
  assert.is((await c.runtime('PodSandboxStatus', { pod_sandbox_id: podId })).status.state, 'SANDBOX_NOTREADY');
  await c.runtime('StopPodSandbox', { pod_sandbox_id: podId }); // idempotent
  assert.not.ok(fs.existsSync(`/proc/${pausePid}/ns`), 'the pause process is gone');
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: podId });
  assert.is((await c.runtime('ListPodSandbox', {})).items.length, 0);
  assert.is((await c.runtime('ListContainers', {})).containers.length, 0);
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: podId }); // gone is fine
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    assert.not.ok(fs.existsSync(path.join('/sys/fs/cgroup', h, 'berth/kubepods/besteffort/poduid-1')), `pod cgroup left in ${h}`);
  }
  assert.equal(fs.readdirSync(path.join(base, 'state', 'netns')).filter((n) => !n.startsWith('.')), [], 'netns removed');
});

test('RemoveImage removes the image under every name; removing again succeeds', async () => {
  if (!ready) return;
  await c.image('RemoveImage', { image: { image: ref } });
  assert.is((await c.image('ImageStatus', { image: { image: ref } })).image, null);
  assert.is((await c.image('ImageStatus', { image: { image: 'mirrored:1' } })).image, null, 'same image id, pulled through the mirror');
  await c.image('RemoveImage', { image: { image: ref } });
});

test.run();
