// The create path's overlap (runtime/container/create.ts, runtime/launch.ts): berth-init starts before
// the bundle is read and joins the container's cgroups itself ('J') before it clones, so the container
// process is born in them; every way this can fail ends berth-init and leaves nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { makeBundle, defaultSpec, alive, waitGone, track, killLeftovers, type Bundle } from '../lib/init.js';
import { createContainerProcess, startCreateInit, joinCgroups, abandonInit } from '../../runtime/launch.js';
import { cgroupManagerFor, type CgroupManager } from '../../runtime/cgroups/index.js';
import { memberDirs } from '../../runtime/cgroups/cgroup-path.js';
import { createContainer } from '../../runtime/container/create.js';
import { openRuntime } from '../../runtime/container/context.js';
import { BerthError, isBerthError } from '../../lib/errors.js';

const PARENT = `/berth-test-overlap-${process.pid}`;
const bundles: Bundle[] = [];
const managers: CgroupManager[] = [];
function bundle(): Bundle { const b = makeBundle(); bundles.push(b); return b; }

/** Our children named berth-init (none may outlive a create that failed). */
function initChildren(): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'berth-init' && ppid === process.pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

test.after(async () => {
  await killLeftovers();
  for (const m of managers) { try { m.killAll(9); await m.destroy(); } catch { /* reported by the tests */ } }
  for (const c of fs.readdirSync('/sys/fs/cgroup')) { try { fs.rmdirSync(`/sys/fs/cgroup/${c}${PARENT}`); } catch { /* not ours or busy */ } }
  for (const b of bundles) b.cleanup();
});

if (!isRoot) {
  skip('runtime create overlap', 'needs root (namespaces, cgroups)');
} else {
  test('berth-init joins the cgroups before it clones: the container process is born inside', async () => {
    const m = cgroupManagerFor({ id: 'born', cgroupsPath: `${PARENT}/born` });
    managers.push(m);
    await m.create();
    const dirs = [...new Set(Object.values(m.paths()))];
    const b = bundle();
    const init = startCreateInit(undefined, [0, 1, 2], 0);
    joinCgroups(init, Promise.resolve(dirs));
    let seen: Set<string> | undefined;
    const { pid } = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2], spec: defaultSpec(['/bin/true']), init,
      // Before any write of ours: what the clone inherited.
      onPid: async (p) => { track(p); seen = memberDirs(p); }, hookState: () => '{}',
    });
    for (const d of dirs) assert.ok(seen!.has(d), `born in ${d} (in: ${[...seen!].join(' ')})`);
    // Its cgroup has nothing else left in it: berth-init's parent has exited.
    assert.equal(m.pids(), [pid]);
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
  });

  test('a cgroup berth-init cannot join fails create with the path, and leaves nothing', async () => {
    const b = bundle();
    const missing = `/sys/fs/cgroup/pids${PARENT}/no-such-dir`;
    const init = startCreateInit(undefined, [0, 1, 2], 0);
    joinCgroups(init, Promise.resolve([missing]));
    let pid = 0;
    const err = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2], spec: defaultSpec(['/bin/true']), init,
      onPid: async (p) => { pid = p; }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'NOT_FOUND'), String(err));
    assert.is(err.message, `berth-init: join cgroup ${missing}: No such file or directory`);
    assert.is(pid, 0, 'no container process was cloned');
    assert.ok(!fs.existsSync(path.join(b.stateDir, 'exec.fifo')), 'fifo removed');
    assert.equal(initChildren(), []);
  });

  test('dirs that never come (their mkdir failed) end berth-init instead of leaving it waiting', async () => {
    const b = bundle();
    const init = startCreateInit(undefined, [0, 1, 2], 0);
    const initPid = await init.pid;
    joinCgroups(init, Promise.reject(new BerthError('PERMISSION_DENIED', 'cgroup: creating x: EACCES')));
    const err = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2], spec: defaultSpec(['/bin/true']), init,
      onPid: async () => { throw new Error('must not get a pid'); }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'PERMISSION_DENIED'), String(err));
    assert.ok(!alive(initPid), 'berth-init ended');
    assert.ok(!fs.existsSync(path.join(b.stateDir, 'exec.fifo')), 'fifo removed');
  });

  test('a berth-init started ahead of a create that fails first is ended (abandonInit)', async () => {
    const init = startCreateInit(undefined, [0, 1, 2], 0);
    const initPid = await init.pid;
    assert.ok(alive(initPid));
    await abandonInit(init);
    assert.ok(!alive(initPid));
    await abandonInit(init); // twice is harmless
  });

  test('createContainer: an invalid config, a taken id, a config the plan refuses: no berth-init, no cgroup left', async () => {
    const root = path.join(bundle().dir, 'runtime-state');
    const rt = openRuntime({ root, warn: () => {} });
    const bad = bundle();
    fs.writeFileSync(path.join(bad.bundle, 'config.json'), '{"ociVersion": 7}');
    const e1 = await createContainer(rt, { id: 'bad', bundle: bad.bundle, stdio: [0, 1, 2] }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(e1, 'INVALID_ARGUMENT'), String(e1));
    assert.equal(initChildren(), []);
    assert.ok(!fs.existsSync(path.join(root, 'bad')));

    const ok = bundle();
    const spec = defaultSpec(['/bin/sleep', '30']);
    spec.linux!.cgroupsPath = `${PARENT}/taken`;
    fs.writeFileSync(path.join(ok.bundle, 'config.json'), JSON.stringify(spec));
    const rec = await createContainer(rt, { id: 'taken', bundle: ok.bundle, stdio: [0, 1, 2] });
    track(rec.pid);
    const again = bundle();
    spec.linux!.cgroupsPath = `${PARENT}/taken-2`;
    fs.writeFileSync(path.join(again.bundle, 'config.json'), JSON.stringify(spec));
    const e2 = await createContainer(rt, { id: 'taken', bundle: again.bundle, stdio: [0, 1, 2] }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(e2, 'ALREADY_EXISTS'), String(e2));
    assert.equal(initChildren(), []);
    assert.ok(!fs.existsSync(`/sys/fs/cgroup/pids${PARENT}/taken-2`), 'the refused create made no cgroup');
    // A config refused only when the plan is built (berth-init is already up and joined): no mount namespace.
    const noMnt = bundle();
    spec.linux!.cgroupsPath = `${PARENT}/no-mnt`;
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'mount');
    fs.writeFileSync(path.join(noMnt.bundle, 'config.json'), JSON.stringify(spec));
    const t0 = Date.now();
    const e3 = await createContainer(rt, { id: 'no-mnt', bundle: noMnt.bundle, stdio: [0, 1, 2] }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(e3), String(e3));
    assert.match(e3.message, /mount namespace/);
    assert.ok(Date.now() - t0 < 5000, `failed at once (${Date.now() - t0} ms), not after the cgroup removal gave up`);
    assert.equal(initChildren(), []);
    assert.ok(!fs.existsSync(`/sys/fs/cgroup/pids${PARENT}/no-mnt`), 'its cgroup was removed');
    assert.ok(!fs.existsSync(path.join(root, 'no-mnt')));
    const { deleteContainer } = await import('../../runtime/container/delete.js');
    await deleteContainer(rt, 'taken', { force: true });
    assert.ok(!alive(rec.pid));
    assert.ok(!fs.existsSync(`/sys/fs/cgroup/pids${PARENT}/taken`), 'delete removed the cgroup');
  });
}

test.run();
