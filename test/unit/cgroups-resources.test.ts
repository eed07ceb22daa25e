import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Ajv from 'ajv';
import { v1Writes } from '../../runtime/cgroups/v1-resources.js';
import { deviceTransition, parseDevicesList, emulateRules } from '../../runtime/cgroups/v1-devices.js';
import { v2Writes } from '../../runtime/cgroups/v2-resources.js';
import { linuxResourcesSchema, type LinuxResources } from '../../runtime/spec/resources-schema.js';
import { isBerthError } from '../../lib/errors.js';

const full: LinuxResources = {
  memory: { limit: 100 << 20, swap: 300 << 20, reservation: 50 << 20, swappiness: 10, disableOOMKiller: true, kernel: 1 << 20 },
  cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0', mems: '0' },
  pids: { limit: 64 },
  blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }], throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }] },
  hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
  devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rw' }],
};

test('schema accepts a full resources object and rejects bad ones with a path', () => {
  const ajv = new Ajv.default({ allErrors: true });
  const v = ajv.compile(linuxResourcesSchema);
  assert.ok(v(full), JSON.stringify(v.errors));
  assert.not.ok(v({ pids: {} }));
  assert.not.ok(v({ devices: [{ allow: true, type: 'x' }] }));
  assert.not.ok(v({ unified: { 'memory.high': 5 } }));
  assert.ok(v({ somethingNew: 1 }), 'unknown properties are ignored, as the spec requires');
});

test('v2 mapping: files, order and conversions', () => {
  assert.equal(v2Writes(full), [
    { file: 'memory.swap.max', value: String(200 << 20) },
    { file: 'memory.max', value: String(100 << 20) },
    { file: 'memory.low', value: String(50 << 20) },
    { file: 'cpu.weight', value: '100' },
    { file: 'cpu.max', value: '50000 100000' },
    { file: 'cpuset.cpus', value: '0' },
    { file: 'cpuset.mems', value: '0' },
    { file: 'pids.max', value: '64' },
    { file: 'io.weight', value: String(1 + Math.floor((490 * 9999) / 990)) },
    { file: 'io.max', value: '8:0 rbps=1048576' },
    { file: 'io.max', value: '8:0 wiops=100' },
    { file: 'hugetlb.2MB.max', value: '4194304' },
  ]);
  assert.equal(v2Writes({ memory: { limit: 1000, swap: 1000 } }), [{ file: 'memory.swap.max', value: '0' }, { file: 'memory.max', value: '1000' }], 'swap == limit disables swap');
  assert.equal(v2Writes({ blockIO: { weight: 500 } }, { hasBfq: true }), [{ file: 'io.bfq.weight', value: '500' }]);
  assert.equal(v2Writes({ memory: { limit: -1 }, pids: { limit: -1 } }), [
    { file: 'memory.swap.max', value: 'max' }, { file: 'memory.max', value: 'max' }, { file: 'pids.max', value: 'max' },
  ]);
});

test('v2 unified: verbatim, last, names checked', () => {
  assert.equal(v2Writes({ pids: { limit: 5 }, unified: { 'pids.max': '7', 'memory.high': '1000000' } }).map((w) => `${w.file}=${w.value}`),
    ['pids.max=5', 'pids.max=7', 'memory.high=1000000']);
  for (const bad of ['../etc/passwd', 'cgroup.procs', 'memory', 'a/b.c', 'cgroup.kill']) {
    try { v2Writes({ unified: { [bad]: '1' } }); assert.unreachable(bad); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT'), `${bad}: ${e}`); }
  }
});

test('v2 refuses what it cannot express', () => {
  for (const r of [{ cpu: { realtimeRuntime: 1000 } }, { network: { classID: 1 } }, { memory: { swap: 100 } }] as LinuxResources[]) {
    try { v2Writes(r); assert.unreachable(JSON.stringify(r)); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT'), String(e)); }
  }
});

test('v1 mapping: files per controller, devices deny-all then rules in order', () => {
  const w = v1Writes(full, { hasMemsw: true, blkioWeightFile: 'blkio.weight' }).map((x) => `${x.controller}:${x.file}=${x.value}`);
  assert.equal(w, [
    'devices:devices.deny=a',
    'devices:devices.allow=c 1:3 rwm',
    'devices:devices.allow=c 136:* rw',
    `memory:memory.limit_in_bytes=${100 << 20}`,
    `memory:memory.memsw.limit_in_bytes=${300 << 20}`,
    `memory:memory.soft_limit_in_bytes=${50 << 20}`,
    'memory:memory.swappiness=10',
    'memory:memory.oom_control=1',
    'cpu:cpu.shares=1024',
    'cpu:cpu.cfs_period_us=100000',
    'cpu:cpu.cfs_quota_us=50000',
    'cpuset:cpuset.cpus=0',
    'cpuset:cpuset.mems=0',
    'pids:pids.max=64',
    'blkio:blkio.weight=500',
    'blkio:blkio.throttle.read_bps_device=8:0 1048576',
    'blkio:blkio.throttle.write_iops_device=8:0 100',
    'hugetlb:hugetlb.2MB.limit_in_bytes=4194304',
  ]);
});

test('v1: no swap accounting ignores swap; unlimited memory makes memsw unlimited; unified refused', () => {
  assert.equal(v1Writes({ memory: { limit: 1000, swap: 2000 } }, { hasMemsw: false }).map((x) => x.file), ['memory.limit_in_bytes']);
  assert.equal(v1Writes({ memory: { limit: -1 } }, { hasMemsw: true }).map((x) => x.value), ['-1', '-1']);
  try { v1Writes({ unified: { 'memory.high': '1' } }, { hasMemsw: true }); assert.unreachable(); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT')); }
  try { v1Writes({ blockIO: { weight: 100 } }, { hasMemsw: true }); assert.unreachable(); } catch (e) { assert.match(String(e), /blockIO.weight/); }
});

const dw = (rules: Parameters<typeof deviceTransition>[0], list?: string) => deviceTransition(rules, list === undefined ? undefined : parseDevicesList(list)).map((w) => `${w.file === 'devices.allow' ? '+' : '-'}${w.value}`);

test('v1 devices: unknown or allow-all current state resets, then lists exceptions', () => {
  const rules = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'b' as const, major: -1, access: 'm' }];
  assert.equal(dw(rules), ['-a', '+c 1:3 rwm', '+b *:* m']);
  assert.equal(dw(rules, 'a *:* rwm\n'), ['-a', '+c 1:3 rwm', '+b *:* m']);
  assert.equal(dw([{ allow: true }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]), ['+a', '-c 1:3 w']);
  assert.equal(dw([]), ['-a'], 'no rules: deny everything');
});

test('v1 devices: same default writes only the difference, additions first', () => {
  const cur = 'c 1:3 rwm\nc 1:5 rwm\nc 136:* rw\n';
  const rules = [{ allow: false }, { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'r' }, { allow: true, type: 'c' as const, major: 1, minor: 7, access: 'rw' }, { allow: true, type: 'c' as const, major: 136, access: 'rw' }];
  assert.equal(dw(rules, cur), ['+c 1:7 rw', '-c 1:3 wm', '-c 1:5 rwm']);
  assert.equal(dw(rules, 'c 1:3 r\nc 1:7 rw\nc 136:* rw\n'), [], 'already there: nothing to write');
});

test('v1 devices: later deny removes bits of an identical earlier allow', () => {
  const s = emulateRules([{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3 }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]);
  assert.equal([...s.exceptions], [['c 1:3', 5]]);
});

test.run();
