// CRI -> container service translation without root: container configs, seccomp profiles, signals,
// pod cgroup parents, timestamps and the error -> gRPC status mapping.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { translateContainer, seccompFor, stopSignalName, linuxResourcesFromCri, criResourcesFromSpec, type SandboxJoin } from '../../cri/container-config.js';
import { podCgroupParent } from '../../cri/pod-cgroup.js';
import { isoToNs } from '../../cri/timestamps.js';
import { grpcCode } from '../../cri/grpc-status.js';
import { loadCri } from '../../cri/proto.js';
import { BerthError, ErrorCodes } from '../../lib/errors.js';
import { tmpDir } from '../lib/harness.js';

const id = 'a'.repeat(64);
const sb = (over: Partial<{ network: 'pod' | 'node'; ipc: 'pod' | 'node' }> = {}): SandboxJoin => ({
  view: {
    ready: true, pausePid: 4242,
    record: {
      id, metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, createdAt: '1', hostname: 'pod-host', labels: {}, annotations: {},
      cgroupParent: '/berth/kubepods/podu', namespaces: { network: over.network ?? 'pod', pid: 'container', ipc: over.ipc ?? 'pod' },
    },
  },
  filesDir: '/var/lib/berth/cri/sandbox-files/x',
  ns: (n) => `/proc/4242/ns/${n}`,
  targetPidNs: (t) => `/proc/777/ns/pid#${t}`,
});

const base = { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' } };

test('command/args map like containerd: command replaces entrypoint and image cmd', () => {
  let { req } = translateContainer({ ...base, command: ['/bin/sh', '-c'], args: ['echo hi'] }, sb(), { cgroupLeaf: 'l' });
  assert.equal(req.entrypoint, ['/bin/sh', '-c']);
  assert.equal(req.command, ['echo hi']);
  ({ req } = translateContainer({ ...base, command: ['/bin/true'] }, sb(), { cgroupLeaf: 'l' }));
  assert.equal(req.command, [], 'the image Cmd is dropped when a command is given');
  ({ req } = translateContainer({ ...base, args: ['x'] }, sb(), { cgroupLeaf: 'l' }));
  assert.is(req.entrypoint, undefined);
  assert.equal(req.command, ['x']);
});

test('pod namespaces, cgroup, files and identity', () => {
  const { req } = translateContainer({
    ...base, envs: [{ key: 'A', value: Buffer.from('1') }, { key: 'B', value: 'two' }], working_dir: '/w', tty: true,
    linux: {
      resources: { memory_limit_in_bytes: 1048576, cpu_quota: 50000, cpu_period: 100000, cpu_shares: 512 },
      security_context: {
        run_as_user: { value: 1000 }, run_as_group: { value: 2000 }, supplemental_groups: [3000], readonly_rootfs: true,
        capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'] }, no_new_privs: true,
        seccomp: { profile_type: 'RuntimeDefault' }, namespace_options: { pid: 'POD' },
      },
    },
    stop_signal: 'SIGNAL_SIGUSR1',
  }, sb(), { cgroupLeaf: 'berth-1' });
  assert.equal(req.network, { netnsPath: '/proc/4242/ns/net' });
  assert.equal(req.uts, { path: '/proc/4242/ns/uts' });
  assert.equal(req.ipc, { path: '/proc/4242/ns/ipc' });
  assert.equal(req.pid, { path: '/proc/4242/ns/pid' });
  assert.is(req.cgroupsPath, '/berth/kubepods/podu/berth-1');
  assert.is(req.hostname, 'pod-host');
  assert.equal(req.env, ['A=1', 'B=two']);
  assert.is(req.user, '1000:2000');
  assert.equal(req.groupAdd, ['3000']);
  assert.ok(req.readonlyRootfs && req.noNewPrivileges && req.tty);
  assert.equal(req.capAdd, ['NET_ADMIN']);
  assert.equal(req.capDrop, ['ALL']);
  assert.is(req.seccompProfile, 'default');
  assert.is(req.memory, 1048576);
  assert.is(req.cpus, 0.5);
  assert.is(req.cpuShares, 512);
  assert.is(req.stopSignal, 'SIGUSR1');
  assert.is(req.pull, 'never');
  assert.equal(req.binds!.map((b) => b.destination), ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
});

test('host network/ipc/pid modes', () => {
  const { req } = translateContainer({ ...base, linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'NODE', pid: 'NODE' } } } }, sb({ network: 'node', ipc: 'node' }), { cgroupLeaf: 'l' });
  assert.is(req.network, 'host');
  assert.is(req.uts, 'host');
  assert.is(req.ipc, 'host');
  assert.is(req.pid, 'host');
  const t = translateContainer({ ...base, linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: 'abc' } } } }, sb(), { cgroupLeaf: 'l' });
  assert.equal(t.req.pid, { path: '/proc/777/ns/pid#abc' });
});

