// Attach (live output, stdin, StdinOnce), tty with resize, log reopen, and exec sessions through
// berth-monitor under a real runtime.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { MONITOR_BIN, cleanupBundle, makeBundle, readUntil, testRuntimes, until, type Bundle } from '../lib/monitor.js';
import { createContainer, startContainer, readLogs, type CreateOptions, type Monitor } from '../../shim/index.js';

function opts(b: Bundle, runtime: string, extra: Partial<CreateOptions> = {}): CreateOptions {
  return { id: b.id, bundle: b.bundle, runtime, runtimeArgs: ['--root', b.runtimeRoot], dir: b.monitorDir, monitorPath: MONITOR_BIN, ...extra };
}

async function withBundle(args: string[], runtime: string, o: { tty?: boolean }, fn: (b: Bundle) => Promise<void>): Promise<void> {
  const b = makeBundle(args, o);
  try {
    await fn(b);
  } finally {
    await cleanupBundle(b, runtime);
  }
}

const proc = (args: string[]) => ({ args, cwd: '/', env: ['PATH=/bin', 'TERM=xterm'], user: { uid: 0, gid: 0 } });
const texts = (m: Monitor) => readLogs(m.logPath!).map((r) => `${r.stream}:${r.text}`);

if (!isRoot) skip('monitor attach/exec', 'needs root (runtimes create namespaces and cgroups)');
else if (!fs.existsSync(MONITOR_BIN)) skip('monitor attach/exec', `${MONITOR_BIN} is not built (make -C native)`);
else for (const rt of testRuntimes()) {
  if (!rt.usable) { skip(`monitor attach/exec with ${rt.name}`, rt.reason!); continue; }
  const R = rt.path;

  test(`${rt.name}: attach streams live output, stdin reaches cat, half-close ends it (StdinOnce)`, () =>
    withBundle(['cat'], R, {}, async (b) => {
      const m = await createContainer(opts(b, R, { stdin: true, stdinOnce: true }));
      const a = await m.attach();
      await m.start();
      a.stdin.write('hello\n');
      assert.is(await readUntil(a.stdout, (t) => t.includes('hello\n')), 'hello\n');
      a.stdin.write('second\n');
      await readUntil(a.stdout, (t) => t.includes('second\n'));
      a.stdin.end();
      const st = await m.waitExit();
      assert.is(st.exitCode, 0, 'cat saw EOF and exited');
      await a.closed;
      assert.equal(texts(m), ['stdout:hello', 'stdout:second']);
    }));

  // A client's connection waits in the monitor's backlog when it starts the container (`berth run`);
  // a monitor that sees the first output in the same round must accept that client before reading it.
  // Stopping the monitor makes that round certain (on a loaded host it happened by itself).
  test(`${rt.name}: output of a start right after attach reaches the client even when the monitor lags`, () =>
    withBundle(['sh', '-c', 'echo early; exec sleep 2'], R, {}, async (b) => {
      const m = await createContainer(opts(b, R));
      process.kill(m.monitorPid, 'SIGSTOP');
      try {
        const a = await m.attach();
        const out = readUntil(a.stdout, (t) => t.includes('early\n'));
        await m.start();
        await until(() => { try { return fs.readFileSync(`/proc/${m.pid}/comm`, 'utf8') === 'sleep\n'; } catch { return false; } }, 'the container wrote and went on');
        process.kill(m.monitorPid, 'SIGCONT');
        assert.is(await out, 'early\n');
        assert.is((await m.waitExit()).exitCode, 0);
      } finally {
        process.kill(m.monitorPid, 'SIGCONT');
      }
    }));

  test(`${rt.name}: a client that stops reading is dropped; the log and the container never stall`, () =>
    withBundle(['sh', '-c', 'head -c 8000000 /dev/zero | tr "\\0" x; echo; echo END'], R, {}, async (b) => {
      const m = await createContainer(opts(b, R));
      const a = await m.attach();
      a.stdout.pause(); // reads nothing: 8 MB cannot fit in the socket buffer
      await m.start();
      const st = await m.waitExit();
      assert.is(st.exitCode, 0);
      let got = 0;
      a.stdout.on('data', (d: Buffer) => { got += d.length; });
      a.stdout.resume();
      await a.closed;
      assert.ok(got < 8000000, `the stalled client was cut off (got ${got} bytes)`);
      const recs = readLogs(m.logPath!);
      assert.is(recs.slice(0, -1).reduce((n, r) => n + r.text.length, 0), 8000000, 'the log has every byte');
      assert.is(recs[recs.length - 1]!.text, 'END');
    }));

  test(`${rt.name}: without a tty, stdout and stderr stay apart on the attach stream`, () =>
    withBundle(['sh', '-c', 'read x; echo "o:$x"; echo "e:$x" >&2'], R, {}, async (b) => {
      const m = await createContainer(opts(b, R, { stdin: true }));
      const a = await m.attach();
      await m.start();
      a.stdin.write('v\n');
      const [o, e] = await Promise.all([readUntil(a.stdout, (t) => t.includes('\n')), readUntil(a.stderr, (t) => t.includes('\n'))]);
      assert.is(o, 'o:v\n');
      assert.is(e, 'e:v\n');
      assert.is((await m.waitExit()).exitCode, 0);
    }));

  test(`${rt.name}: tty mode: initial size and resize seen by stty size inside`, () =>
    withBundle(['sh', '-c', 'stty size; read x; stty size'], R, { tty: true }, async (b) => {
      const m = await createContainer(opts(b, R, { stdin: true, ttySize: { rows: 24, cols: 80 } }));
      assert.ok(m.tty);
      const a = await m.attach();
      await m.start();
      await readUntil(a.stdout, (t) => t.includes('24 80'));
      await m.resize(30, 100);
      a.stdin.write('\n');
      await readUntil(a.stdout, (t) => t.includes('30 100'));
      assert.is((await m.waitExit()).exitCode, 0);
      const log = texts(m).join('|');
      assert.match(log, /stdout:24 80/);
      assert.match(log, /stdout:30 100/);
    }));

  test(`${rt.name}: a monitor dir longer than sun_path (108 bytes) still serves console, attach and ctl`, () =>
    withBundle(['sh', '-c', 'read x; stty size'], R, { tty: true }, async (b) => {
      const dir = path.join(b.dir, 'd'.repeat(60), 'e'.repeat(60));
      assert.ok(path.join(dir, 'console').length > 108);
      const m = await createContainer(opts(b, R, { dir, stdin: true }));
      const a = await m.attach();
      await m.start();
      await m.resize(12, 34);
      a.stdin.write('\n');
      await readUntil(a.stdout, (t) => t.includes('12 34'));
      assert.is((await m.waitExit()).exitCode, 0);
    }));

  test(`${rt.name}: resize without a tty is refused with a clear message`, () =>
    withBundle(['sleep', '600'], R, {}, async (b) => {
      const m = await startContainer(opts(b, R));
      try {
        await m.resize(10, 10);
        assert.unreachable('resize must fail without a tty');
      } catch (e) {
        assert.match((e as Error).message, /no tty/);
      }
      await m.signal('KILL');
      await m.waitExit();
    }));

  test(`${rt.name}: reopen log after an external rotation`, () =>
    withBundle(['cat'], R, {}, async (b) => {
      const m = await createContainer(opts(b, R, { stdin: true }));
      const a = await m.attach();
      await m.start();
      a.stdin.write('before\n');
      await readUntil(a.stdout, (t) => t.includes('before'));
      fs.renameSync(m.logPath!, `${m.logPath}.old`);
      await m.reopenLog();
      a.stdin.write('after\n');
      await readUntil(a.stdout, (t) => t.includes('after'));
      await m.closeStdin();
      await m.waitExit();
      assert.match(fs.readFileSync(`${m.logPath}.old`, 'utf8'), / stdout F before\n$/);
      assert.equal(texts(m), ['stdout:after']);
    }));

  test(`${rt.name}: exec runs in the container with its own exit code and output`, () =>
    withBundle(['sleep', '600'], R, {}, async (b) => {
      const m = await startContainer(opts(b, R));
      const r = await m.execSync(proc(['sh', '-c', 'echo hi; hostname; echo bad >&2; exit 5']));
      assert.is(r.exitCode, 5);
      assert.is(r.stdout, 'hi\nbmon\n');
      assert.is(r.stderr, 'bad\n');
      assert.ok(m.isRunning(), 'the container outlives its exec');
      const sessions = m.execSessions();
      assert.is(sessions.length, 1);
      assert.is(sessions[0]!.exitStatus()?.exitCode, 5, 'exec sessions reload from disk');
      sessions[0]!.removeExecSession();
      assert.equal(m.execSessions(), []);
      await m.signal('KILL');
      await m.waitExit();
    }));

  test(`${rt.name}: exec with attach and stdin, and exec with a tty`, () =>
    withBundle(['sleep', '600'], R, {}, async (b) => {
      const m = await startContainer(opts(b, R));
      const { session, streams } = await m.exec({ process: proc(['sh', '-c', 'echo ready; read x; echo "got $x"; exit 4']), stdin: true, stdinOnce: true, attach: true });
      await readUntil(streams!.stdout, (t) => t.includes('ready\n'));
      streams!.stdin.write('ping\n');
      await readUntil(streams!.stdout, (t) => t.includes('got ping'));
      assert.is((await session.waitExit()).exitCode, 4);

      const t = await m.exec({ process: proc(['sh', '-c', 'sleep 0.3; stty size; tty']), tty: true, ttySize: { rows: 40, cols: 120 }, attach: true });
      // The attach client connects while the exec starts: the sleep keeps the output after it.
      const live = readUntil(t.streams!.stdout, (x) => x.includes('/dev/pts/'));
      assert.is((await t.session.waitExit()).exitCode, 0);
      assert.match(await live, /40 120\r?\n/, 'raw tty stream on the attach socket');
      const out = texts(t.session).join('|');
      assert.match(out, /40 120/);
      assert.match(out, /\/dev\/pts\//);
      await m.signal('KILL');
      await m.waitExit();
    }));

  test(`${rt.name}: exec of a missing binary fails with the runtime's message`, () =>
    withBundle(['sleep', '600'], R, {}, async (b) => {
      const m = await startContainer(opts(b, R));
      try {
        const r = await m.execSync(proc(['/no/such/tool']));
        assert.unreachable(`exec should fail, got exit ${r.exitCode}`);
      } catch (e) {
        assert.match((e as Error).message, /no\/such\/tool|no such file/i);
      }
      await m.signal('KILL');
      await m.waitExit();
      await until(() => !m.isRunning(), 'container to stop');
    }));
}

test.run();
