// The pre-warmed, single-use CLI process (cli/warm-serve.ts, native/berth-client.c, native/warm-handoff.c)
// with real processes: a call handed to a waiting process behaves as a freshly started `berth` would
// (exit codes, stdio by fd, stdin, a pty, signals, cwd, umask), keys separate environments and bundles,
// a dead or idle warm process costs nothing but a cold start, and BERTH_WARM=off never connects.
// Each test has a BERTH_WARM_DIR of its own; every warm process it started is ended (by pid) after it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { alive, isRoot, skip, tmpDir } from '../lib/harness.js';
import { IMAGE, envWithImage, inPty, sleep, until, type Env } from '../lib/containers.js';
import { REPO } from '../lib/harness.js';

let E: Env;
let BERTH: string; // this file's private copy of the install (below)
let BUNDLE: string;
const dirs: string[] = [];

/**
 * A copy of the install whose bundle and client are this file's own: other builds of the checkout (a
 * rebuilt bundle is a new key, and outdated warm processes leave) cannot disturb it, and the rebuild
 * test rebuilds only it. Everything else is a symlink to the checkout.
 */
function privateInstall(): string {
  const root = tmpDir('berth-warm-install-');
  for (const e of fs.readdirSync(REPO)) if (!['bin', 'dist', 'native'].includes(e)) fs.symlinkSync(path.join(REPO, e), path.join(root, e));
  fs.mkdirSync(path.join(root, 'dist'));
  for (const f of fs.readdirSync(path.join(REPO, 'dist'))) if (!/\.cache|\.tmp$/.test(f)) fs.copyFileSync(path.join(REPO, 'dist', f), path.join(root, 'dist', f));
  fs.mkdirSync(path.join(root, 'native', 'build'), { recursive: true });
  for (const f of fs.readdirSync(path.join(REPO, 'native', 'build'))) {
    if (f === 'berth-client') fs.copyFileSync(path.join(REPO, 'native', 'build', f), path.join(root, 'native', 'build', f));
    else fs.symlinkSync(path.join(REPO, 'native', 'build', f), path.join(root, 'native', 'build', f));
  }
  fs.chmodSync(path.join(root, 'native', 'build', 'berth-client'), 0o755);
  fs.cpSync(path.join(REPO, 'bin'), path.join(root, 'bin'), { recursive: true, verbatimSymlinks: true });
  return root;
}

if (!isRoot) skip('cli-warm', 'needs root (containers)');

interface Warm { dir: string; env: NodeJS.ProcessEnv }

function warmEnv(extra: NodeJS.ProcessEnv = {}): Warm {
  const dir = path.join(tmpDir('berth-warm-'), 'w');
  dirs.push(dir);
  return { dir, env: { ...process.env, BERTH_RUNTIME_BIN: path.join(path.dirname(BERTH), 'berth-runtime'), BERTH_WARM_DIR: dir, BERTH_TIMING: '1', ...extra } };
}

/** The live warm processes registered in a dir (pid files warm-<pid>.pid: "<pid> <key>"). */
function registered(dir: string): { pid: number; key: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^warm-\d+\.pid$/.test(f)).flatMap((f) => {
    try {
      const [pid, key] = fs.readFileSync(path.join(dir, f), 'utf8').trim().split(' ');
      return alive(Number(pid)) ? [{ pid: Number(pid), key }] : [];
    } catch { return []; }
  });
}

/** The one process waiting in `w.dir` (started by an earlier call), once it is there. */
async function waitingPid(w: Warm): Promise<number> {
  await until('a waiting warm process', () => registered(w.dir).length === 1, 15_000);
  return registered(w.dir)[0].pid;
}

function berth(w: Warm, args: string[], o: { input?: string; cwd?: string; stdio?: unknown[] } = {}): SpawnSyncReturns<string> {
  return spawnSync(BERTH, ['--root', E.root, '--state', E.state, ...args], { encoding: 'utf8', env: w.env, input: o.input ?? '', cwd: o.cwd, timeout: 60_000, stdio: o.stdio as never });
}