test('mounts: propagation, read-only, missing host dirs created, SELinux relabel noted', () => {
  const dir = tmpDir('berth-cri-unit-');
  const missing = path.join(dir, 'made');
  const { req, notes } = translateContainer({
    ...base, mounts: [
      { container_path: '/data', host_path: missing, readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER', selinux_relabel: true },
      { container_path: '/etc/hosts', host_path: dir, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    ],
  }, sb(), { cgroupLeaf: 'l' });
  assert.ok(fs.statSync(missing).isDirectory());
  const data = req.binds!.find((b) => b.destination === '/data')!;
  assert.equal(data, { source: missing, destination: '/data', readonly: true, options: ['rslave'] });
  assert.equal(req.binds!.filter((b) => b.destination === '/etc/hosts').map((b) => b.options), [['rshared']], 'the kubelet\'s own /etc/hosts replaces the pod file');
  assert.ok(notes.some((n) => /SELinux relabel/.test(n)));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('refused clearly: no image, no name, devices, run_as_group alone', () => {
  assert.throws(() => translateContainer({ metadata: { name: 'c' } }, sb(), { cgroupLeaf: 'l' }), /needs an image/);
  assert.throws(() => translateContainer({ image: { image: 'x' } }, sb(), { cgroupLeaf: 'l' }), /metadata with a name/);
  assert.throws(() => translateContainer({ ...base, devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: 'rw' }] }, sb(), { cgroupLeaf: 'l' }), /devices/);
  assert.throws(() => translateContainer({ ...base, linux: { security_context: { run_as_group: { value: 1 } } } }, sb(), { cgroupLeaf: 'l' }), /run_as_group/);
});

test('seccomp: unset/Unconfined, RuntimeDefault, Localhost file, deprecated paths', () => {
  assert.is(seccompFor({}), 'unconfined');
  assert.is(seccompFor({ seccomp: { profile_type: 'Unconfined' } }), 'unconfined');
  assert.is(seccompFor({ seccomp: { profile_type: 'RuntimeDefault' } }), 'default');
  assert.is(seccompFor({ seccomp_profile_path: 'runtime/default' }), 'default');
  const dir = tmpDir('berth-cri-unit-');
  const f = path.join(dir, 'p.json');
  fs.writeFileSync(f, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
  assert.equal(seccompFor({ seccomp: { profile_type: 'Localhost', localhost_ref: f } }), { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] });
  assert.equal(seccompFor({ seccomp_profile_path: `localhost/${f}` }), seccompFor({ seccomp: { profile_type: 'Localhost', localhost_ref: f } }));
  assert.throws(() => seccompFor({ seccomp: { profile_type: 'Localhost', localhost_ref: path.join(dir, 'none.json') } }), /cannot be read/);
  assert.throws(() => seccompFor({ seccomp: { profile_type: 'Localhost', localhost_ref: 'rel.json' } }), /absolute/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('stop signals, pod cgroup parents, timestamps', () => {
  assert.is(stopSignalName('SIGNAL_RUNTIME_DEFAULT'), undefined);
  assert.is(stopSignalName('SIGNAL_SIGTERM'), 'SIGTERM');
  assert.is(stopSignalName('SIGNAL_SIGRTMINPLUS3'), 'SIGRTMIN+3');
  assert.is(podCgroupParent('/kubepods/burstable/pod123', id), '/berth/kubepods/burstable/pod123');
  assert.is(podCgroupParent('', id), `/berth/kubepods/pod-${id.slice(0, 12)}`);
  assert.is(podCgroupParent('/mypods/x', id), '/berth/kubepods/mypods/x');
  assert.throws(() => podCgroupParent('/kubepods/../../etc', id), /must not contain/);
  assert.throws(() => podCgroupParent('kubepods.slice', id), /cgroupfs/);
  assert.is(isoToNs('2026-11-23T10:19:41.622707171Z'), String(Date.parse('2026-11-23T10:19:41Z') / 1000) + '622707171');
  assert.is(isoToNs('2026-11-23T10:19:41Z'), String(Date.parse('2026-11-23T10:19:41Z') / 1000) + '000000000');
  assert.is(isoToNs(undefined), '0');
});

test('every BerthError code has a gRPC status; other errors are INTERNAL', () => {
  for (const c of ErrorCodes) assert.type(grpcCode(new BerthError(c, 'x')), 'number');
  assert.is(grpcCode(new BerthError('NOT_FOUND', 'x')), grpc.status.NOT_FOUND);
  assert.is(grpcCode(new BerthError('UNIMPLEMENTED', 'x')), grpc.status.UNIMPLEMENTED);
  assert.is(grpcCode(new Error('boom')), grpc.status.INTERNAL);
});

test('the proto keeps CRI v1 names and field numbers', () => {
  const { RuntimeService, ImageService } = loadCri();
  assert.ok('RunPodSandbox' in RuntimeService.service && 'ExecSync' in RuntimeService.service);
  assert.is((RuntimeService.service as any).RunPodSandbox.path, '/runtime.v1.RuntimeService/RunPodSandbox');
  assert.is((ImageService.service as any).PullImage.path, '/runtime.v1.ImageService/PullImage');
  // encode with our proto, check the wire bytes field numbers a Go client would read
  const enc = (RuntimeService.service as any).ContainerStatus.requestSerialize({ container_id: 'ab', verbose: true }) as Buffer;
  assert.equal([...enc], [0x0a, 2, 0x61, 0x62, 0x10, 1]);
  const cfg = (RuntimeService.service as any).CreateContainer.requestSerialize({ config: { log_path: 'x', tty: true } }) as Buffer;
  // config = field 2 (0x12), inside: log_path = 11 (0x5a), tty = 14 (0x70)
  assert.equal([...cfg], [0x12, 5, 0x5a, 1, 0x78, 0x70, 1]);
});

test('ContainerStatus resources: what UpdateContainerResources set comes back as CRI fields; unset is zero', () => {
  const set = { cpu_period: 100000, cpu_quota: 25000, cpu_shares: 512, cpuset_cpus: '0-1', cpuset_mems: '0', memory_limit_in_bytes: 1 << 26, memory_swap_limit_in_bytes: -1, hugepage_limits: [{ page_size: '2MB', limit: 1 << 21 }], unified: { 'memory.high': '1000000' } };
  const back = criResourcesFromSpec({ process: { oomScoreAdj: 7 }, linux: { resources: linuxResourcesFromCri(set) } }).linux;
  assert.equal(back, { ...set, oom_score_adj: 7, hugepage_limits: [{ page_size: '2MB', limit: 1 << 21 }] });
  const none = criResourcesFromSpec({}).linux;
  assert.equal([none.cpu_quota, none.memory_limit_in_bytes, none.cpuset_cpus, none.hugepage_limits], [0, 0, '', []]);
});

test.run();
