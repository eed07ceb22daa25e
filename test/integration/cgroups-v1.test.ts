// cgroup v1 driver on this (hybrid) host: limits proven with real processes placed in the cgroup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { cgroupManagerFor, cgroupManagerFromPaths, detectCgroupMode, type CgroupManager } from '../../runtime/cgroups/index.js';
import { memberDirs } from '../../runtime/cgroups/cgroup-path.js';
import type { LinuxResources } from '../../runtime/spec/resources-schema.js';
import { isRoot, skip } from '../lib/harness.js';
import { cpuTicks, go, leftovers, removeTestParents, sleepMs, spawnGated, testCgroupParent, waitExit } from '../lib/cgroups.js';

const mode = fs.existsSync('/proc/self/mountinfo') ? detectCgroupMode() : 'v2';
const usable = isRoot && mode !== 'v2';
const PARENT = testCgroupParent('v1');
const managers: CgroupManager[] = [];
const children: ChildProcess[] = [];
let n = 0;

async function mgr(resources?: LinuxResources): Promise<CgroupManager> {
  const m = cgroupManagerFor({ id: `t${++n}`, cgroupsPath: `${PARENT}/t${n}`, mode: 'v1' });
  managers.push(m);
  await m.create();
  m.apply(resources);
  return m;
}

async function gated(m: CgroupManager, script: string): Promise<ChildProcess> {
  const c = spawnGated(script);
  children.push(c);
  await m.addProcess(c.pid!);
  return c;
}

test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of managers) { try { m.killAll(9); await m.destroy(); } catch { /* reported by the tests */ } }
  removeTestParents(PARENT);
});

function t(name: string, fn: () => Promise<void> | void) {
  test(name, async () => {
    if (!usable) return skip(`cgroups-v1: ${name}`, isRoot ? 'host is pure cgroup v2' : 'needs root');
    await fn();
  });
}

t('create makes every controller dir (cpuset inherits cpus/mems), destroy removes them all', async () => {
  const m = await mgr();
  const p = m.paths();
  for (const c of ['memory', 'pids', 'cpu', 'freezer', 'devices', 'cpuset']) assert.ok(fs.existsSync(p[c]!), `${c} dir missing`);
  if (mode === 'hybrid') assert.ok(fs.existsSync(p.unified!), 'hybrid host: cgroup2 dir joins too');
  assert.is(fs.readFileSync(`${p.cpuset}/cpuset.cpus`, 'utf8').trim(), fs.readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8').trim());
  assert.not.ok([...new Set(Object.values(p))].some((d) => memberDirs(process.pid).has(d)), 'we are in none of them');
  const c = await gated(m, 'sleep 30');
  assert.equal(m.pids(), [c.pid]);
  if (mode === 'hybrid') assert.match(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'), new RegExp(`^0::${PARENT}/t1$`, 'm'));
  // What addProcess reads to skip the dirs a process is already in: every one of them, now.
  for (const d of new Set(Object.values(p))) assert.ok(memberDirs(c.pid!).has(d), `${d} seen as joined`);
  await m.addProcess(c.pid!); // a second join is a no-op
  assert.equal(m.pids(), [c.pid]);
  m.killAll(9);
  await waitExit(c);
  await m.destroy();
  for (const d of Object.values(p)) assert.not.ok(fs.existsSync(d), `${d} left behind`);
  await m.destroy(); // idempotent
  assert.equal(leftovers(PARENT), [], 'the parent this manager made is gone too');
});

t('pids.max stops forks', async () => {
  const m = await mgr({ pids: { limit: 4 } });
  const c = await gated(m, 'ok=0; for i in 1 2 3 4 5 6 7 8; do sleep 5 & [ $? = 0 ] && ok=$((ok+1)); done; echo started; kill $(jobs -p) 2>/dev/null; exit 0');
  go(c);
  const r = await waitExit(c);
  assert.match(r.err, /fork|Resource temporarily unavailable/i, `stderr: ${r.err}`);
  assert.ok(m.stats().pids.limit === 4);
});

t('memory limit triggers the OOM killer and oomKillCount sees it', async () => {
  const m = await mgr({ memory: { limit: 32 << 20, swap: 32 << 20 } });
  assert.is(m.oomKillCount(), 0);
  const c = await gated(m, 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived ${#x}');
  go(c);
  const r = await waitExit(c, 60_000);
  assert.not.match(r.out, /survived/);
  assert.ok(m.oomKillCount() >= 1, `oom_kill ${m.oomKillCount()}`);
  const s = m.stats();
  assert.is(s.memory.limit, 32 << 20);
  assert.ok(s.memory.maxUsage > 16 << 20, `max usage ${s.memory.maxUsage}`);
});

t('cpu quota throttles a busy loop (cpu.stat nr_throttled)', async () => {
  const m = await mgr({ cpu: { quota: 10000, period: 100000, shares: 512 } });
  const c = await gated(m, 'while :; do :; done');
  go(c);
  const t0 = cpuTicks(c.pid!);
  await sleepMs(800);
  const used = cpuTicks(c.pid!) - t0; // clock ticks of 10 ms: unthrottled this would be ~80
  const s = m.stats();
  m.killAll(9);
  await waitExit(c);
  assert.ok(s.cpu.throttledPeriods > 0, `nr_throttled ${s.cpu.throttledPeriods}`);
  assert.ok(used <= 30, `used ${used} ticks in 800 ms at a 10% quota`);
  assert.ok(s.cpu.usageNs > 0);
});

t('freeze stops progress, thaw resumes it', async () => {
  const m = await mgr();
  const c = await gated(m, 'while :; do :; done');
  go(c);
  await sleepMs(50);
  await m.freeze();
  assert.ok(m.isFrozen());
  const a = cpuTicks(c.pid!);
  await sleepMs(300);
  assert.is(cpuTicks(c.pid!), a, 'a frozen process must not run');
  m.thaw();
  assert.not.ok(m.isFrozen());
  await sleepMs(300);
  assert.ok(cpuTicks(c.pid!) > a, 'thawed process runs again');
  m.killAll(9);
  await waitExit(c);
});

t('killAll signals every process, also forked ones', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60 & sleep 60 & sleep 60 & wait');
  go(c);
  for (let i = 0; i < 100 && m.pids().length < 4; i++) await sleepMs(10);
  assert.is(m.pids().length, 4);
  m.killAll(15);
  await waitExit(c);
  for (let i = 0; i < 100 && m.pids().length; i++) await sleepMs(10);
  assert.equal(m.pids(), []);
  await m.destroy();
});

t('killAll on a frozen cgroup keeps it frozen (SIGKILL still lands)', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60');
  await m.freeze();
  m.killAll(9);
  assert.ok(m.isFrozen());
  m.thaw();
  const r = await waitExit(c);
  assert.is(r.signal, 'SIGKILL');
});

t('devices: deny all blocks /dev/null, an allow rule lets it through', async () => {
  const deny = await mgr({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }] });
  const c1 = await gated(deny, 'echo hi > /dev/null && echo opened');
  go(c1);
  const r1 = await waitExit(c1);
  assert.not.match(r1.out, /opened/);
  assert.match(r1.err, /not permitted|denied/i);

  const allow = await mgr({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] });
  const c2 = await gated(allow, 'echo hi > /dev/null && echo opened');
  go(c2);
  assert.match((await waitExit(c2)).out, /opened/);
  assert.match(fs.readFileSync(`${allow.paths().devices}/devices.list`, 'utf8'), /^c 1:3 rw$/m);
});

