// berth-monitor under a real runtime: exit codes, CRI logs (partial lines, long lines, rotation),
// runtime errors reaching the caller, no fd leaks into the container, RSS, no zombies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { MONITOR_BIN, cleanupBundle, makeBundle, testRuntimes, until, vmRssKiB, zombiesOf, alive, type Bundle } from '../lib/monitor.js';
import { createContainer, startContainer, readLogs, type CreateOptions } from '../../shim/index.js';

function opts(b: Bundle, runtime: string, extra: Partial<CreateOptions> = {}): CreateOptions {
  return { id: b.id, bundle: b.bundle, runtime, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: MONITOR_BIN, ...extra };
}

async function withBundle(args: string[], runtime: string, fn: (b: Bundle) => Promise<void>): Promise<void> {
  const b = makeBundle(args);
  try {
    await fn(b);
  } finally {
    await cleanupBundle(b, runtime);
  }
}

const strip = (rs: ReturnType<typeof readLogs>) => rs.map((r) => `${r.stream} ${r.partial ? 'P' : 'F'} ${r.text}`);

if (!isRoot) skip('monitor lifecycle', 'needs root (runtimes create namespaces and cgroups)');
else if (!fs.existsSync(MONITOR_BIN)) skip('monitor lifecycle', `${MONITOR_BIN} is not built (make -C native)`);
else for (const rt of testRuntimes()) {
  if (!rt.usable) { skip(`monitor lifecycle with ${rt.name}`, rt.reason!); continue; }
  const R = rt.path;

  test(`${rt.name}: exit 0, stdout/stderr in CRI format, unterminated last line as P`, () =>
    withBundle(['sh', '-c', 'echo out1; echo err1 >&2; echo out2; printf part'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      assert.ok(m.pid > 0 && m.monitorPid > 0);
      const st = await m.waitExit();
      assert.is(st.exitCode, 0);
      assert.is(st.signal, null);
      assert.is(st.reason, 'exited');
      assert.match(st.exitedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const raw = fs.readFileSync(m.logPath!, 'utf8');
      for (const line of raw.trimEnd().split('\n')) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /);
      const recs = strip(readLogs(m.logPath!));
      assert.equal(recs.filter((r) => r.startsWith('stdout')), ['stdout F out1', 'stdout F out2', 'stdout P part']);
      assert.equal(recs.filter((r) => r.startsWith('stderr')), ['stderr F err1']);
    }));

  test(`${rt.name}: exit code 3 is recorded`, () =>
    withBundle(['sh', '-c', 'exit 3'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      const st = await m.waitExit();
      assert.is(st.exitCode, 3);
      assert.is(st.reason, 'exited');
    }));

  test(`${rt.name}: killed by a signal -> 128+n, signal, reason signaled`, () =>
    withBundle(['sleep', '600'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      assert.ok(m.isRunning());
      await m.signal('KILL');
      const st = await m.waitExit();
      assert.is(st.exitCode, 137);
      assert.is(st.signal, 9);
      assert.is(st.reason, 'signaled');
    }));

  test(`${rt.name}: the runtime's error text reaches the caller`, () =>
    withBundle(['/no/such/binary'], R, async (b) => {
      let err: unknown;
      try {
        const m = await startContainer(opts(b, R));
        await m.waitExit(); // a runtime that only fails at start still must not report success
      } catch (e) {
        err = e;
      }
      assert.ok(err, 'starting a missing binary must fail');
      assert.match((err as Error).message, /no\/such\/binary|no such file/i);
    }));

  test(`${rt.name}: a line longer than the buffer is cut into P records`, () =>
    withBundle(['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo; echo after'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      await m.waitExit();
      const recs = readLogs(m.logPath!);
      assert.equal(recs.map((r) => [r.partial, r.text.length]), [[true, 16384], [true, 16384], [false, 40000 - 32768], [false, 5]]);
      assert.is(recs.map((r) => r.text).slice(0, 3).join(''), 'x'.repeat(40000));
    }));

  test(`${rt.name}: size-based rotation keeps N files`, () =>
    withBundle(['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done'], R, async (b) => {
      const m = await startContainer(opts(b, R, { logMaxSize: 2000, logMaxFiles: 2 }));
      await m.waitExit();
      const log = m.logPath!;
      assert.ok(fs.existsSync(`${log}.1`) && fs.existsSync(`${log}.2`), 'rotated files exist');
      assert.not.ok(fs.existsSync(`${log}.3`), 'only 2 rotated files are kept');
      for (const f of [log, `${log}.1`, `${log}.2`]) assert.ok(fs.statSync(f).size <= 2000, `${f} within the size limit`);
      const texts = readLogs(log).map((r) => r.text);
      assert.is(texts[texts.length - 1], 'line-199');
      const first = Number(texts[0]!.slice(5));
      assert.equal(texts, Array.from({ length: 200 - first }, (_, i) => `line-${first + i}`), 'rotated files read back in order, nothing lost between them');
    }));

  test(`${rt.name}: only 0,1,2 reach the container (ls's own dir fd is 3)`, () =>
    withBundle(['ls', '/proc/self/fd'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      await m.waitExit();
      assert.equal(readLogs(m.logPath!).map((r) => r.text), ['0', '1', '2', '3']);
    }));

  test(`${rt.name}: monitor RSS stays small, and nothing is left as a zombie`, () =>
    withBundle(['sleep', '600'], R, async (b) => {
      const m = await startContainer(opts(b, R));
      const rss = vmRssKiB(m.monitorPid);
      console.log(`berth-monitor VmRSS with ${rt.name}: ${rss} KiB`);
      assert.ok(rss < 2048, `monitor RSS ${rss} KiB is under 2 MiB`);
      await m.signal('KILL');
      await m.waitExit();
      await until(() => !alive(m.monitorPid), 'the monitor to exit');
      assert.equal(zombiesOf(process.pid), [], 'no zombie children of the caller');
      assert.equal(zombiesOf(m.monitorPid), [], 'no zombie children of the monitor');
    }));

  test(`${rt.name}: the OOM killer ending the container is reported as oom-killed`, () =>
    withBundle(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], R, async (b) => {
      const cfgFile = path.join(b.bundle, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 16 << 20 } };
      fs.writeFileSync(cfgFile, JSON.stringify(cfg));
      // Hybrid hierarchy here: memory is a v1 controller; on a pure v2 host it is memory.events.
      const v1 = `/sys/fs/cgroup/memory${cfg.linux.cgroupsPath}/memory.oom_control`;
      const v2 = `/sys/fs/cgroup${cfg.linux.cgroupsPath}/memory.events`;
      const oomFile = fs.existsSync('/sys/fs/cgroup/memory') ? v1 : v2;
      const m = await startContainer(opts(b, R, { oomFile }));
      const st = await m.waitExit();
      assert.is(st.signal, 9);
      assert.is(st.oomKilled, true);
      assert.is(st.reason, 'oom-killed');
    }));

  test(`${rt.name}: the exit command runs after exit.json is written`, () =>
    withBundle(['sh', '-c', 'exit 2'], R, async (b) => {
      const out = path.join(b.dir, 'exit-command.out');
      const m = await startContainer(opts(b, R, { exitCommand: ['/bin/sh', '-c', `cat ${b.monitorDir}/exit.json > ${out}`] }));
      await m.waitExit();
      await until(() => !alive(m.monitorPid), 'the monitor to finish its exit command');
      assert.is(JSON.parse(fs.readFileSync(out, 'utf8')).exitCode, 2);
    }));

  test(`${rt.name}: create without start, then start later`, () =>
    withBundle(['sh', '-c', 'echo started; exit 7'], R, async (b) => {
      const m = await createContainer(opts(b, R));
      assert.is(m.exitStatus(), undefined);
      assert.ok(fs.existsSync(path.join(b.monitorDir, 'attach')));
      await m.start();
      const st = await m.waitExit();
      assert.is(st.exitCode, 7);
      assert.equal(readLogs(m.logPath!).map((r) => r.text), ['started']);
    }));
}

test.run();
