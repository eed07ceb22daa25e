// Containers outlive their caller: kill -9 the process that started one, and a new client still
// gets its logs and exit code from disk; kill -9 the monitor, and waiting reports the container
// stopped with a reason instead of hanging.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, isRoot, skip } from '../lib/harness.js';
import { MONITOR_BIN, cleanupBundle, makeBundle, readUntil, testRuntimes, until, alive, zombiesOf, type Bundle } from '../lib/monitor.js';
import { Monitor, MONITOR_DIED, startContainer, type LogRecord } from '../../shim/index.js';

async function withBundle(args: string[], runtime: string, fn: (b: Bundle) => Promise<void>): Promise<void> {
  const b = makeBundle(args);
  try {
    await fn(b);
  } finally {
    await cleanupBundle(b, runtime);
  }
}

if (!isRoot) skip('monitor survival', 'needs root (runtimes create namespaces and cgroups)');
else if (!fs.existsSync(MONITOR_BIN)) skip('monitor survival', `${MONITOR_BIN} is not built (make -C native)`);
else for (const rt of testRuntimes()) {
  if (!rt.usable) { skip(`monitor survival with ${rt.name}`, rt.reason!); continue; }
  const R = rt.path;

  test(`${rt.name}: the caller is killed -9 while the container runs; a new client gets logs and the exit code`, () =>
    withBundle(['sh', '-c', 'echo one; read x; echo two; exit 9'], R, async (b) => {
      // A separate Node process starts the container, reports, and is then killed mid-flight.
      const script = `
        import { startContainer } from ${JSON.stringify(path.join(REPO, 'shim/index.ts'))};
        const m = await startContainer(${JSON.stringify({ id: b.id, bundle: b.bundle, runtime: R, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: MONITOR_BIN, stdin: true })});
        console.log('started ' + m.monitorPid);
        setInterval(() => {}, 1000);`;
      const caller = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
      const line = await readUntil(caller.stdout!, (t) => t.includes('\n'), 30000);
      const monitorPid = Number(/started (\d+)/.exec(line)![1]);
      caller.kill('SIGKILL');
      await new Promise((r) => caller.once('exit', r));

      const m = Monitor.load(b.monitorDir);
      assert.is(m.monitorPid, monitorPid);
      assert.ok(m.isRunning(), 'the container and its monitor outlive the caller');
      const seen: LogRecord[] = [];
      const following = (async () => { for await (const r of m.logs({ follow: true })) seen.push(r); })();
      await until(() => seen.some((r) => r.text === 'one'), 'the first line through a new client');
      const a = await m.attach();
      a.stdin.write('go\n');
      const st = await m.waitExit();
      await following;
      assert.is(st.exitCode, 9);
      assert.equal(seen.map((r) => r.text), ['one', 'two']);
      a.detach();
      await until(() => !alive(monitorPid), 'the monitor to exit');
    }));

  test(`${rt.name}: a caller killed before it recorded the pids: load finds them in the monitor's pid files`, () =>
    withBundle(['sh', '-c', 'read x; exit 6'], R, async (b) => {
      const m = await startContainer({ id: b.id, bundle: b.bundle, runtime: R, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: MONITOR_BIN, stdin: true });
      // What session.json holds when the caller died between spawning the monitor and its report.
      const f = path.join(b.monitorDir, 'session.json');
      const { pid, monitorPid, monitorStartTime, ...early } = JSON.parse(fs.readFileSync(f, 'utf8'));
      fs.writeFileSync(f, JSON.stringify(early));
      const again = Monitor.load(b.monitorDir);
      assert.is(again.pid, pid);
      assert.is(again.monitorPid, monitorPid);
      assert.is(again.session.monitorStartTime, monitorStartTime);
      assert.ok(again.isRunning());
      await again.closeStdin();
      assert.is((await again.waitExit()).exitCode, 6);
    }));

  test(`${rt.name}: the monitor is killed -9; waiting reports the container stopped with a reason`, () =>
    withBundle(['sleep', '600'], R, async (b) => {
      const m = await startContainer({ id: b.id, bundle: b.bundle, runtime: R, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: MONITOR_BIN });
      process.kill(m.monitorPid, 'SIGKILL');
      const started = Date.now();
      const st = await m.waitExit();
      assert.ok(Date.now() - started < 5000, 'noticed promptly');
      assert.is(st.reason, MONITOR_DIED);
      assert.not.ok(m.isRunning());
      // Every later reader (after a restart) agrees.
      assert.is(Monitor.load(b.monitorDir).exitStatus()?.reason, MONITOR_DIED);
      assert.equal(zombiesOf(process.pid), []);
    }));
}

test.run();
