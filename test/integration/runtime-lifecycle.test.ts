// berth-runtime lifecycle through the real CLI binary: run, create/start/state, kill, delete, pause,
// exec, ps, list, concurrency, invalid config, leftovers of an interrupted create.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { spawn } from 'node:child_process';
import { BIN, RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';

if (!isRoot) {
  skip('runtime lifecycle', 'needs root (namespaces, mounts, cgroups)');
  test.run();
} else {
  const cli = new RuntimeCli();
  const tmpfsTmp = (s: import('../../runtime/spec/config-schema.js').Spec) => {
    s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
  };

  test('run: exit codes pass through, nothing left', () => {
    const t = cli.run(['run', '--bundle', makeBundle(['/bin/true']), 'r-true']);
    assert.is(t.status, 0, t.stderr);
    const r = cli.run(['run', '-b', makeBundle(['sh', '-c', 'echo out; echo err >&2; exit 42']), 'r-42']);
    assert.is(r.status, 42, r.stderr);
    assert.is(r.stdout, 'out\n');
    assert.match(r.stderr, /err/);
    assert.equal(leftovers(cli.root, 'r-true'), []);
    assert.equal(leftovers(cli.root, 'r-42'), []);
    // Without a pid namespace (pid 1 of a namespace ignores SIGKILL from inside it).
    const k = cli.run(['run', '-b', makeBundle(['sh', '-c', 'kill -9 $$'], (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid'); }), 'r-sig']);
    assert.is(k.status, 137, 'killed by SIGKILL: 128+9');
  });

  test('create -> created -> start -> running -> kill -> stopped -> delete', async () => {
    const id = 'life';
    const pidFile = path.join(cli.root, 'life.pid');
    try {
      cli.ok(['create', '--bundle', makeBundle(['sleep', '100'], (s) => { s.annotations = { 'org.test': 'yes' }; }), '--pid-file', pidFile, id]);
      const st = cli.state(id);
      assert.is(st.status, 'created');
      assert.is(st.pid, Number(fs.readFileSync(pidFile, 'utf8')));
      assert.equal(st.annotations, { 'org.test': 'yes' });
      assert.ok(fs.existsSync(path.join(cli.root, id, 'exec.fifo')));
      cli.ok(['start', id]);
      assert.is(cli.state(id).status, 'running');
      const again = cli.run(['start', id]);
      assert.is(again.status, 1);
      assert.match(again.stderr, /cannot start container life: it is running/);
      const list = JSON.parse(cli.ok(['list', '--format', 'json']));
      assert.equal(list.map((c: { id: string; status: string }) => [c.id, c.status]), [[id, 'running']]);
      assert.is(cli.ok(['list', '-q']), `${id}\n`);
      assert.match(cli.ok(['list']), /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\n/);
      assert.equal(JSON.parse(cli.ok(['ps', '--format', 'json', id])), [st.pid]);
      assert.match(cli.ok(['ps', id]), new RegExp(`\\b${st.pid}\\b.*sleep 100`));
      const del = cli.run(['delete', id]);
      assert.is(del.status, 1);
      assert.match(del.stderr, /not stopped: running/);
      cli.ok(['kill', id, 'KILL']);
      await waitFor('stopped', () => cli.state(id).status === 'stopped');
      assert.is(cli.state(id).pid, undefined);
      const k = cli.run(['kill', id]);
      assert.match(k.stderr, /it is stopped/);
      cli.ok(['delete', id]);
      assert.equal(leftovers(cli.root, id, st.pid), []);
      const gone = cli.run(['state', id]);
      assert.is(gone.status, 1);
      assert.match(gone.stderr, /container life does not exist/);
    } finally {
      cli.cleanup(id);
    }
  });

  test('kill: names and numbers; kill --all reaches every process; delete --force a running container', async () => {
    const id = 'killer';
    try {
      // init traps TERM, so only a later KILL ends it.
      cli.ok(['run', '-d', '-b', makeBundle(['sh', '-c', 'trap "" TERM; sleep 100 & sleep 100 & wait; wait']), id]);
      const pid = cli.state(id).pid!;
      await waitFor('3 processes', () => JSON.parse(cli.ok(['ps', '--format', 'json', id])).length === 3);
      cli.ok(['kill', id, 'SIGTERM']);
      await new Promise((r) => setTimeout(r, 100));
      assert.is(cli.state(id).status, 'running', 'TERM trapped');
      cli.ok(['kill', '--all', id, '9']);
      await waitFor('stopped', () => cli.state(id).status === 'stopped');
      assert.equal(JSON.parse(cli.run(['ps', '--format', 'json', id]).stdout || '[]'), []);
      cli.ok(['delete', id]);
      assert.equal(leftovers(cli.root, id, pid), []);

      cli.ok(['run', '--detach', '-b', makeBundle(['sleep', '100']), id]);
      const pid2 = cli.state(id).pid!;
      cli.ok(['delete', '--force', id]);
      assert.equal(leftovers(cli.root, id, pid2), []);
      assert.is(cli.run(['delete', '--force', id]).status, 0, 'delete --force of a missing container succeeds (containerd relies on it)');
      assert.is(cli.run(['delete', id]).status, 1);
    } finally {
      cli.cleanup(id);
    }
  });

  test('pause freezes every process, resume thaws them', async () => {
    const id = 'freezer';
    try {
      cli.ok(['run', '-d', '-b', makeBundle(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done'], tmpfsTmp), id]);
      const pid = cli.state(id).pid!;
      const counter = () => Number(fs.readFileSync(`/proc/${pid}/root/tmp/n`, 'utf8') || 0);
      await waitFor('counter', () => { try { return counter() > 2; } catch { return false; } });
      cli.ok(['pause', id]);
      assert.is(cli.state(id).status, 'paused');
      const frozen = counter();
      await new Promise((r) => setTimeout(r, 300));
      assert.is(counter(), frozen, 'no progress while paused');
      assert.match(cli.run(['pause', id]).stderr, /it is paused/);
      cli.ok(['resume', id]);
      assert.is(cli.state(id).status, 'running');
      await waitFor('progress after resume', () => counter() > frozen);
      cli.ok(['pause', id]);
      cli.ok(['delete', '--force', id]); // a paused container must still die
      assert.equal(leftovers(cli.root, id, pid), []);
    } finally {
      cli.cleanup(id);
    }
  });

  test('exec: exit code, env, cwd, user, --process, --detach', async () => {
    const id = 'exec';
    try {
      cli.ok(['run', '-d', '-b', makeBundle(['sleep', '100'], (s) => { s.process!.env!.push('BASE=1'); }), id]);
      const r = cli.run(['exec', '--cwd', '/tmp', '-e', 'X=hello', '--user', '1000:2000', id, 'sh', '-c', 'echo "$(pwd) $X $BASE $(id -u) $(id -g)"; exit 7']);
      assert.is(r.status, 7, r.stderr);
      assert.is(r.stdout, '/tmp hello 1 1000 2000\n');
      const procFile = path.join(cli.root, 'process.json');
      fs.writeFileSync(procFile, JSON.stringify({ cwd: '/etc', user: { uid: 0, gid: 0 }, args: ['sh', '-c', 'echo $(pwd) $ONLY'], env: ['ONLY=this'] }));
      assert.is(cli.ok(['exec', '--process', procFile, id]), '/etc this\n');
      const pidFile = path.join(cli.root, 'exec.pid');
      cli.ok(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '50']);
      const epid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.ok(JSON.parse(cli.ok(['ps', '--format', 'json', id])).includes(epid), 'detached exec joined the cgroup');
      const bad = cli.run(['exec', id, '/no/such/binary']);
      assert.is(bad.status, 1);
      assert.match(bad.stderr, /no\/such\/binary/);
      cli.ok(['delete', '--force', id]);
      assert.equal(leftovers(cli.root, id, epid), []);
      const stopped = cli.run(['exec', id, 'true']);
      assert.match(stopped.stderr, /does not exist/);
    } finally {
      cli.cleanup(id);
    }
  });

  test('foreground run forwards signals and exits with the container status; events streams stats', async () => {
    const id = 'fg';
    try {
      const c = cli.spawn(['run', '-b', makeBundle(['sh', '-c', 'trap "exit 9" TERM; while true; do sleep 0.05; done']), id]);
      const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
      await waitFor('running', () => {
        const r = cli.run(['state', id]);
        return r.status === 0 && JSON.parse(r.stdout).status === 'running';
      }, 15_000);
      const ev = spawn(BIN, ['--root', cli.root, 'events', '--interval', '100ms', id], { stdio: ['ignore', 'pipe', 'inherit'] });
      let evOut = '';
      ev.stdout.on('data', (d) => { evOut += d; });
      await waitFor('two stats events', () => evOut.split('\n').filter(Boolean).length >= 2, 10_000);
      const first = JSON.parse(evOut.split('\n')[0]);
      assert.is(first.type, 'stats');
      assert.is(first.id, id);
      await new Promise((r) => setTimeout(r, 300)); // let sh install its trap
      c.kill('SIGTERM');
      assert.is(await exited, 9, 'SIGTERM reached the container, whose exit status became ours');
      const evCode = await new Promise((r) => ev.on('exit', (code) => r(code)));
      assert.is(evCode, 0, 'the event stream ends with the container');
      assert.equal(leftovers(cli.root, id), []);
    } finally {
      cli.cleanup(id);
    }
  });

  test('two commands at once on one container are serialised', async () => {
    const id = 'race';
    const bundle = makeBundle(['sleep', '100']);
    try {
      const results = await Promise.all([0, 1, 2].map(() => new Promise<number>((resolve) => {
        const c = cli.spawn(['create', '-b', bundle, id]);
        c.on('exit', (code) => resolve(code ?? -1));
      })));
      assert.equal(results.filter((c) => c === 0).length, 1, `exactly one create wins: ${results}`);
      assert.is(cli.state(id).status, 'created');
      const dels = await Promise.all([0, 1].map(() => new Promise<number>((resolve) => {
        cli.spawn(['delete', '--force', id]).on('exit', (code) => resolve(code ?? -1));
      })));
      assert.equal(dels, [0, 0]);
      assert.equal(leftovers(cli.root, id), []);
    } finally {
      cli.cleanup(id);
    }
  });

  test('an interrupted create leaves a directory the next command cleans', () => {
    const id = 'halfmade';
    const dir = path.join(cli.root, id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ id, phase: 'creating', pid: 0, initStartTime: '', cgroupPaths: {} }));
    fs.writeFileSync(path.join(dir, 'lock'), '');
    assert.is(cli.ok(['list', '-q']), '');
    assert.not.ok(fs.existsSync(dir), 'stale dir removed');
    cli.ok(['run', '-b', makeBundle(['true']), id]);
  });

  test('invalid input: config.json names the JSON path; errors are one line; --log json', () => {
    const bundle = makeBundle(['true'], (s) => { (s.process!.user as { uid: unknown }).uid = 'root'; });
    const r = cli.run(['create', '-b', bundle, 'bad']);
    assert.is(r.status, 1);
    assert.match(r.stderr, /\/process\/user\/uid must be integer/);
    assert.is(r.stderr.trim().split('\n').length, 1, 'one line, no stack');
    assert.equal(leftovers(cli.root, 'bad'), []);
    const log = path.join(cli.root, 'log.json');
    const m = cli.run(['--log', log, '--log-format', 'json', 'create', '-b', '/nonexistent', 'x']);
    assert.is(m.status, 1);
    const line = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').pop()!);
    assert.is(line.level, 'error');
    assert.match(line.msg, /\/nonexistent\/config.json/);
    assert.match(cli.run(['create', '-b', bundle, '../x']).stderr, /invalid container id/);
    assert.match(cli.run(['--systemd-cgroup', 'list']).stderr, /systemd cgroup driver is not supported/);
    assert.match(cli.run(['frobnicate']).stderr, /no such command: frobnicate/);
  });

  test('spec and features', () => {
    const dir = path.dirname(makeBundle(['true']));
    const b = fs.mkdtempSync(path.join(dir, 'spec-'));
    try {
      cli.ok(['spec', '--bundle', b]);
      const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
      assert.is(spec.root.path, 'rootfs');
      assert.match(cli.run(['spec', '-b', b]).stderr, /exists/);
      const f = JSON.parse(cli.ok(['features']));
      assert.equal(f.hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
      assert.ok(f.linux.namespaces.includes('pid'));
      assert.ok(f.linux.capabilities.includes('CAP_SYS_ADMIN'));
      assert.is(f.linux.cgroup.systemd, false);
    } finally {
      fs.rmSync(b, { recursive: true, force: true });
    }
  });

  test.after(() => {
    assert.equal(fs.readdirSync(cli.root).filter((n) => !n.endsWith('.pid') && !n.endsWith('.json') && !n.startsWith('.')), [], 'no container state left');
  });

  test.run();
}
