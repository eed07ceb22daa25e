// Restart policies without a daemon: each run's monitor runs `berth container cleanup` when it
// exits, which restarts the container as its policy says (Docker's counting and back-off) and
// never after a user's stop, restart or rm. --rm containers survive a restart and go on a stop.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { alive, isRoot, skip } from '../lib/harness.js';
import { IMAGE, envWithImage, mountsUnder, until, type Env } from '../lib/containers.js';

let E: Env;

if (!isRoot) skip('cli restart policies', 'needs root (containers need namespaces, mounts and cgroups)');
else {
  test.before(async () => { E = await envWithImage(); });
  test.after(() => { E?.cleanup(); });

  const state = (name: string) => E.ok(['inspect', '-f', '.State.Status', name]).trim();
  const count = (name: string) => Number(E.ok(['inspect', '-f', '.RestartCount', name]).trim());
  const idOf = (name: string) => E.ok(['inspect', '-f', '.Id', name]).trim();
  const monitorPid = (id: string) => Number(fs.readFileSync(path.join(E.root, 'containers', id, 'monitor', 'monitor.pid'), 'utf8').trim());
  const restartState = (id: string) => JSON.parse(fs.readFileSync(path.join(E.root, 'containers', id, 'restart.json'), 'utf8'));

  test('on-failure:2: two restarts, then exited with RestartCount 2; wait returns only after the last run', () => {
    const id = E.ok(['run', '-d', '--name', 'of', '--restart', 'on-failure:2', IMAGE, 'sh', '-c', 'echo run; exit 3']).trim();
    // docker wait semantics: a restarting container has not stopped yet
    assert.is(E.ok(['wait', 'of']).trim(), '3');
    assert.is(`${count('of')} ${state('of')}`, '2 exited');
    assert.is(E.ok(['logs', 'of']), 'run\nrun\nrun\n', 'three runs, one log');
    // the last run's exit command decided "no more": its monitor ends, and nothing starts again
    const mp = monitorPid(id);
    return until('last monitor gone', () => !alive(mp)).then(() => {
      assert.is(`${count('of')} ${state('of')}`, '2 exited');
      E.ok(['rm', 'of']);
    });
  });

  test('--restart always: restarted after each exit; `berth stop` stops it for good', async () => {
    // the first run exits, later runs keep running
    E.ok(['run', '-d', '--name', 'al', '--restart', 'always', IMAGE, 'sh', '-c', 'test -e /tmp/ran || { touch /tmp/ran; exit 0; }; exec sleep 1000']);
    await until('restarted and running', () => count('al') === 1 && state('al') === 'running');
    const id = idOf('al');
    const mp = monitorPid(id);
    E.ok(['stop', '-t', '1', 'al']);
    assert.is(state('al'), 'exited');
    // its monitor ends once the exit command is done deciding: a restart would have begun by then
    await until('stopped run fully handled', () => !alive(mp));
    assert.is(`${count('al')} ${state('al')}`, '1 exited');
    assert.match(E.ok(['ps', '-a']), /al$/m);
    assert.is(E.ok(['ps', '-q']).trim(), '', 'not listed as running or restarting');
    E.ok(['rm', 'al']);
  });

  test('a stop during the back-off cancels the pending restart; an rm during it removes everything', async () => {
    for (const how of ['stop', 'rm'] as const) {
      const id = E.ok(['run', '-d', '--name', `bo-${how}`, '--restart', 'always', IMAGE, 'sh', '-c', 'exit 1']).trim();
      let pending: { pid: number } | undefined;
      await until('a pending restart', () => {
        try { pending = restartState(id).pending; } catch { pending = undefined; }
        return Boolean(pending) && state(`bo-${how}`) === 'restarting';
      });
      if (how === 'stop') {
        E.ok(['stop', `bo-${how}`]);
        assert.is(state(`bo-${how}`), 'exited');
        const n = count(`bo-${how}`);
        await until('the pending restart gave up', () => !alive(pending!.pid));
        assert.is(`${count(`bo-${how}`)} ${state(`bo-${how}`)}`, `${n} exited`);
        E.ok(['rm', `bo-${how}`]);
      } else {
        E.ok(['rm', '-f', `bo-${how}`]);
        await until('the pending restart gave up', () => !alive(pending!.pid));
        assert.is.not(E.berth(['inspect', `bo-${how}`]).status, 0);
      }
      assert.not.ok(fs.existsSync(path.join(E.root, 'containers', id)));
    }
    assert.equal(mountsUnder(E.root), []);
  });

  test('restart of a --rm container keeps it; a stop then removes it; --rm with --restart is refused', async () => {
    E.ok(['run', '-d', '--rm', '--name', 'rr', IMAGE, 'sleep', '1000']);
    const mp = monitorPid(idOf('rr'));
    E.ok(['restart', '-t', '0', 'rr']);
    await until('first run fully handled', () => !alive(mp));
    assert.is(state('rr'), 'running');
    E.ok(['stop', '-t', '0', 'rr']);
    await until('removed by its exit command', () => E.berth(['inspect', '--type', 'container', 'rr']).status !== 0);
    const bad = E.berth(['run', '-d', '--rm', '--restart', 'always', IMAGE, 'true']);
    assert.is(bad.status, 125);
    assert.match(bad.stderr, /--restart and --rm/);
  });

  test.run();
}
