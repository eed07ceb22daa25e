// berth-runtime's cgroup behaviour on this hybrid host (v1 controllers), through the real CLI: limits
// are enforced (pids, memory OOM, cpu quota), pause/resume freeze, update changes live limits,
// kill --all, delete --force, events --stats, and no cgroup dir is left afterwards. Every container's
// cgroupsPath is /berth/<test-id>/<name>, never below this process's own (workplace) cgroup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { RuntimeCli, makeBundle, waitFor } from '../lib/runtime.js';
import type { Spec } from '../../runtime/spec/config-schema.js';

const CG = '/sys/fs/cgroup';
const TID = `rtcg1-${process.pid}`;
const PARENT = `/berth/${TID}`;

/** The v1 hierarchies this host mounts (each may carry several controllers, e.g. cpu,cpuacct). */
function hierarchies(): string[] {
  return fs.readdirSync(CG).filter((d) => d !== 'unified' && fs.statSync(path.join(CG, d)).isDirectory() && !fs.lstatSync(path.join(CG, d)).isSymbolicLink());
}

/** Every cgroup dir still present below /berth/<test-id> (or only `name`'s) in any hierarchy. */
function cgroupLeftovers(name?: string): string[] {
  const found: string[] = [];
  for (const h of [...hierarchies(), 'unified']) {
    const dir = path.join(CG, h, PARENT);
    if (!fs.existsSync(dir)) continue;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && (name === undefined || e.name === name)) found.push(path.join(dir, e.name));
    }
  }
  return found;
}

const usable = isRoot && fs.existsSync(`${CG}/memory/cgroup.procs`) && fs.existsSync(`${CG}/pids/cgroup.procs`);

