// Behaviours the runtime-tools validation suite checks and berth once got wrong: joining mount and uts
// namespaces by path (linux_ns_path) and an unbindable root (linux_rootfs_propagation). Hook states
// (hooks_stdin) are checked in runtime-hooks.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { isRoot, skip } from '../lib/harness.js';
import { RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';

const nsLink = (pid: number, ns: string) => fs.readlinkSync(`/proc/${pid}/ns/${ns}`);

if (!isRoot) {
  skip('runtime conformance', 'needs root (namespaces, mounts, cgroups)');
  test.run();
} else {
  const cli = new RuntimeCli();

  test('create joins a mount and a uts namespace by path; the hostname lands in the joined uts namespace', async () => {
    // The namespaces to join: held by a sleep that unshare forks (its own process group, ended below).
    const holder = spawn('unshare', ['--mount', '--uts', '--propagation', 'private', '--fork', 'sleep', '100'], { detached: true, stdio: 'ignore' });
    const id = 'joinns';
    let target = 0;
    try {
      await waitFor('the namespace holder', () => {
        try {
          target = Number(fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(' ')[0]);
          return target > 0 && nsLink(target, 'mnt') !== nsLink(process.pid, 'mnt');
        } catch {
          return false;
        }
      });
      const bundle = makeBundle(['sleep', '100'], (s) => {
        s.hostname = 'joined-uts';
        s.linux!.namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount', path: `/proc/${target}/ns/mnt` }, { type: 'uts', path: `/proc/${target}/ns/uts` }];
      });
      cli.ok(['create', '-b', bundle, id]);
      const pid = cli.state(id).pid!;
      assert.is(nsLink(pid, 'mnt'), nsLink(target, 'mnt'), 'the container runs in the joined mount namespace');
      assert.is(nsLink(pid, 'uts'), nsLink(target, 'uts'), 'and in the joined uts namespace');
      assert.is.not(nsLink(pid, 'pid'), nsLink(process.pid, 'pid'), 'the pid namespace is still new');
      const inUts = spawnSync('nsenter', ['-t', String(target), '-u', 'hostname'], { encoding: 'utf8' });
      assert.is(inUts.stdout.trim(), 'joined-uts');
      assert.is.not(os.hostname(), 'joined-uts', 'the host keeps its hostname');
      cli.ok(['start', id]);
      assert.is(cli.state(id).status, 'running');
      cli.ok(['delete', '--force', id]);
      assert.equal(leftovers(cli.root, id, pid), []);
    } finally {
      cli.cleanup(id);
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });

  test('rootfsPropagation unbindable: the container\'s / is unbindable, and create still binds the rootfs', () => {
    const id = 'unbindable';
    const bundle = makeBundle(['sleep', '100'], (s) => { s.linux!.rootfsPropagation = 'unbindable'; });
    try {
      cli.ok(['create', '-b', bundle, id]);
      const pid = cli.state(id).pid!;
      // mountinfo: id parent major:minor root mountpoint options optional-fields... - fstype ...
      const root = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
      assert.ok(root, 'the container has a / mount');
      assert.match(root!.split(' - ')[0], /\bunbindable\b/);
      cli.ok(['delete', '--force', id]);
      assert.equal(leftovers(cli.root, id, pid), []);
    } finally {
      cli.cleanup(id);
    }
  });

  test.run();
}
