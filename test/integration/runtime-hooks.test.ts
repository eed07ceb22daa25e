// OCI hooks through berth-runtime: all six kinds in lifecycle order with the state on stdin, and a
// failing prestart that aborts the create and leaves nothing behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';
import type { Hook } from '../../runtime/spec/config-schema.js';

if (!isRoot) {
  skip('runtime hooks', 'needs root (namespaces, mounts, cgroups)');
  test.run();
} else {
  const cli = new RuntimeCli();

  // Each hook appends "<kind> <status> <env>" to a log (status: runtime-spec lifecycle, 'created' from
  // step 3 until the program runs). startContainer runs after pivot_root, so it
  // resolves paths in the container (the log dir is bound at /hooks); every other kind, createContainer
  // included (container namespaces, before pivot_root), resolves them in the runtime's filesystem.
  function hook(kind: string, logDir: string, inContainer: boolean): Hook {
    const log = inContainer ? '/hooks/log' : path.join(logDir, 'log');
    return {
      path: '/bin/sh',
      args: ['sh', '-c', `read s; st=$(echo "$s" | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/'); echo "${kind} $st $HOOK_ENV" >> ${log}`],
      env: ['PATH=/bin:/usr/bin', `HOOK_ENV=${kind}-env`],
      timeout: 10,
    };
  }

  test('all six hooks run in lifecycle order, in the right namespace, with state on stdin', async () => {
    const logDir = tmpDir('berth-hooks-');
    fs.chmodSync(logDir, 0o777);
    const id = 'hooked';
    const bundle = makeBundle(['sleep', '100'], (s) => {
      s.mounts!.push({ destination: '/hooks', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
      s.hooks = {
        prestart: [hook('prestart', logDir, false)],
        createRuntime: [hook('createRuntime', logDir, false)],
        createContainer: [hook('createContainer', logDir, false)],
        startContainer: [hook('startContainer', logDir, true)],
        poststart: [hook('poststart', logDir, false)],
        poststop: [hook('poststop', logDir, false), { path: '/bin/false' }, hook('poststop2', logDir, false)],
      };
    });
    const lines = () => fs.readFileSync(path.join(logDir, 'log'), 'utf8').trim().split('\n');
    try {
      cli.ok(['create', '-b', bundle, id]);
      assert.equal(lines(), ['prestart created prestart-env', 'createRuntime created createRuntime-env', 'createContainer created createContainer-env']);
      cli.ok(['start', id]);
      await waitFor('startContainer and poststart', () => lines().length >= 5);
      assert.equal(lines().slice(3).sort(), ['poststart running poststart-env', 'startContainer created startContainer-env'].sort());
      const del = cli.run(['delete', '--force', id]);
      assert.is(del.status, 0, 'a failing poststop hook is only a warning');
      assert.match(del.stderr, /poststop hook #1 \(\/bin\/false\) exited with status 1/);
      assert.equal(lines().slice(5), ['poststop stopped poststop-env', 'poststop2 stopped poststop2-env']);
      assert.equal(leftovers(cli.root, id), []);
    } finally {
      cli.cleanup(id);
    }
  });

  test('a failing prestart aborts create: error names the hook, poststop runs, nothing is left', () => {
    const logDir = tmpDir('berth-hooks-');
    const id = 'prefail';
    const bundle = makeBundle(['true'], (s) => {
      s.hooks = {
        prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no way >&2; exit 4'] }],
        createRuntime: [hook('createRuntime', logDir, false)],
        poststop: [hook('poststop', logDir, false)],
      };
    });
    const r = cli.run(['create', '-b', bundle, id]);
    assert.is(r.status, 1);
    assert.match(r.stderr, /prestart hook #0 \(\/bin\/sh\) exited with status 4: no way/);
    assert.equal(fs.readFileSync(path.join(logDir, 'log'), 'utf8'), 'poststop stopped poststop-env\n', 'createRuntime never ran; poststop did');
    assert.equal(leftovers(cli.root, id), []);
    assert.is(cli.ok(['list', '-q']), '');
  });

  test('a hook that times out aborts create', () => {
    const id = 'slowhook';
    const bundle = makeBundle(['true'], (s) => { s.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] }; });
    const t0 = Date.now();
    const r = cli.run(['create', '-b', bundle, id]);
    assert.is(r.status, 1);
    assert.match(r.stderr, /createRuntime hook #0 \(\/bin\/sleep\) timed out after 1s/);
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(leftovers(cli.root, id), []);
  });

  test.run();
}