if (!usable) {
  skip('runtime cgroups v1', isRoot ? 'no v1 memory/pids hierarchy on this host' : 'needs root (namespaces, cgroups)');
  test.run();
} else {
  const cli = new RuntimeCli();
  const started: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const cgPath = (name: string) => `${PARENT}/${name}`;
  const file = (ctrl: string, name: string, f: string) => fs.readFileSync(path.join(CG, ctrl, PARENT, name, f), 'utf8').trim();
  const tmpfsTmp = (s: Spec) => { s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }); };
  /** A bundle whose container lives in /berth/<test-id>/<name> with `resources`. */
  const bundle = (name: string, args: string[], resources: NonNullable<Spec['linux']>['resources'] = {}, edit: (s: Spec) => void = () => {}) =>
    (started.push(name), makeBundle(args, (s) => {
      s.linux!.cgroupsPath = cgPath(name);
      s.linux!.resources = { ...(s.linux!.resources ?? {}), ...resources };
      edit(s);
    }));
  const detached = (name: string, args: string[], resources?: NonNullable<Spec['linux']>['resources'], edit?: (s: Spec) => void) => {
    cli.ok(['run', '-d', '-b', bundle(name, args, resources, edit), name]);
    return cli.state(name).pid!;
  };
  const psPids = (id: string): number[] => JSON.parse(cli.run(['ps', '--format', 'json', id]).stdout || '[]');
  const alive = (pid: number) => {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  };

  test.after(() => {
    cli.cleanup(...started);
    // The per-test parent dirs are ours (the runtime creates intermediate dirs but removes only the leaf).
    for (const h of [...hierarchies(), 'unified']) {
      try { fs.rmdirSync(path.join(CG, h, PARENT)); } catch { /* absent or (on failure) not empty */ }
    }
  });

  test('pids.limit stops forks inside the container', () => {
    const r = cli.run(['run', '-b', bundle('pids', ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; kill $(jobs -p) 2>/dev/null; exit 0'], { pids: { limit: 4 } }), 'pids']);
    // The shell's exit status depends on where the refused fork hit (a job or $(...)); the refusal is the point.
    assert.match(r.stderr, /fork|Resource temporarily unavailable/i, `no fork failure (exit ${r.status}): ${r.stderr}`);
    assert.equal(cgroupLeftovers('pids'), []);
  });

  test('memory.limit: the OOM killer kills the container process (exit 137, oom_kill counted)', async () => {
    // tail buffers /dev/zero looking for a newline, so the container's own process grows until killed.
    const mem = { memory: { limit: 32 << 20, swap: 32 << 20 } };
    const r = cli.run(['run', '-b', bundle('oom', ['tail', '/dev/zero'], mem), 'oom'], { timeout: 60_000 });
    assert.is(r.status, 137, `exit ${r.status}: ${r.stderr}`);

    cli.ok(['create', '-b', bundle('oom2', ['tail', '/dev/zero'], mem), 'oom2']);
    assert.is(file('memory', 'oom2', 'memory.limit_in_bytes'), String(32 << 20));
    cli.ok(['start', 'oom2']);
    await waitFor('OOM-killed container to stop', () => cli.state('oom2').status === 'stopped', 30_000);
    const oc = file('memory', 'oom2', 'memory.oom_control');
    const kills = Number(/oom_kill (\d+)/.exec(oc)?.[1] ?? NaN);
    assert.ok(kills >= 1, `oom_kill in memory.oom_control: ${oc}`);
    cli.ok(['delete', 'oom2']);
    assert.equal(cgroupLeftovers('oom2'), []);
  });

  test('cpu quota throttles (nr_throttled grows); events --stats prints numbers', async () => {
    detached('cpu', ['sh', '-c', 'while :; do :; done'], { cpu: { quota: 10000, period: 100000 } });
    assert.is(file('cpu', 'cpu', 'cpu.cfs_quota_us'), '10000');
    assert.is(file('cpu', 'cpu', 'cpu.cfs_period_us'), '100000');
    await sleep(1200);
    const thr1 = Number(/nr_throttled (\d+)/.exec(file('cpu', 'cpu', 'cpu.stat'))![1]);
    await sleep(500);
    const thr2 = Number(/nr_throttled (\d+)/.exec(file('cpu', 'cpu', 'cpu.stat'))![1]);
    assert.ok(thr1 > 0 && thr2 > thr1, `nr_throttled ${thr1} -> ${thr2}`);
    const ev = JSON.parse(cli.ok(['events', '--stats', 'cpu']));
    assert.is(ev.type, 'stats');
    assert.is(ev.id, 'cpu');
    const d = ev.data;
    assert.ok(d.cpu.throttledPeriods > 0, `throttledPeriods ${d.cpu.throttledPeriods}`);
    // 10% of one CPU for ~2 s: well under a full CPU-second, yet clearly running.
    assert.ok(d.cpu.usageNs > 0 && d.cpu.usageNs < 1e9, `usageNs ${d.cpu.usageNs}`);
    assert.ok(d.memory.usage > 0, `memory.usage ${d.memory.usage}`);
    assert.is(d.pids.current, 1);
    assert.type(d.pids.current, 'number');
    cli.ok(['delete', '--force', 'cpu']);
    assert.equal(cgroupLeftovers('cpu'), []);
  });

  test('pause/resume freeze the container: state paused, FROZEN, counter stops', async () => {
    const pid = detached('frz', ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done'], {}, tmpfsTmp);
    const counter = () => Number(fs.readFileSync(`/proc/${pid}/root/tmp/n`, 'utf8') || 0);
    await waitFor('counter', () => { try { return counter() > 2; } catch { return false; } });
    cli.ok(['pause', 'frz']);
    assert.is(cli.state('frz').status, 'paused');
    assert.is(file('freezer', 'frz', 'freezer.state'), 'FROZEN');
    const frozen = counter();
    await sleep(300);
    assert.is(counter(), frozen, 'no progress while paused');
    cli.ok(['resume', 'frz']);
    assert.is(cli.state('frz').status, 'running');
    assert.is(file('freezer', 'frz', 'freezer.state'), 'THAWED');
    await waitFor('progress after resume', () => counter() > frozen);
    cli.ok(['delete', '--force', 'frz']);
    assert.equal(cgroupLeftovers('frz'), []);
  });

  test('update --pids-limit/--memory change the live limits (and the new pids limit is enforced)', async () => {
    detached('upd', ['sleep', '100'], { pids: { limit: 20 }, memory: { limit: 64 << 20 } });
    assert.is(file('pids', 'upd', 'pids.max'), '20');
    assert.is(file('memory', 'upd', 'memory.limit_in_bytes'), String(64 << 20));
    const ok = cli.run(['exec', 'upd', 'sh', '-c', 'sleep 1 & sleep 1 & sleep 1 & wait; echo forked']);
    assert.is(ok.stdout, 'forked\n', ok.stderr);
    cli.ok(['update', '--pids-limit', '3', '--memory', '48m', 'upd']);
    assert.is(file('pids', 'upd', 'pids.max'), '3');
    assert.is(file('memory', 'upd', 'memory.limit_in_bytes'), String(48 << 20));
    // init + exec'd sh = 2 of 3: the second background child must be refused.
    const r = cli.run(['exec', 'upd', 'sh', '-c', 'sleep 1 & sleep 1 & sleep 1 & wait; echo done']);
    assert.match(r.stderr, /fork|Resource temporarily unavailable/i, `no fork failure after update: ${r.stderr}`);
    cli.ok(['delete', '--force', 'upd']);
    assert.equal(cgroupLeftovers('upd'), []);
  });

  test('kill --all reaches every process (TERM-trapping init included)', async () => {
    detached('kall', ['sh', '-c', 'trap "" TERM; sleep 100 & sleep 100 & wait; wait']);
    await waitFor('3 processes', () => psPids('kall').length === 3);
    const pids = psPids('kall');
    assert.equal(file('pids', 'kall', 'cgroup.procs').split('\n').map(Number).sort(), [...pids].sort());
    cli.ok(['kill', '--all', 'kall', 'KILL']);
    await waitFor('stopped', () => cli.state('kall').status === 'stopped');
    await waitFor('every process gone', () => pids.every((p) => !alive(p)));
    cli.ok(['delete', 'kall']);
    assert.equal(cgroupLeftovers('kall'), []);
  });

  test('delete --force of a running container kills it and removes its cgroups', async () => {
    detached('force', ['sh', '-c', 'sleep 100 & sleep 100 & wait']);
    await waitFor('3 processes', () => psPids('force').length === 3);
    const pids = psPids('force');
    assert.ok(fs.existsSync(path.join(CG, 'memory', PARENT, 'force')));
    cli.ok(['delete', '--force', 'force']);
    assert.equal(pids.filter(alive), []);
    assert.equal(cgroupLeftovers(), []);
    assert.is(cli.run(['state', 'force']).status, 1);
  });

  test('devices cgroup: /dev/null allowed, a device without an allow rule refused', () => {
    // CAP_MKNOD so the nodes can be made (mknod itself is allowed by the default rules); /dev/kmsg (1:11)
    // has no allow rule, /dev/null (1:3) has one, on the same tmpfs: only the cgroup filter differs.
    const r = cli.run(['run', '-b', bundle('dev', ['sh', '-c',
      'echo hi > /dev/null && echo null-ok; mknod /tmp/null c 1 3 && echo hi > /tmp/null && echo mknull-ok; mknod /tmp/kmsg c 1 11 && head -c1 /tmp/kmsg && echo kmsg-opened; exit 0'],
    {}, (s) => {
      s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=1777'] });
      for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set]!.push('CAP_MKNOD');
    }), 'dev']);
    assert.match(r.stdout, /^null-ok$/m, r.stderr);
    assert.match(r.stdout, /^mknull-ok$/m, r.stderr);
    assert.not.match(r.stdout, /kmsg-opened/);
    assert.match(r.stderr, /kmsg: Operation not permitted/);
    assert.equal(cgroupLeftovers('dev'), []);
  });

  test('afterwards: no cgroup dir below /berth/<test-id> in any hierarchy', () => {
    assert.equal(cgroupLeftovers('force'), []);
  });

  test.run();
}
