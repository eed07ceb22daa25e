// cgroup v2 driver core on this host's cgroup2 hierarchy (/sys/fs/cgroup/unified on a hybrid host:
// no controllers there, but cgroup.procs, cgroup.freeze, cgroup.kill, cgroup.events and BPF device
// programs all work), inside a test-owned root dir.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cgroupManagerFor, cgroupManagerFromPaths, type CgroupManager } from '../../runtime/cgroups/index.js';
import { unifiedMount } from '../../runtime/cgroups/cgroup-path.js';
import { queryDevicePrograms } from '../../runtime/cgroups/bpf-device.js';
import { isRoot, skip } from '../lib/harness.js';
import { cpuTicks, go, sleepMs, spawnGated, waitExit } from '../lib/cgroups.js';

const mount = isRoot ? unifiedMount() : undefined;
const ROOT = mount ? path.join(mount.mountpoint, `berth-test-v2core-${process.pid}`) : '';
const managers: CgroupManager[] = [];
const children: ChildProcess[] = [];
let n = 0;

async function mgr(cgroupsPath?: string): Promise<CgroupManager> {
  const id = `c${++n}`;
  const m = cgroupManagerFor({ id, cgroupsPath: cgroupsPath ?? `/${id}`, mode: 'v2', unifiedRoot: ROOT });
  managers.push(m);
  await m.create();
  return m;
}

async function gated(m: CgroupManager, script: string): Promise<ChildProcess> {
  const c = spawnGated(script);
  children.push(c);
  await m.addProcess(c.pid!);
  return c;
}

const events = (m: CgroupManager) => Object.fromEntries(fs.readFileSync(`${m.paths().unified}/cgroup.events`, 'utf8').trim().split('\n').map((l) => l.split(' ')));

test.before(() => { if (mount) fs.mkdirSync(ROOT); });
test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of managers) { try { m.thaw(); m.killAll(9); await m.destroy(); } catch { /* reported by tests */ } }
  if (mount && fs.existsSync(ROOT)) fs.rmdirSync(ROOT);
});

function t(name: string, fn: () => Promise<void> | void) {
  test(name, async () => {
    if (!mount) return skip(`cgroups-v2-core: ${name}`, isRoot ? 'no cgroup2 hierarchy mounted' : 'needs root');
    await fn();
  });
}

t('create nests, addProcess joins, populated follows, destroy removes what it made', async () => {
  const m = await mgr('/pod/ctr');
  const dir = m.paths().unified!;
  assert.is(dir, `${ROOT}/pod/ctr`);
  assert.is(m.version, 2);
  const c = await gated(m, 'sleep 60');
  assert.equal(m.pids(), [c.pid]);
  assert.is(events(m).populated, '1');
  assert.match(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'), /^0::\/berth-test-v2core-\d+\/pod\/ctr$/m);
  m.killAll(9);
  await waitExit(c);
  await m.destroy();
  assert.not.ok(fs.existsSync(dir));
  assert.not.ok(fs.existsSync(`${ROOT}/pod`), 'the parent it created is removed too');
  await m.destroy();
});

t('destroy removes sub-cgroups a container made itself', async () => {
  const m = await mgr();
  fs.mkdirSync(`${m.paths().unified}/inner/deeper`, { recursive: true });
  const c = spawnGated('sleep 60');
  children.push(c);
  fs.writeFileSync(`${m.paths().unified}/inner/deeper/cgroup.procs`, String(c.pid));
  assert.equal(m.pids(), [c.pid], 'pids() is recursive');
  m.killAll(9);
  await waitExit(c);
  await m.destroy();
  assert.not.ok(fs.existsSync(m.paths().unified!));
});

t('freeze / thaw through cgroup.freeze and cgroup.events', async () => {
  const m = await mgr();
  const c = await gated(m, 'while :; do :; done');
  go(c);
  await sleepMs(50);
  await m.freeze();
  assert.ok(m.isFrozen());
  assert.is(events(m).frozen, '1');
  const a = cpuTicks(c.pid!);
  await sleepMs(300);
  assert.is(cpuTicks(c.pid!), a);
  m.thaw();
  await sleepMs(300);
  assert.not.ok(m.isFrozen());
  assert.ok(cpuTicks(c.pid!) > a);
  m.killAll(9);
  await waitExit(c);
});

t('cgroup.kill kills every process, SIGTERM goes to each pid', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60 & sleep 60 & wait');
  go(c);
  for (let i = 0; i < 100 && m.pids().length < 3; i++) await sleepMs(10);
  assert.is(m.pids().length, 3);
  m.killAll(9);
  assert.is((await waitExit(c)).signal, 'SIGKILL');
  for (let i = 0; i < 100 && events(m).populated !== '0'; i++) await sleepMs(10);
  assert.is(events(m).populated, '0');

  const m2 = await mgr();
  const c2 = await gated(m2, 'sleep 60');
  m2.killAll(15);
  assert.is((await waitExit(c2)).signal, 'SIGTERM');
});

t('device filter (BPF) denies /dev/null; update replaces the program', async () => {
  const m = await mgr();
  m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }] });
  const fd = fs.openSync(m.paths().unified!, 'r');
  try { assert.is(queryDevicePrograms(fd).length, 1); } finally { fs.closeSync(fd); }
  const c1 = await gated(m, 'echo hi > /dev/null && echo opened; cat /dev/zero | head -c 3 | wc -c');
  go(c1);
  const r1 = await waitExit(c1);
  assert.not.match(r1.out, /opened/);
  assert.match(r1.err, /not permitted/i);
  assert.match(r1.out, /^3$/m, '/dev/zero stays allowed');

  m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] });
  const fd2 = fs.openSync(m.paths().unified!, 'r');
  try { assert.is(queryDevicePrograms(fd2).length, 1, 'old program detached'); } finally { fs.closeSync(fd2); }
  const c2 = await gated(m, 'echo hi > /dev/null && echo opened');
  go(c2);
  assert.match((await waitExit(c2)).out, /opened/);
});

t('limits for controllers that are not enabled fail clearly', async () => {
  const m = await mgr();
  const avail = fs.readFileSync(`${m.paths().unified}/cgroup.controllers`, 'utf8');
  if (avail.includes('pids')) return skip('cgroups-v2-core: missing controller error', 'pids is enabled here');
  try { m.apply({ pids: { limit: 5 } }); assert.unreachable(); } catch (e) {
    assert.is((e as { code: string }).code, 'FAILED_PRECONDITION');
    assert.match(String(e), /pids controller is not enabled/);
  }
});

t('re-open from saved paths', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60');
  const again = cgroupManagerFromPaths(m.paths());
  assert.is(again.version, 2);
  assert.equal(again.pids(), [c.pid]);
  again.killAll(9);
  await waitExit(c);
  await again.destroy();
  assert.not.ok(fs.existsSync(m.paths().unified!));
});

test.run();
