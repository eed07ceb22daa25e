// Containers outlive the CLI: kill -9 `berth run` mid-flight and ps, logs and wait still work from
// disk; kill -9 a container's monitor and the container is reported stopped with a reason instead
// of hanging, and rm -f still cleans everything up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { alive, isRoot, skip } from '../lib/harness.js';
import { IMAGE, envWithImage, mountsUnder, spawnBerth, until, type Env } from '../lib/containers.js';
import { discardCgroupDirs } from '../../runtime/cgroups/index.js';

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

  test('an empty session.json (an OS crash can leave one: it is written without fsync) reads as never started; start runs it again', () => {
    const id = E.ok(['run', '-d', '--name', 'crashed', IMAGE, 'sh', '-c', 'echo ran']).trim();
    assert.is(E.ok(['wait', 'crashed']).trim(), '0');
    fs.writeFileSync(path.join(E.root, 'containers', id, 'monitor', 'session.json'), '');
    assert.is(E.ok(['inspect', '-f', '.State.Status', 'crashed']).trim(), 'created');
    assert.match(E.ok(['ps', '-a']), /crashed/);
    // the previous run's runtime state (still there: --state is not a tmpfs here) does not block it
    E.ok(['start', 'crashed']);
    assert.is(E.ok(['wait', 'crashed']).trim(), '0');
    assert.is(E.ok(['logs', 'crashed']), 'ran\nran\n');
    E.ok(['rm', 'crashed']);
    assert.equal(mountsUnder(E.root), []);
    assert.not.ok(fs.existsSync(path.join(E.root, 'containers', id)));
  });

  test('a container snapshot whose removal an OS crash undid (its directory is gone) is garbage to image prune; a live container\'s is kept', () => {
    const kept = E.ok(['create', '--name', 'keeper', IMAGE, 'true']).trim();
    const lost = E.ok(['create', IMAGE, 'true']).trim();
    const keys = () => Object.keys(JSON.parse(fs.readFileSync(path.join(E.root, 'snapshots', 'meta.json'), 'utf8')).snapshots);
    // What such a crash leaves: the directory removed, the snapshot's record back (written without fsync).
    const dir = path.join(E.root, 'containers', lost);
    assert.is(spawnSync('umount', [path.join(dir, 'rootfs')]).status, 0);
    fs.rmSync(dir, { recursive: true, force: true });
    discardCgroupDirs(`/berth/${lost}`, lost); // made at create; an OS crash takes them too
    assert.ok(keys().includes(`container/${lost}`) && keys().includes(`container/${kept}`));
    E.ok(['image', 'prune']);
    assert.not.ok(keys().includes(`container/${lost}`), 'the orphan is collected');
    assert.ok(keys().includes(`container/${kept}`), 'a live container keeps its snapshot');
    E.ok(['rm', 'keeper']);
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
