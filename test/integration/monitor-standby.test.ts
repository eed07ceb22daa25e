// A pre-started berth-monitor (shim/monitor-standby.ts) under runc: a container started through it runs,
// logs and reports like a spawned one; a standby whose owner goes away exits leaving nothing; bad
// arguments come back as error reports; concurrent starts through one standby all succeed.
// Each test runs its own copy of the monitor binary, so its processes are told apart from any
// `berth serve` running on the host by /proc/<pid>/exe.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, isRoot, skip, tmpDir } from '../lib/harness.js';
import { MONITOR_BIN, cleanupBundle, makeBundle, testRuntimes, until, type Bundle } from '../lib/monitor.js';
import { createContainer, readLogs, type CreateOptions } from '../../shim/index.js';
import { MonitorStandby, standbyCount } from '../../shim/monitor-standby.js';

/** A private copy of berth-monitor; `remove` waits until no process runs it, then removes its dir. */
function monitorCopy(): { dir: string; bin: string; remove(): Promise<void> } {
  const dir = tmpDir('berth-standby-');
  const bin = path.join(dir, 'berth-monitor');
  fs.copyFileSync(MONITOR_BIN, bin);
  fs.chmodSync(bin, 0o755);
  return {
    dir, bin,
    async remove() {
      await until(() => processesOf(bin).length === 0, 'no monitor of this binary left');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Live processes running exactly this binary (zombies left to a host init that reaps late are gone). */
function processesOf(bin: string): number[] {
  const out: number[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (fs.readlinkSync(`/proc/${n}/exe`) !== bin) continue;
      if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${n}/stat`, 'utf8'))) continue;
      out.push(Number(n));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const isStandby = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--standby');
  } catch {
    return false;
  }
};

/** The one detached standby process (its first process has exited by then), other than `not`. */
const standbyPid = (bin: string, ...not: number[]) => until(() => {
  const p = processesOf(bin).filter(isStandby);
  return p.length === 1 && !not.includes(p[0]) ? p[0] : undefined;
}, 'exactly one standby process, a new one');

function opts(b: Bundle, runtime: string, monitors: MonitorStandby, extra: Partial<CreateOptions> = {}): CreateOptions {
  return { id: b.id, bundle: b.bundle, runtime, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: monitors.bin, monitors, ...extra };
}

const rt = isRoot && fs.existsSync(MONITOR_BIN) ? testRuntimes().find((r) => r.name === 'runc') : undefined;
if (!isRoot) skip('monitor standby', 'needs root (runc creates namespaces and cgroups)');
else if (!fs.existsSync(MONITOR_BIN)) skip('monitor standby', `${MONITOR_BIN} is not built (make -C native)`);
else if (!rt?.usable) skip('monitor standby', rt?.reason ?? 'runc is not available');
else {
  const R = rt.path;

  test('a container started through the standby runs, logs and reports its pid and exit code', async () => {
    const c = monitorCopy();
    const standby = new MonitorStandby({ monitorPath: c.bin, size: 1 });
    const b = makeBundle(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    try {
      const waiting = await standbyPid(c.bin);
      const m = await createContainer(opts(b, R, standby));
      assert.is(m.monitorPid, waiting, 'the standby became the container\'s monitor');
      assert.ok(m.pid > 0 && m.pid !== m.monitorPid);
      assert.is(fs.readFileSync(path.join(b.monitorDir, 'container.pid'), 'utf8').trim(), String(m.pid));
      await m.start();
      const st = await m.waitExit();
      assert.is(st.exitCode, 7);
      assert.is(st.reason, 'exited');
      assert.is(st.pid, m.pid);
      assert.equal(readLogs(m.logPath!).map((r) => `${r.stream} ${r.text}`).sort(), ['stderr err', 'stdout out']);
      // a replacement waits, and it is another process
      const next = await standbyPid(c.bin, waiting);
      assert.ok(next > 0);
    } finally {
      await standby.close();
      await cleanupBundle(b, R);
      await c.remove();
    }
  });

  test('close(): the waiting standby exits, leaving no process and no file; later starts spawn directly', async () => {
    const c = monitorCopy();
    const standby = new MonitorStandby({ monitorPath: c.bin, size: 1 });
    const b = makeBundle(['true']);
    try {
      const pid = await standbyPid(c.bin);
      const before = fs.readdirSync(c.dir);
      await standby.close();
      await until(() => processesOf(c.bin).length === 0, 'the standby to exit on EOF');
      assert.not.ok(processesOf(c.bin).includes(pid));
      assert.equal(fs.readdirSync(c.dir), before, 'it wrote nothing');
      assert.not.ok(standby.enabled);
      const m = await createContainer(opts(b, R, standby));
      assert.not.ok(isStandby(m.monitorPid), 'a spawned monitor, not a standby');
      await m.start();
      assert.is((await m.waitExit()).exitCode, 0);
    } finally {
      await cleanupBundle(b, R);
      await c.remove();
    }
  });

  test('a standby whose owner is killed (SIGKILL) exits silently', async () => {
    const c = monitorCopy();
    const script = `import { MonitorStandby } from ${JSON.stringify(path.join(REPO, 'shim/monitor-standby.ts'))};
      globalThis.keep = new MonitorStandby({ monitorPath: ${JSON.stringify(c.bin)}, size: 1 });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        owner.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
        owner.on('exit', (code) => reject(new Error(`owner exited with ${code}`)));
      });
      const pid = await standbyPid(c.bin);
      owner.kill('SIGKILL');
      await until(() => processesOf(c.bin).length === 0, 'the standby to exit once its owner is gone');
      assert.not.ok(processesOf(c.bin).includes(pid));
      assert.equal(fs.readdirSync(c.dir), ['berth-monitor'], 'it wrote nothing');
    } finally {
      if (owner.exitCode === null && owner.signalCode === null) owner.kill('SIGKILL');
      await c.remove();
    }
  });

  test('a standby killed while waiting is replaced; bad arguments come back as error reports', async () => {
    const c = monitorCopy();
    const standby = new MonitorStandby({ monitorPath: c.bin, size: 1 });
    const b = makeBundle(['true']);
    try {
      const first = await standbyPid(c.bin);
      process.kill(first, 'SIGKILL');
      const second = await standbyPid(c.bin, first);
      // the monitor validates in standby mode as on its command line, and says so on the sync socket
      const args = { id: b.id, bundle: b.bundle, runtime: R, dir: b.monitorDir };
      const err1 = await standby.spawn({ ...args, oomFile: 'relative' }, { monitorPath: c.bin }).catch((e: Error) => e);
      assert.instance(err1, Error);
      assert.match((err1 as Error).message, /--oom-file must be an absolute path, got relative/);
      await until(() => !processesOf(c.bin).includes(second), 'the standby that refused to exit');
      const third = await standbyPid(c.bin, second);
      const err2 = await standby.spawn({ ...args, dir: path.join(b.dir, 'missing') }, { monitorPath: c.bin }).catch((e: Error) => e);
      assert.instance(err2, Error);
      assert.match((err2 as Error).message, /open .*missing: No such file or directory/);
      await until(() => !processesOf(c.bin).includes(third), 'the standby that could not open its dir to exit');
      const fourth = await standbyPid(c.bin, third);
      assert.equal(fs.readdirSync(b.monitorDir), [], 'refused requests wrote nothing');
      const m = await createContainer(opts(b, R, standby));
      assert.is(m.monitorPid, fourth, 'a good request after refusals works');
      await m.start();
      assert.is((await m.waitExit()).exitCode, 0);
    } finally {
      await standby.close();
      await cleanupBundle(b, R);
      await c.remove();
    }
  });

  test('several starts at once through two standbys all succeed (two through them, the rest spawned)', async () => {
    const c = monitorCopy();
    const standby = new MonitorStandby({ monitorPath: c.bin, size: 2 });
    const bundles = [0, 1, 2, 3].map((i) => makeBundle(['sh', '-c', `echo hello-${i}`]));
    try {
      const waiting = await until(() => {
        const p = processesOf(c.bin).filter(isStandby);
        return p.length === 2 && standby.waiting === 2 ? p : undefined;
      }, 'two standby processes');
      const ms = await Promise.all(bundles.map((b) => createContainer(opts(b, R, standby))));
      assert.is(new Set(ms.map((m) => m.monitorPid)).size, 4);
      assert.equal(ms.map((m) => m.monitorPid).filter((p) => waiting.includes(p)).sort(), [...waiting].sort());
      await Promise.all(ms.map((m) => m.start()));
      const sts = await Promise.all(ms.map((m) => m.waitExit()));
      assert.equal(sts.map((s) => s.exitCode), [0, 0, 0, 0]);
      ms.forEach((m, i) => assert.equal(readLogs(m.logPath!).map((r) => r.text), [`hello-${i}`]));
    } finally {
      await standby.close();
      for (const b of bundles) await cleanupBundle(b, R);
      await c.remove();
    }
  });

  test('BERTH_MONITOR_STANDBY: off = no standby; a count; default 2', async () => {
    const c = monitorCopy();
    const standby = new MonitorStandby({ monitorPath: c.bin, env: { BERTH_MONITOR_STANDBY: 'off' } });
    try {
      assert.equal([standbyCount({}), standbyCount({ BERTH_MONITOR_STANDBY: '3' }), standbyCount({ BERTH_MONITOR_STANDBY: 'lots' })], [2, 3, 2]);
      assert.not.ok(standby.enabled);
      assert.is(standby.waiting, 0);
      assert.equal(processesOf(c.bin), []);
    } finally {
      await standby.close();
      await c.remove();
    }
  });
}

test.run();
