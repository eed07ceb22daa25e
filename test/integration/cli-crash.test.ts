// Containers outlive the CLI: kill -9 `berth run` mid-flight and ps, logs and wait still work from
// disk; kill -9 a container's monitor and the container is reported stopped with a reason instead
// of hanging, and rm -f still cleans everything up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { alive, isRoot, skip } from '../lib/harness.js';
import { IMAGE, envWithImage, mountsUnder, spawnBerth, until, type Env } from '../lib/containers.js';

let E: Env;

if (!isRoot) skip('cli crash', 'needs root (containers need namespaces, mounts and cgroups)');
else {
  test.before(async () => { E = await envWithImage(); });
  test.after(() => { E?.cleanup(); });

  test('kill -9 of `berth run`: the container keeps running; ps, logs and wait still work', async () => {
    const cli = spawnBerth(E, ['run', '--name', 'survivor', IMAGE, 'sh', '-c', 'echo one; sleep 1.5; echo two; exit 9']);
    let out = '';
    cli.stdout.on('data', (d) => { out += d; });
    await until('first line', () => out.includes('one'));
    cli.kill('SIGKILL');
    await new Promise((r) => cli.on('exit', r));
    assert.match(E.ok(['ps', '--format', 'json']), /"Names":"survivor".*"State":"running"/);
    assert.match(E.ok(['logs', 'survivor']), /^one\n/);
    const t0 = Date.now();
    assert.is(E.ok(['wait', 'survivor']).trim(), '9');
    assert.ok(Date.now() - t0 < 10_000);
    assert.is(E.ok(['logs', 'survivor']), 'one\ntwo\n');
    assert.match(E.ok(['ps', '-a']), /Exited \(9\)/);
    E.ok(['rm', 'survivor']);
  });

  test('kill -9 of `berth run --rm`: the container is still removed when it exits', async () => {
    const cli = spawnBerth(E, ['run', '--rm', '--name', 'orphan', IMAGE, 'sh', '-c', 'echo one; sleep 1; exit 0']);
    let out = '';
    cli.stdout.on('data', (d) => { out += d; });
    await until('first line', () => out.includes('one'));
    cli.kill('SIGKILL');
    await until('orphan removed by its monitor', () => E.berth(['inspect', '--type', 'container', 'orphan']).status !== 0, 15_000);
    assert.equal(mountsUnder(E.root), []);
  });

  test('kill -9 of the monitor: reported stopped with a reason, wait returns, rm -f cleans up', async () => {
    const id = E.ok(['run', '-d', '--name', 'lost', IMAGE, 'sleep', '300']).trim();
    const mdir = path.join(E.root, 'containers', id, 'monitor');
    const monitorPid = Number(fs.readFileSync(path.join(mdir, 'monitor.pid'), 'utf8').trim());
    const containerPid = Number(E.ok(['inspect', '-f', '.State.Pid', 'lost']).trim());
    assert.ok(monitorPid > 0 && containerPid > 0);
    process.kill(monitorPid, 'SIGKILL');
    await until('monitor gone', () => !alive(monitorPid));
    const t0 = Date.now();
    const w = E.berth(['wait', 'lost'], { timeout: 20_000 });
    assert.is(w.status, 0, w.stderr);
    assert.ok(Date.now() - t0 < 10_000, 'wait must not hang');
    assert.is(E.ok(['inspect', '-f', '.State.Status', 'lost']).trim(), 'exited');
    assert.is(E.ok(['inspect', '-f', '.State.Reason', 'lost']).trim(), 'monitor died');
    assert.match(E.ok(['ps', '-a']), /monitor died/);
    // stop still ends what is left of the container (nobody reaps it any more)
    E.ok(['stop', 'lost']);
    await until('container process gone', () => !alive(containerPid));
    E.ok(['rm', '-f', 'lost']);
    assert.equal(mountsUnder(E.root), []);
    assert.not.ok(fs.existsSync(path.join(E.root, 'containers', id)));
  });
}

test.run();
