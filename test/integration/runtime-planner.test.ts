// The resident planner and its thin client (bin/berth-runtime): the same CLI behaviour as the Node CLI
// (exit codes, stdout, error text), berth-init and the container as children of the caller, signals,
// exec, the Node fallback without a planner, a planner dying mid-request, many clients at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, isRoot, skip, tmpDir } from '../lib/harness.js';
import { BIN, RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';
import { pidfdOpen, prctl, PR_SET_CHILD_SUBREAPER, waitidPidfdNoHang, closeFd } from '../../native/ffi.js';

const NODE_CLI = path.join(REPO, 'bin/berth-runtime-node');

interface Planner { proc: ChildProcess; socket: string; stderr(): string; stop(): Promise<void> }

async function startPlanner(): Promise<Planner> {
  const socket = path.join(tmpDir('berth-planner-'), 'planner.sock');
  const proc = spawn(NODE_CLI, ['planner', '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BERTH_RUNTIME_PLANNER: 'off' } });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  await waitFor('the planner socket', () => fs.existsSync(socket) || proc.exitCode !== null, 15_000);
  if (proc.exitCode !== null) throw new Error(`planner exited ${proc.exitCode}: ${err}`);
  return {
    proc, socket, stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(path.dirname(socket), { recursive: true, force: true });
    },
  };
}

const procStat = (pid: number) => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
};

if (!isRoot) {
  skip('runtime planner', 'needs root (namespaces, mounts, cgroups)');
  test.run();
} else {
  let planner: Planner;
  const cli = new RuntimeCli();
  // Every call of this file goes through the planner unless it says otherwise (RuntimeCli inherits env).
  // Output goes to files: a created container keeps the caller's stdio open, so pipes would not end.
  const viaPlanner = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; root?: string } = {}) => {
    const dir = tmpDir('berth-planner-out-');
    const fds = [fs.openSync(path.join(dir, 'out'), 'w'), fs.openSync(path.join(dir, 'err'), 'w')];
    try {
      const r = spawnSync(BIN, ['--root', opts.root ?? cli.root, ...args], {
        stdio: ['pipe', fds[0], fds[1]], input: opts.input, cwd: opts.cwd, timeout: 30_000,
        env: { ...process.env, BERTH_RUNTIME_PLANNER: planner.socket, BERTH_TIMING: '1', ...opts.env },
      });
      return { status: r.status, signal: r.signal, stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'), stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8') };
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const servedByPlanner = (stderr: string) => /^berth-timing: connect=/m.test(stderr) && !/node-start=/.test(stderr);

  test.before(async () => {
    planner = await startPlanner();
    process.env.BERTH_RUNTIME_PLANNER = planner.socket;
  });
  test.after(async () => {
    delete process.env.BERTH_RUNTIME_PLANNER;
    await planner.stop();
    assert.not.ok(fs.existsSync(planner.socket), 'the planner removed its socket');
  });

  test('run through the planner: exit codes, stdout, stderr, error text, nothing left', () => {
    const t = viaPlanner(['run', '--bundle', makeBundle(['/bin/true']), 'p-true']);
    assert.is(t.status, 0, t.stderr);
    assert.ok(servedByPlanner(t.stderr), `served by the planner: ${t.stderr}`);
    const r = viaPlanner(['run', '-b', makeBundle(['sh', '-c', 'echo out; echo err >&2; exit 42']), 'p-42']);
    assert.is(r.status, 42, r.stderr);
    assert.is(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
    const bad = viaPlanner(['run', '-b', makeBundle(['/no/such/binary']), 'p-bad']);
    assert.is(bad.status, 1);
    assert.match(bad.stderr, /berth-runtime: .*\/no\/such\/binary/);
    const missing = viaPlanner(['state', 'p-none']);
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /^berth-runtime: container p-none does not exist$/m);
    const flag = viaPlanner(['run', '--nosuch', 'x']);
    assert.is(flag.status, 1);
    assert.match(flag.stderr, /flag provided but not defined: -nosuch/);
    for (const id of ['p-true', 'p-42', 'p-bad']) assert.equal(leftovers(cli.root, id), []);
  });

  test('relative paths are the caller\'s: default bundle ".", --pid-file, --root', () => {
    const bundle = makeBundle(['sleep', '100']);
    const id = 'p-rel';
    try {
      const r = viaPlanner(['create', '--pid-file', 'init.pid', id], { cwd: bundle, root: path.relative(bundle, cli.root) });
      assert.is(r.status, 0, r.stderr);
      assert.ok(servedByPlanner(r.stderr), r.stderr);
      const st = cli.state(id);
      assert.is(st.bundle, bundle);
      assert.is(st.pid, Number(fs.readFileSync(path.join(bundle, 'init.pid'), 'utf8')));
    } finally {
      cli.cleanup(id);
    }
  });

  test('exec through the planner: exit code, stdout, detach, missing binary', () => {
    const id = 'p-exec';
    try {
      cli.ok(['run', '-d', '-b', makeBundle(['sleep', '100']), id]);
      const r = viaPlanner(['exec', id, 'sh', '-c', 'echo in-exec; exit 5']);
      assert.is(r.status, 5, r.stderr);
      assert.is(r.stdout, 'in-exec\n');
      assert.ok(servedByPlanner(r.stderr), r.stderr);
      const d = viaPlanner(['exec', '-d', id, 'sleep', '50']);
      assert.is(d.status, 0, d.stderr);
      assert.is(JSON.parse(cli.ok(['ps', '--format', 'json', id])).length, 2);
      const bad = viaPlanner(['exec', id, '/no/such']);
      assert.is(bad.status, 1);
      assert.match(bad.stderr, /berth-runtime: berth-init: .*\/no\/such/);
      const fds = viaPlanner(['exec', '--preserve-fds', '3', id, 'true']);
      assert.is(fds.status, 1);
      assert.match(fds.stderr, /preserve-fds 3: fd \d+ is not open/);
    } finally {
      cli.cleanup(id);
    }
  });

  test('foreground run: the client reaps the container and forwards signals to it', async () => {
    const id = 'p-sig';
    const bundle = makeBundle(['sh', '-c', 'trap "echo got-term; exit 9" TERM; sleep 100 & wait']);
    const client = spawn(BIN, ['--root', cli.root, 'run', '-b', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    client.stdout!.on('data', (d) => { out += d; });
    client.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => client.once('exit', (code) => r(code)));
    try {
      // Both processes up: the trap is installed before sleep starts.
      await waitFor('two processes', () => { try { return JSON.parse(cli.ok(['ps', '--format', 'json', id])).length === 2; } catch { return false; } }, 10_000);
      const pid = cli.state(id).pid!;
      assert.is(procStat(pid)?.ppid, client.pid, 'the container\'s init is the client\'s child');
      client.kill('SIGTERM');
      assert.is(await exited, 9, out);
      assert.match(out, /got-term/);
      assert.equal(leftovers(cli.root, id, pid), []);
    } finally {
      if (client.exitCode === null) client.kill('SIGKILL');
      cli.cleanup(id);
    }
  });

  test('update -r - reads the caller\'s stdin: the client runs the Node CLI for it', () => {
    const id = 'p-upd';
    try {
      cli.ok(['run', '-d', '-b', makeBundle(['sleep', '100']), id]);
      const r = viaPlanner(['update', '-r', '-', id], { input: JSON.stringify({ pids: { limit: 50 } }) });
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stderr, /node-start=/, 'the Node CLI ran it');
      const max = ['/sys/fs/cgroup/pids/berth', '/sys/fs/cgroup/berth'].map((d) => path.join(d, id, 'pids.max')).find((f) => fs.existsSync(f));
      if (max) assert.is(fs.readFileSync(max, 'utf8').trim(), '50');
    } finally {
      cli.cleanup(id);
    }
  });

  test('no planner: the client runs the Node CLI (socket absent, stale, or BERTH_RUNTIME_PLANNER=off)', () => {
    const dead = path.join(tmpDir('berth-planner-dead-'), 'planner.sock');
    for (const env of [{ BERTH_RUNTIME_PLANNER: '/nonexistent/planner.sock' }, { BERTH_RUNTIME_PLANNER: 'off' }, { BERTH_RUNTIME_PLANNER: dead }]) {
      const r = viaPlanner(['run', '-b', makeBundle(['sh', '-c', 'echo fallback; exit 3']), 'p-fb'], { env });
      assert.is(r.status, 3, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.is(r.stdout, 'fallback\n');
      assert.match(r.stderr, /node-start=/, 'the Node CLI ran it');
      assert.equal(leftovers(cli.root, 'p-fb'), []);
    }
    fs.rmSync(path.dirname(dead), { recursive: true, force: true });
  });

  test('many clients at once', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `p-many-${i}`);
    const results = await Promise.all(ids.map((id, i) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(BIN, ['--root', cli.root, 'run', '-b', makeBundle(['sh', '-c', `echo ${id}; exit ${10 + i}`]), id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout!.on('data', (d) => { out += d; });
      c.stderr!.on('data', (d) => { out += d; });
      c.once('close', (code) => resolve({ code, out }));
    })));
    results.forEach((r, i) => {
      assert.is(r.code, 10 + i, r.out);
      assert.is(r.out, `${ids[i]}\n`);
    });
    assert.equal(JSON.parse(cli.ok(['list', '--format', 'json'])), []);
    for (const id of ids) assert.equal(leftovers(cli.root, id), []);
  });

  test('a planner that dies mid-request: the client says so and exits 1', async () => {
    const own = await startPlanner();
    const id = 'p-orphan';
    const client = spawn(BIN, ['--root', cli.root, 'run', '-b', makeBundle(['sleep', '100']), id], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_RUNTIME_PLANNER: own.socket } });
    let err = '';
    client.stderr!.on('data', (d) => { err += d; });
    // 'exit', not 'close': the container outlives the client and holds its pipes.
    const exited = new Promise<number | null>((r) => client.once('exit', (code) => r(code)));
    try {
      await waitFor('running', () => { try { return cli.state(id).status === 'running'; } catch { return false; } }, 10_000);
      own.proc.kill('SIGKILL');
      assert.is(await exited, 1);
      await waitFor('the error text', () => /the planner at .* went away mid-request/.test(err), 5000);
    } finally {
      if (client.exitCode === null) client.kill('SIGKILL');
      await own.stop();
      // The container outlives its client, as it would a killed runc: remove it the usual way.
      cli.cleanup(id);
      assert.equal(leftovers(cli.root, id), []);
    }
  });

  test('hooks without env run with the client\'s whole environment, not the planner\'s', () => {
    const out = tmpDir('berth-planner-hookenv-');
    const id = 'p-hookenv';
    // Set only in the client's environment (the planner was started without them); the big one is
    // neither BERTH_* nor small, so only a client forwarding its whole environment gets it through.
    const marker = `client-only-${process.pid}`;
    const big = 'x'.repeat(64 * 1024);
    const dumpEnv = (file: string, env?: string[]) => ({ path: '/bin/sh', args: ['sh', '-c', `/usr/bin/env > ${path.join(out, file)}`], ...(env ? { env } : {}) });
    const bundle = makeBundle(['sleep', '100'], (s) => {
      s.hooks = { prestart: [dumpEnv('prestart')], createRuntime: [dumpEnv('own-env', ['PATH=/bin:/usr/bin', 'OWN=1'])] };
    });
    try {
      assert.not.ok('HOOK_MARKER' in process.env, 'the planner cannot have inherited the marker');
      const r = viaPlanner(['create', '-b', bundle, id], { env: { HOOK_MARKER: marker, HOOK_BIG: big } });
      assert.is(r.status, 0, r.stderr);
      assert.ok(servedByPlanner(r.stderr), r.stderr);
      const lines = fs.readFileSync(path.join(out, 'prestart'), 'utf8').split('\n');
      assert.ok(lines.includes(`HOOK_MARKER=${marker}`), 'the hook sees the client\'s marker');
      assert.ok(lines.includes(`HOOK_BIG=${big}`), 'the hook sees the client\'s 64 KiB variable whole');
      assert.ok(lines.includes(`BERTH_RUNTIME_PLANNER=${planner.socket}`), 'the client\'s value, not the planner\'s "off"');
      // dash sets PWD from its real cwd: the bundle, as with runc (which chdirs there), not the planner's cwd.
      assert.ok(lines.includes(`PWD=${bundle}`), `the hook runs in the bundle, got ${lines.find((l) => l.startsWith('PWD='))}`);
      // dash exports PWD itself.
      const own = fs.readFileSync(path.join(out, 'own-env'), 'utf8').trim().split('\n').filter((l) => !l.startsWith('PWD='));
      assert.equal(own.sort(), ['OWN=1', 'PATH=/bin:/usr/bin'], 'a hook\'s own env replaces the caller\'s');
    } finally {
      cli.cleanup(id);
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('create/start/kill/delete: the container re-parents to the caller\'s subreaper, not to the client', async () => {
    // This test process plays containerd's shim: a subreaper that runs the runtime.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const id = 'p-shim';
    let pidfd: number | undefined;
    try {
      const r = viaPlanner(['create', '-b', makeBundle(['sleep', '100']), id]);
      assert.is(r.status, 0, r.stderr);
      assert.ok(servedByPlanner(r.stderr), r.stderr);
      const pid = cli.state(id).pid!;
      assert.is(procStat(pid)?.ppid, process.pid, 'init\'s parent is the shim');
      pidfd = pidfdOpen(pid);
      assert.is(viaPlanner(['start', id]).status, 0);
      assert.is(cli.state(id).status, 'running');
      assert.is(viaPlanner(['kill', id, 'KILL']).status, 0);
      // The shim reaps its adopted child, as containerd's does.
      let status: number | undefined;
      await waitFor('init exit', () => (status = waitidPidfdNoHang(pidfd!)) !== undefined, 10_000);
      assert.is(status, 137);
      await waitFor('stopped', () => cli.state(id).status === 'stopped');
      const del = viaPlanner(['delete', id]);
      assert.is(del.status, 0, del.stderr);
      assert.equal(leftovers(cli.root, id, pid), []);
    } finally {
      if (pidfd !== undefined) closeFd(pidfd);
      prctl(PR_SET_CHILD_SUBREAPER, 0);
      cli.cleanup(id);
    }
  });

  test.run();
}
