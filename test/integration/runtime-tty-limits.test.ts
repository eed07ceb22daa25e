// Console socket + tty (the pty master arrives by SCM_RIGHTS), and resource limits enforced through
// the cgroups berth-runtime creates (pids, memory), plus update and events --stats.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, isRoot, skip, tmpDir } from '../lib/harness.js';
import { RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';

if (!isRoot) {
  skip('runtime tty and limits', 'needs root (namespaces, mounts, cgroups)');
  test.run();
} else {
  const cli = new RuntimeCli();
  const work = tmpDir('berth-tty-');
  const recvtty = path.join(work, 'recvtty');
  const cc = spawnSync('cc', ['-O1', '-o', recvtty, path.join(REPO, 'test/fixtures/recvtty.c')], { encoding: 'utf8' });

  function receiver(sock: string) {
    const p = spawn(recvtty, [sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    const done = new Promise<void>((r) => p.on('exit', () => r()));
    return { p, out: () => out, done };
  }

  test('console socket: the container gets a tty, its master reaches the socket', async () => {
    if (cc.status !== 0) return skip('console socket', `cannot compile test/fixtures/recvtty.c: ${cc.stderr}`);
    const id = 'tty';
    const sock = path.join(work, 'console.sock');
    const rx = receiver(sock);
    try {
      await waitFor('receiver', () => rx.out().includes('ready'));
      const bundle = makeBundle(['sh', '-c', 'tty; test -t 0 && echo stdin-is-tty; sleep 0.2'], (s) => { s.process!.terminal = true; });
      cli.ok(['run', '-d', '--console-socket', sock, '-b', bundle, id]);
      await waitFor('tty output', () => /stdin-is-tty/.test(rx.out()), 10_000);
      assert.match(rx.out(), /got-fd/);
      assert.match(rx.out(), /\/dev\/pts\/\d+/);
      await waitFor('stopped', () => cli.state(id).status === 'stopped');
      cli.ok(['delete', id]);
      await rx.done;
      assert.equal(leftovers(cli.root, id), []);
      const noSock = cli.run(['exec', '-t', 'tty', 'true']);
      assert.is(noSock.status, 1);
    } finally {
      rx.p.kill();
      cli.cleanup(id);
    }
  });

  test('pids limit is enforced while running (pids.max, events --stats), update raises it', async () => {
    const id = 'limits';
    try {
      cli.ok(['run', '-d', '-b', makeBundle(['sleep', '100'], (s) => {
        s.linux!.resources = { ...(s.linux!.resources ?? {}), pids: { limit: 3 }, memory: { limit: 64 * 1024 * 1024 } };
      }), id]);
      const fork = (n: number) => cli.run(['exec', id, 'sh', '-c', `for i in $(seq ${n}); do sleep 3 & done; wait`]);
      const r = fork(4);
      assert.match(r.stderr, /can't fork|Resource temporarily unavailable/, 'fork beyond pids.max fails');
      const stats = JSON.parse(cli.ok(['events', '--stats', id]));
      assert.is(stats.type, 'stats');
      assert.is(stats.data.pids.limit, 3);
      assert.is(stats.data.memory.limit, 64 * 1024 * 1024);
      cli.ok(['update', '--pids-limit', '20', '--memory', '128m', id]);
      const s2 = JSON.parse(cli.ok(['events', '--stats', id]));
      assert.is(s2.data.pids.limit, 20);
      assert.is(s2.data.memory.limit, 128 * 1024 * 1024);
      const r2 = fork(4);
      assert.is(r2.status, 0, r2.stderr);
      const rfile = path.join(work, 'res.json');
      fs.writeFileSync(rfile, JSON.stringify({ pids: { limit: 7 } }));
      cli.ok(['update', '-r', rfile, id]);
      assert.is(JSON.parse(cli.ok(['events', '--stats', id])).data.pids.limit, 7);
      const bad = cli.run(['update', '-r', '-', id], { input: '{"pids":{"limit":"x"}}' });
      assert.match(bad.stderr, /\/pids\/limit must be integer/);
    } finally {
      cli.cleanup(id);
    }
    assert.equal(leftovers(cli.root, id), []);
  });

  test('memory limit: a process above it is OOM-killed', () => {
    const r = cli.run(['run', '-b', makeBundle(['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\\\0" a); echo survived'], (s) => {
      s.linux!.resources = { ...(s.linux!.resources ?? {}), memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
    }), 'oom'], { timeout: 60_000 });
    assert.is.not(r.stdout, 'survived\n', 'the memory hog must not survive a 16 MiB limit');
    assert.equal(leftovers(cli.root, 'oom'), []);
  });

  test.run();
}