t('devices update keeps access that stays allowed (no blanket reset of a running container)', async () => {
  const base = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' }];
  const m = await mgr({ devices: base });
  const c = await gated(m, 'i=0; while [ $i -lt 3000 ]; do echo x > /dev/null || { echo FAILED; exit 1; }; i=$((i+1)); done; echo done');
  go(c);
  for (let i = 0; i < 20; i++) {
    m.apply({ devices: [...base, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
    m.apply({ devices: base });
  }
  m.apply({ devices: [...base, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
  const r = await waitExit(c);
  assert.not.match(r.out, /FAILED/, r.err);
  assert.equal(fs.readFileSync(`${m.paths().devices}/devices.list`, 'utf8').trim().split('\n').sort(), ['c 1:3 rwm', 'c 1:5 r']);
});

t('destroy refuses (after retrying) while processes remain, naming them', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60');
  try { await m.destroy(); assert.unreachable('destroyed a populated cgroup'); } catch (e) {
    assert.is((e as { code: string }).code, 'FAILED_PRECONDITION');
    assert.match(String(e), new RegExp(`pids ${c.pid}`));
  }
  m.killAll(9);
  await waitExit(c);
  await m.destroy();
  assert.not.ok(fs.existsSync(m.paths().memory!));
});

t('update raises memory+swap in the right order; cpu.shares out of range is refused', async () => {
  const m = await mgr({ memory: { limit: 32 << 20, swap: 32 << 20 } });
  m.apply({ memory: { limit: 64 << 20, swap: 64 << 20 } });
  assert.is(fs.readFileSync(`${m.paths().memory}/memory.limit_in_bytes`, 'utf8').trim(), String(64 << 20));
  m.apply({ memory: { limit: 16 << 20, swap: 16 << 20 } });
  assert.is(fs.readFileSync(`${m.paths().memory}/memory.limit_in_bytes`, 'utf8').trim(), String(16 << 20));
  try { m.apply({ cpu: { shares: 1 } }); assert.unreachable(); } catch (e) { assert.match(String(e), /cpu.shares/); }
  try { m.apply({ cpu: { cpus: '999' } }); assert.unreachable(); } catch (e) { assert.match(String(e), /cpu.cpus "999" is not within the cpus available/); }
  try { m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }); assert.unreachable(); } catch (e) { assert.match(String(e), /hugetlb controller/); }
});

t('re-open from saved paths: same cgroup, refuses paths outside cgroupfs', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 60');
  const again = cgroupManagerFromPaths(m.paths());
  assert.is(again.version, 1);
  assert.equal(again.pids(), [c.pid]);
  again.killAll(9);
  await waitExit(c);
  await again.destroy();
  assert.not.ok(fs.existsSync(m.paths().memory!));
  try { cgroupManagerFromPaths({ memory: '/etc/x' }); assert.unreachable(); } catch (e) { assert.match(String(e), /not inside a mounted cgroup/); }
  try { cgroupManagerFromPaths({ memory: '/sys/fs/cgroup/memory/../../../etc' }); assert.unreachable(); } catch (e) { assert.match(String(e), /clean absolute/); }
});

test.run();