/** Which warm process served a call (its BERTH_TIMING line names it); undefined when it ran cold. */
function servedBy(r: SpawnSyncReturns<string>): number | undefined {
  const m = /berth-timing \(warm pid (\d+)\)/.exec(r.stderr ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A warm process is waiting: the next call is served by it. */
async function ready(w: Warm): Promise<number> {
  if (registered(w.dir).length === 0) berth(w, ['--version']);
  return waitingPid(w);
}

test.before(async () => {
  if (!isRoot) return;
  E = await envWithImage();
  const root = privateInstall();
  BERTH = path.join(root, 'bin', 'berth');
  BUNDLE = path.join(root, 'dist', 'berth.cjs');
});

test.after.each(() => {
  for (const d of dirs.splice(0)) {
    for (const { pid } of registered(d)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
});

test.after(() => { E?.cleanup(); });

test('a call is served by the waiting process, which is single-use; exit codes pass through', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const first = berth(w, ['--version']);
  assert.is(first.status, 0, first.stderr);
  assert.is(first.stdout.trim(), JSON.parse(fs.readFileSync(path.join(path.dirname(BERTH), '../package.json'), 'utf8')).version);
  assert.is(servedBy(first), undefined, 'the first call of a key runs cold');
  const pid = await waitingPid(w);
  const r = berth(w, ['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.is(r.status, 3, r.stderr);
  assert.is(r.stdout, 'out\n');
  assert.match(r.stderr, /^err$/m);
  assert.is(servedBy(r), pid, r.stderr);
  assert.match(r.stderr, /berth-timing \(warm pid \d+\): commands-loaded=/);
  assert.match(r.stderr, /berth-client-timing: connect=[\d.]+ handoff=/);
  await until('the serving process is gone', () => !alive(pid));
  const next = await waitingPid(w);
  assert.is.not(next, pid, 'a new process waits for the next call');
  const failed = berth(w, ['run', '--rm', '--pull', 'never', 'localhost/test/absent:1', 'true']);
  assert.is(servedBy(failed), next);
  assert.is(failed.status, 125);
  assert.is(failed.stderr.split('\n').filter((l) => l.startsWith('berth:')).length, 1, failed.stderr);
});

test('stdout to a pipe and to a file opened for append: the fd is passed, not reopened', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  await ready(w);
  const file = path.join(w.dir, '..', 'out.txt');
  fs.writeFileSync(file, 'before\n');
  const fd = fs.openSync(file, 'a');
  const r = berth(w, ['run', '--rm', IMAGE, 'echo', 'appended'], { stdio: ['pipe', fd, 'pipe'] });
  assert.is(r.status, 0, r.stderr);
  assert.ok(servedBy(r));
  fs.closeSync(fd);
  assert.is(fs.readFileSync(file, 'utf8'), 'before\nappended\n');
  // an offset shared with the caller: the output lands at the caller's offset, a write after it after it
  const file2 = path.join(w.dir, '..', 'out2.txt');
  const fd2 = fs.openSync(file2, 'w');
  fs.writeSync(fd2, 'BEFORE\n');
  await ready(w);
  const r2 = berth(w, ['run', '--rm', IMAGE, 'echo', 'at-offset'], { stdio: ['pipe', fd2, 'pipe'] });
  assert.ok(servedBy(r2), r2.stderr);
  fs.writeSync(fd2, 'after\n');
  fs.closeSync(fd2);
  assert.is(fs.readFileSync(file2, 'utf8'), 'BEFORE\nat-offset\nafter\n');
  // and to a pipe
  await ready(w);
  const r3 = berth(w, ['run', '--rm', IMAGE, 'echo', 'piped']);
  assert.ok(servedBy(r3), r3.stderr);
  assert.is(r3.stdout, 'piped\n');
});

test('stdin piped through (run -i cat, load from stdin)', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  await ready(w);
  const r = berth(w, ['run', '--rm', '-i', IMAGE, 'cat'], { input: 'line one\nline two\n' });
  assert.is(r.status, 0, r.stderr);
  assert.ok(servedBy(r));
  assert.is(r.stdout, 'line one\nline two\n');
  const archive = path.join(w.dir, '..', 'img.tar');
  assert.is(berth(w, ['save', '-o', archive, IMAGE]).status, 0);
  await ready(w);
  // into a store of its own, which then lists the image
  const root = path.join(w.dir, '..', 'root2');
  const load = spawnSync(BERTH, ['--root', root, '--state', E.state, 'load'], { env: w.env, input: fs.readFileSync(archive), encoding: 'utf8' });
  assert.is(load.status, 0, load.stderr);
  assert.ok(servedBy(load), load.stderr);
  await ready(w);
  const images = spawnSync(BERTH, ['--root', root, '--state', E.state, 'images'], { env: w.env, encoding: 'utf8' });
  assert.match(images.stdout, /localhost\/test\/bb/, images.stdout + images.stderr);
});

test('-t through a real pty: the caller\'s terminal raw during the call and restored after, a resize reaches the container', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const pid = await ready(w);
  const r = inPty([BERTH, '--root', E.root, '--state', E.state, 'run', '--rm', '-it', IMAGE, 'sh', '-c', 'stty size; echo READY; read line; stty size; exit 4'],
    { rows: 30, cols: 100, resizeOn: 'READY', resizeTo: [40, 120], send: 'go\r' }, w.env);
  assert.is(r.code, 4, r.out);
  assert.match(r.out, /30 100\r*\n/);
  assert.match(r.out, /40 120\r*\n/);
  assert.match(r.out, new RegExp(`warm pid ${pid}`), r.out);
  // The terminal's modes as its master sees them: canonical mode and echo off while the call runs
  // (the warm process set raw mode on the passed fd), back on once the client has exited.
  await ready(w);
  const py = `
import os, pty, sys, termios, select, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''; during = None; t0 = time.time()
while time.time() - t0 < 30:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try: d = os.read(fd, 4096)
        except OSError: break
        if not d: break
        out += d
    if during is None and b'READY' in out:
        during = termios.tcgetattr(fd)[3]
        os.write(fd, b'x\\r')
os.waitpid(pid, 0)
after = termios.tcgetattr(fd)[3]
print('during-icanon=%d during-echo=%d after-icanon=%d after-echo=%d' % (bool(during & termios.ICANON), bool(during & termios.ECHO), bool(after & termios.ICANON), bool(after & termios.ECHO)))
`;
  const m = spawnSync('python3', ['-c', py, BERTH, '--root', E.root, '--state', E.state, 'run', '--rm', '-it', IMAGE, 'sh', '-c', 'echo READY; head -c 1 >/dev/null'], { env: w.env, encoding: 'utf8', timeout: 40_000 });
  assert.match(m.stdout, /during-icanon=0 during-echo=0 after-icanon=1 after-echo=1/, m.stdout + m.stderr);
});

test('the client killed mid-call: the call gets a hang-up (SIGHUP), as when a terminal goes away', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const pid = await ready(w);
  const mark = path.join(w.dir, '..', 'hup');
  fs.mkdirSync(mark);
  const p = spawn(BERTH, ['--root', E.root, '--state', E.state, 'run', '--rm', '-v', `${mark}:/m`, IMAGE, 'sh', '-c', 'trap "echo hup > /m/got; exit 9" HUP; echo ready; while true; do sleep 0.1; done'],
    { env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  await until('ready', () => out.includes('ready'));
  p.kill('SIGKILL');
  await until('the container saw SIGHUP', () => fs.existsSync(path.join(mark, 'got')), 10_000);
  await until('the warm process finished the call (--rm) and left', () => !alive(pid), 15_000);
  assert.is(spawnSync(BERTH, ['--root', E.root, '--state', E.state, 'ps', '-aq'], { env: w.env, encoding: 'utf8' }).stdout, '');
});

test('SIGTERM and SIGINT to the client reach the call (and the container)', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  for (const [sig, code] of [['SIGTERM', 12], ['SIGINT', 13]] as const) {
    const pid = await ready(w);
    const p = spawn(BERTH, ['--root', E.root, '--state', E.state, 'run', '--rm', IMAGE, 'sh', '-c', `trap "echo got; exit ${code}" ${sig.slice(3)}; echo ready; while true; do sleep 0.1; done`],
      { env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    await until('ready', () => out.includes('ready'));
    p.kill(sig);
    const c = await new Promise<number | null>((res) => p.on('exit', (x) => res(x)));
    assert.is(c, code, err);
    assert.match(out, /got/);
    assert.match(err, new RegExp(`warm pid ${pid}`));
  }
});

test('job control: SIGTSTP (^Z) to the client stops the call too, SIGCONT continues both', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const pid = await ready(w);
  const state = (p: number) => fs.readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '')[0];
  const p = spawn(BERTH, ['--root', E.root, '--state', E.state, 'run', '--rm', IMAGE, 'sh', '-c', 'echo ready; sleep 0.5; echo done'], { env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  await until('ready', () => out.includes('ready'));
  p.kill('SIGTSTP');
  await until('both stopped', () => state(p.pid!) === 'T' && state(pid) === 'T');
  p.kill('SIGCONT');
  const code = await new Promise<number | null>((res) => p.on('exit', (c) => res(c)));
  assert.is(code, 0);
  assert.match(out, /done/);
});

test('relative paths resolve against the client\'s cwd; the umask is the client\'s', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const cwd = path.join(w.dir, '..');
  fs.mkdirSync(path.join(cwd, 'data'));
  fs.writeFileSync(path.join(cwd, 'data', 'f'), 'from-host\n');
  await ready(w);
  const r = berth(w, ['run', '--rm', '-v', './data:/x', IMAGE, 'cat', '/x/f'], { cwd });
  assert.is(r.status, 0, r.stderr);
  assert.ok(servedBy(r));
  assert.is(r.stdout, 'from-host\n');
  for (const [mask, mode] of [['077', 0o600], ['022', 0o644]] as const) {
    await ready(w);
    const s = spawnSync('sh', ['-c', `umask ${mask}; exec "${BERTH}" --root "${E.root}" --state "${E.state}" save -o rel-${mask}.tar ${IMAGE}`], { cwd, env: w.env, encoding: 'utf8' });
    assert.is(s.status, 0, s.stderr);
    assert.ok(servedBy(s as SpawnSyncReturns<string>), s.stderr);
    assert.is(fs.statSync(path.join(cwd, `rel-${mask}.tar`)).mode & 0o777, mode, `umask ${mask}`);
  }
});

test('a call right after another waits for the warm process loading for it, rather than start cold', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  await ready(w);
  const calls = [0, 1, 2, 3].map(() => berth(w, ['--version']));
  for (const r of calls) assert.ok(servedBy(r), r.stderr);
  assert.is(new Set(calls.map(servedBy)).size, 4, 'one process each');
});

test('a different BERTH_* value gets a warm process of its own', async () => {
  if (!isRoot) return;
  const a = warmEnv({ BERTH_TEST_MARK: 'a' });
  const b = { dir: a.dir, env: { ...a.env, BERTH_TEST_MARK: 'b' } };
  berth(a, ['--version']);
  await until('a', () => registered(a.dir).length === 1, 15_000);
  berth(b, ['--version']);
  await until('b', () => registered(a.dir).length === 2, 15_000);
  const keys = new Set(registered(a.dir).map((x) => x.key));
  assert.is(keys.size, 2);
  const ra = berth(a, ['--version']);
  const rb = berth(b, ['--version']);
  assert.ok(servedBy(ra) && servedBy(rb));
  assert.is.not(servedBy(ra), servedBy(rb));
});

test('a warm process killed -9 (stale socket): the next call still works, and warm again after', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const pid = await ready(w);
  process.kill(pid, 'SIGKILL');
  await until('dead', () => !alive(pid));
  const r = berth(w, ['run', '--rm', IMAGE, 'sh', '-c', 'exit 5']);
  assert.is(r.status, 5, r.stderr);
  assert.is(servedBy(r), undefined, 'cold');
  const next = await waitingPid(w);
  assert.is(servedBy(berth(w, ['--version'])), next);
});

// The lock is held until the last thread of its holder has exited, after the holder already looks dead
// (or, idle, has said it is leaving): a call then must still start a successor, which waits for that.
test('a call that finds the lock held by a departing process still starts the next warm process', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const pid = await ready(w);
  const [lock] = fs.readdirSync(w.dir).filter((f) => f.endsWith('.lock')).map((f) => path.join(w.dir, f));
  process.kill(pid, 'SIGKILL');
  // a stand-in for a holder that lingers: it takes the lock once free and says it is leaving
  const holder = spawn('sh', ['-c', 'exec 9<>"$0"; flock 9; printf "leaving %d" $$ >"$0"; echo held; exec sleep 60', lock], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    holder.stdout!.on('data', (d) => { out += d; });
    await until('the stand-in holds the lock', () => out.includes('held'));
    const r = berth(w, ['--version']);
    assert.is(r.status, 0, r.stderr);
    assert.is(servedBy(r), undefined, 'cold: nothing listens');
    assert.equal(registered(w.dir), [], 'none while the lock is held');
    holder.kill('SIGKILL');
    const next = await waitingPid(w);
    assert.is(servedBy(berth(w, ['--version'])), next);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('a rebuilt bundle is not served by an old warm process (which leaves)', async () => {
  if (!isRoot) return;
  const w = warmEnv();
  const old = await ready(w);
  // a rebuild: new bytes (same code), as scripts/build.mjs writes them
  fs.appendFileSync(BUNDLE, '\n// rebuilt\n');
  const r = berth(w, ['--version']);
  assert.is(r.status, 0);
  assert.is.not(servedBy(r), old);
  await until('the outdated process leaves', () => !alive(old), 15_000);
});

test('BERTH_WARM=off never connects nor starts a warm process', async () => {
  if (!isRoot) return;
  const w = warmEnv({ BERTH_WARM: 'off' });
  for (let i = 0; i < 2; i++) {
    const r = berth(w, ['--version']);
    assert.is(r.status, 0);
    assert.not.match(r.stderr, /warm pid|berth-client-timing/);
  }
  await sleep(1500);
  assert.not.ok(fs.existsSync(w.dir), 'no warm dir, socket or process');
});

test('a waiting process exits after BERTH_WARM_IDLE seconds without a call, socket and pid file gone', async () => {
  if (!isRoot) return;
  const w = warmEnv({ BERTH_WARM_IDLE: '1' });
  const pid = await ready(w);
  await until('idle exit', () => !alive(pid), 10_000);
  assert.equal(fs.readdirSync(w.dir).filter((f) => f.endsWith('.sock') || f.endsWith('.pid')), []);
});

test.run();
