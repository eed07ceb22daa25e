// `berth run` and friends as a user types them: exit codes (0, 3, 137, 125/126/127), -t through a
// real pty with a resize, signal forwarding, -d + logs -f + stop, exec (-e -u -w, exit codes),
// names and id prefixes, ps -q / --format json, inspect with the start timeline, limits (OOM,
// pids), volumes, --read-only, and --rm leaving nothing behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { IMAGE, berthCgroups, envWithImage, inPty, mountsUnder, sleep, spawnBerth, until, BERTH, type Env } from '../lib/containers.js';

let E: Env;

if (!isRoot) skip('cli run', 'needs root (containers need namespaces, mounts and cgroups)');
else {
  test.before(async () => { E = await envWithImage(); console.log(`runtime: ${E.runtime}`); });
  test.after(() => { E?.cleanup(); });

  test('the first run (it unpacks the image) prints nothing but the container output', () => {
    const r = E.berth(['run', '--rm', IMAGE, 'echo', 'first']);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'first\n');
    // A known issue in snapshotter/apply-worker (in progress when this was written) is reported as
    // such rather than failing every container test; anything else on stderr fails.
    if (/closed but not opened in unmanaged mode/.test(r.stderr)) skip('first run stderr is clean', 'snapshotter apply-worker prints Node fd warnings while unpacking (reported)');
    else assert.is(r.stderr, '');
  });

  test('exit codes pass through: 0, 3; output reaches the terminal; image config applies', () => {
    const r = E.berth(['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; pwd; echo $IMG; exit 3']);
    assert.is(r.status, 3, r.stderr);
    assert.is(r.stdout, 'out\n/srv\n1\n');
    assert.is(r.stderr, 'err\n');
    assert.is(E.berth(['run', '--rm', IMAGE, 'true']).status, 0);
    assert.is(E.berth(['run', '--rm', IMAGE, 'cat', '/srv/hello']).stdout, 'from the image\n');
  });

  test("docker's defaults: hostname and /etc files, capabilities, seccomp, masked and read-only /proc paths; --privileged, --cap-*", () => {
    const r = E.berth(['run', '--rm', IMAGE, 'sh', '-c', 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep -E "CapEff|NoNewPrivs|Seccomp:" /proc/self/status; cat /proc/kcore 2>&1 | head -c 0; test -s /proc/kcore && echo kcore-visible; echo 1 > /proc/sys/kernel/domainname || echo ro-proc']);
    assert.is(r.status, 0, r.stderr);
    const [h1, h2, hosts, capEff, nnp, seccomp, last] = r.stdout.trim().split('\n');
    assert.match(h1, /^[a-f0-9]{12}$/);
    assert.is(h2, h1);
    assert.ok(Number(hosts) >= 1);
    assert.is(capEff, 'CapEff:\t00000000a80425fb');   // docker's default set
    assert.is(nnp, 'NoNewPrivs:\t0');
    assert.is(seccomp, 'Seccomp:\t2');
    assert.is(last, 'ro-proc');
    const p = E.berth(['run', '--rm', '--privileged', IMAGE, 'sh', '-c', 'grep -E "Seccomp:" /proc/self/status; echo 1 > /proc/sys/kernel/domainname && echo rw-proc']);
    assert.is(p.status, 0, p.stderr);
    assert.is(p.stdout, 'Seccomp:\t0\nrw-proc\n');
    const c = E.berth(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '-u', '1000', '-h', 'myhost', IMAGE, 'sh', '-c', 'hostname; id -u; grep CapBnd /proc/self/status']);
    assert.is(c.stdout, 'myhost\n1000\nCapBnd:\t0000000000001000\n', c.stderr);
    // a user name resolves through the image's /etc/passwd: the snapshot must be mounted by then
    const named = E.berth(['run', '--rm', '-u', 'user', IMAGE, 'sh', '-c', 'id -u; id -g']);
    assert.is(named.stdout, '1000\n1000\n', named.stderr);
  });

  test('berth failures exit 125, a missing command 127, a non-executable one 126, each one line', () => {
    const missing = E.berth(['run', '--rm', IMAGE, 'nosuchcmd']);
    assert.is(missing.status, 127, missing.stderr);
    assert.match(missing.stderr, /nosuchcmd/);
    assert.is(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    const abs = E.berth(['run', '--rm', IMAGE, '/no/such']);
    assert.is(abs.status, 127, abs.stderr);
    const notExec = E.berth(['run', '--rm', IMAGE, '/etc/passwd']);
    assert.is(notExec.status, 126, notExec.stderr);
    const noImage = E.berth(['run', '--rm', '--pull', 'never', 'localhost/test/absent:1', 'true']);
    assert.is(noImage.status, 125, noImage.stderr);
    assert.is(noImage.stderr.trim().split('\n').length, 1, noImage.stderr);
    assert.not.match(noImage.stderr, /\n\s+at /);
    const badOpt = E.berth(['run', '--rm', '-m', 'lots', IMAGE, 'true']);
    assert.is(badOpt.status, 125);
    assert.match(badOpt.stderr, /--memory/);
    // failed runs with --rm leave no container behind
    assert.is(E.ok(['ps', '-aq']), '');
  });

  test('-t: raw pty inside, window size propagated at start and on resize', () => {
    const r = inPty([BERTH, '--root', E.root, '--state', E.state, 'run', '--rm', '-it', IMAGE, 'sh', '-c', 'stty size; tty; echo READY; read line; stty size; exit 4'],
      { rows: 30, cols: 100, resizeOn: 'READY', resizeTo: [40, 120], send: 'go\r' }, { ...process.env, BERTH_RUNTIME_BIN: E.runtime });
    assert.is(r.code, 4, r.out);
    assert.match(r.out, /30 100\r*\n/);
    assert.match(r.out, /\/dev\/pts\/\d+/);
    assert.match(r.out, /40 120\r*\n/);
  });

  test('without -t, signals to berth run reach the container', async () => {
    const p = spawnBerth(E, ['run', '--rm', IMAGE, 'sh', '-c', 'trap "echo got-term; exit 12" TERM; echo ready; while true; do sleep 0.1; done']);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    await until('ready', () => out.includes('ready'));
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => p.on('exit', (c) => res(c)));
    assert.is(code, 12);
    assert.match(out, /got-term/);
  });

  test('-d, logs -f, stop: a trapped TERM exits with its code; kill gives 137', async () => {
    const id = E.ok(['run', '-d', '--name', 'ticker', IMAGE, 'sh', '-c', 'trap "echo bye; exit 7" TERM; i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done']).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const f = spawnBerth(E, ['logs', '-f', 'ticker']);
    let out = '';
    f.stdout.on('data', (d) => { out += d; });
    await until('lines in logs -f', () => /line3\n/.test(out));
    E.ok(['stop', '-t', '5', 'ticker']);
    // logs -f ends by itself once the container has stopped
    const fcode = await new Promise<number | null>((res) => f.on('exit', (c) => res(c)));
    assert.is(fcode, 0);
    assert.match(out, /line0\nline1\nline2\n/);
    assert.match(out, /bye\n$/);
    assert.is(E.ok(['wait', 'ticker']).trim(), '7');
    assert.is(E.ok(['inspect', '-f', '.State.ExitCode', 'ticker']).trim(), '7');
    assert.is(E.ok(['logs', '--tail', '1', 'ticker']), 'bye\n');
    assert.match(E.ok(['logs', '--timestamps', '--tail', '1', 'ticker']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z bye\n$/);
    // restart and kill: 128+9
    E.ok(['start', 'ticker']);
    await until('running again', () => E.ok(['inspect', '-f', '.State.Status', 'ticker']).trim() === 'running');
    E.ok(['kill', 'ticker']);
    assert.is(E.ok(['wait', 'ticker']).trim(), '137');
    E.ok(['rm', 'ticker']);
  });

  test('exec: output, exit code, -e, -u, -w, a missing command is 127', () => {
    E.ok(['run', '-d', '--name', 'ex', '-e', 'BASE=1', IMAGE, 'sleep', '60']);
    const r = E.berth(['exec', 'ex', 'sh', '-c', 'echo in; id -u; pwd; echo $BASE; exit 5']);
    assert.is(r.status, 5, r.stderr);
    assert.is(r.stdout, 'in\n0\n/srv\n1\n');
    const u = E.berth(['exec', '-e', 'FOO=bar', '-u', 'user', '-w', '/tmp', 'ex', 'sh', '-c', 'echo $FOO $BASE; id -u; id -g; pwd']);
    assert.is(u.status, 0, u.stderr);
    assert.is(u.stdout, 'bar 1\n1000\n1000\n/tmp\n');
    assert.is(E.berth(['exec', '-u', '1000:1000', 'ex', 'id', '-u']).stdout, '1000\n');
    // stdin reaches the process (checked through the exit code: see the half-close test below)
    const input = E.berth(['exec', '-i', 'ex', 'sh', '-c', 'read x; test "$x" = "piped in"'], { input: 'piped in\n' });
    assert.is(input.status, 0, input.stderr);
    assert.is(E.berth(['exec', '-i', 'ex', 'sh', '-c', 'read x; test "$x" = "piped in"'], { input: 'other\n' }).status, 1);
    assert.is(E.berth(['exec', 'ex', 'nosuchcmd']).status, 127);
    const t = inPty([BERTH, '--root', E.root, '--state', E.state, 'exec', '-it', 'ex', 'sh', '-c', 'stty size; tty'], { rows: 22, cols: 77 }, { ...process.env, BERTH_RUNTIME_BIN: E.runtime });
    assert.is(t.code, 0, t.out);
    assert.match(t.out, /22 77/);
    const top = E.ok(['top', 'ex']);
    assert.match(top, /sleep 60/);
    E.ok(['rm', '-f', 'ex']);
  });

  // berth-monitor keeps an attach client that half-closed (stdin EOF) for the output that follows.
  test('exec -i and run -i: output after stdin EOF reaches the client', () => {
    E.ok(['run', '-d', '--name', 'hc', IMAGE, 'sleep', '60']);
    try {
      for (let i = 0; i < 5; i++) {
        const r = E.berth(['exec', '-i', 'hc', 'sh', '-c', 'echo start; cat; sleep 0.05; echo end'], { input: 'piped in\n' });
        assert.is(r.stdout, 'start\npiped in\nend\n');
      }
      assert.is(E.berth(['run', '--rm', '-i', IMAGE, 'sh', '-c', 'cat; sleep 0.05; echo end'], { input: 'x\n' }).stdout, 'x\nend\n');
    } finally {
      E.berth(['rm', '-f', 'hc']);
    }
  });

  test('names and id prefixes resolve; ps -q, ps --format json, inspect with the timeline', () => {
    const id = E.ok(['run', '-d', '--name', 'named', '-l', 'k=v', IMAGE, 'sleep', '60']).trim();
    const other = E.ok(['create', IMAGE, 'true']).trim();
    assert.match(other, /^[a-f0-9]{64}$/);
    assert.is(E.ok(['ps', '-q']), `${id.slice(0, 12)}\n`);
    assert.is(E.ok(['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean).sort().join(','), [id, other].sort().join(','));
    const rows = E.ok(['ps', '-a', '--format', 'json']).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const named = rows.find((x) => x.Names === 'named')!;
    assert.is(named.Id, id);
    assert.is(named.State, 'running');
    assert.is(named.Image, IMAGE);
    assert.equal(named.Labels, { k: 'v' });
    assert.is(rows.find((x) => x.Id === other)!.State, 'created');
    // table aligns: every STATUS column starts at the same offset
    const table = E.ok(['ps', '-a']).trimEnd().split('\n');
    const col = table[0].indexOf('STATUS');
    for (const l of table.slice(1)) assert.ok(/^(Up|Created|Exited)/.test(l.slice(col)), l);
    for (const q of ['named', id, id.slice(0, 5)]) assert.is(E.ok(['inspect', '-f', '.Id', q]).trim(), id);
    const [doc] = JSON.parse(E.ok(['inspect', 'named'])) as { State: { Status: string; Pid: number }; Timeline: { phase: string; ms: number }[]; Config: { Labels: Record<string, string> } }[];
    assert.is(doc.State.Status, 'running');
    assert.ok(doc.State.Pid > 0);
    assert.equal(doc.Timeline.map((t) => t.phase), ['resolve', 'unpack', 'mount', 'create', 'start']);
    for (const t of doc.Timeline) assert.ok(t.ms >= 0);
    const missing = E.berth(['inspect', 'nosuch']);
    assert.is(missing.status, 125);
    assert.match(missing.stderr, /no such/i);
    const dup = E.berth(['create', '--name', 'named', IMAGE, 'true']);
    assert.not.ok(dup.status === 0);
    assert.match(dup.stderr, /already in use/);
    E.ok(['rm', '-f', 'named', other.slice(0, 12)]);
    assert.is(E.ok(['ps', '-aq']), '');
  });

  test('pause freezes output, unpause resumes, restart runs the command again', async () => {
    E.ok(['run', '-d', '--name', 'pz', IMAGE, 'sh', '-c', 'echo boot; while true; do echo tick; sleep 0.05; done']);
    try {
      await until('ticking', () => E.ok(['logs', 'pz']).includes('tick'));
      E.ok(['pause', 'pz']);
      assert.is(E.ok(['inspect', '-f', '.State.Status', 'pz']).trim(), 'paused');
      const a = E.ok(['logs', 'pz']).length;
      await sleep(400);
      assert.is(E.ok(['logs', 'pz']).length, a, 'a paused container writes nothing');
      E.ok(['unpause', 'pz']);
      await until('ticking again', () => E.ok(['logs', 'pz']).length > a);
      E.ok(['restart', '-t', '1', 'pz']);
      await until('booted twice', () => (E.ok(['logs', 'pz']).match(/boot/g) ?? []).length === 2);
      assert.is(E.ok(['inspect', '-f', '.State.Status', 'pz']).trim(), 'running');
    } finally {
      E.berth(['rm', '-f', 'pz']);
    }
  });

  test('a memory limit triggers the OOM killer, reported as OOMKilled', () => {
    const r = E.berth(['run', '--name', 'oom', '-m', '16m', '--memory-swap', '16m', IMAGE, 'sh', '-c', 'x=a; while true; do x=$x$x$x$x; done']);
    assert.is(r.status, 137, r.stderr);
    assert.is(E.ok(['inspect', '-f', '.State.OOMKilled', 'oom']).trim(), 'true');
    E.ok(['rm', 'oom']);
  });

  test('a pids limit is enforced', () => {
    const r = E.berth(['run', '--rm', '--pids-limit', '5', IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 3 & done; wait; echo end']);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/, r.stderr);
    const free = E.berth(['run', '--rm', IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 0.1 & done; wait; echo end']);
    assert.is(free.stderr, '');
  });

  test('volumes: a bind and a named volume are visible inside and out; :ro refuses writes', () => {
    const host = path.join(E.dir, 'hostdir');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'from-host'), 'h\n');
    const r = E.berth(['run', '--rm', '-v', `${host}:/h`, '-v', 'data1:/n', IMAGE, 'sh', '-c', 'cat /h/from-host; echo c > /h/from-ctr; echo n > /n/f']);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'h\n');
    assert.is(fs.readFileSync(path.join(host, 'from-ctr'), 'utf8'), 'c\n');
    assert.is(fs.readFileSync(path.join(E.root, 'volumes', 'data1', '_data', 'f'), 'utf8'), 'n\n');
    // the named volume outlives the container and is seen by the next one
    assert.is(E.berth(['run', '--rm', '-v', 'data1:/m', IMAGE, 'cat', '/m/f']).stdout, 'n\n');
    const ro = E.berth(['run', '--rm', '-v', `${host}:/h:ro`, IMAGE, 'sh', '-c', 'echo x > /h/nope']);
    assert.is.not(ro.status, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.not.ok(fs.existsSync(path.join(host, 'nope')));
  });

  test('--read-only refuses writes to the root filesystem (not to a --tmpfs)', () => {
    const r = E.berth(['run', '--rm', '--read-only', '--tmpfs', '/scratch', IMAGE, 'sh', '-c', 'echo ok > /scratch/f && cat /scratch/f; touch /x']);
    assert.is(r.stdout, 'ok\n');
    assert.is(r.status, 1);
    assert.match(r.stderr, /Read-only file system/);
  });

  test('a --rm container\'s rootfs is a volatile overlay (never synced: it is thrown away), a kept one\'s is not', () => {
    const options = (id: string) => {
      const target = path.join(E.root, 'containers', id, 'rootfs');
      const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
      assert.ok(line, `${target} is mounted`);
      return line!.slice(line!.indexOf(' - ') + 3);
    };
    const rm = E.ok(['run', '-d', '--rm', IMAGE, 'sleep', '30']).trim();
    const kept = E.ok(['run', '-d', IMAGE, 'sleep', '30']).trim();
    try {
      assert.match(options(rm), /(^|,)(fsync=)?volatile(,|$)/);
      assert.not.match(options(kept), /volatile/);
    } finally {
      E.ok(['rm', '-f', rm, kept]);
    }
  });

  test('--rm leaves nothing: no mount, cgroup, snapshot, container dir or runtime state', async () => {
    const cgBefore = berthCgroups();
    const r = E.berth(['run', '--rm', '--name', 'gone', '-m', '32m', '--pids-limit', '50', IMAGE, 'sh', '-c', 'echo $$']);
    assert.is(r.status, 0, r.stderr);
    const left = fs.readdirSync(path.join(E.root, 'containers')).filter((n) => /^[a-f0-9]{64}$/.test(n));
    assert.equal(left.map((d) => `${d}: ${fs.readdirSync(path.join(E.root, 'containers', d)).join(',')}`), []);
    assert.equal(mountsUnder(E.root), []);
    assert.equal(mountsUnder(E.state), []);
    assert.equal(berthCgroups().filter((c) => !cgBefore.includes(c)), []);
    const snaps = path.join(E.root, 'snapshots');
    const listing = JSON.stringify(fs.readdirSync(snaps, { recursive: true }));
    assert.not.match(listing, /container/);
    const rt = path.join(E.state, 'runtime');
    // compiled seccomp programs are a cache shared by all containers (runtime/seccomp/cache.ts), not state
    assert.equal(fs.existsSync(rt) ? fs.readdirSync(rt).filter((n) => !n.startsWith('seccomp-cache.')) : [], []);
    // a detached --rm container goes away by itself too
    E.ok(['run', '-d', '--rm', '--name', 'gone2', IMAGE, 'true']);
    await until('gone2 removed', () => E.berth(['inspect', 'gone2']).status !== 0, 10_000);
    await sleep(100);
    assert.equal(mountsUnder(E.root), []);
  });
}

test.run();
