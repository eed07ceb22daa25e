// Cgroup dirs made ahead of the runtime's create (engine/cgroup-prepare.ts): a container's cgroup exists
// from its create on, its init runs in exactly that cgroup, and whatever a create made is gone after
// remove, whether or not the container ever started; a pod-style path made ahead and never used is
// taken back by discardCgroup without touching the parent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, makeBusyboxRootfs, skip, tmpDir } from '../lib/harness.js';
import { ensureBuilt } from '../lib/containers.js';
import { ContainerService } from '../../engine/service.js';
import { cgroupManagerFor } from '../../runtime/cgroups/index.js';

let dir: string;
let rootfs: string;
let svc: ContainerService;
const tag = `prep-${process.pid}`;

/** Every dir of a cgroupsPath, one per mounted hierarchy (v1 controllers and the unified one). */
const dirsOf = (cgroupsPath: string) => [...new Set(Object.values(cgroupManagerFor({ cgroupsPath, id: 'x' }).paths()))];

if (!isRoot) skip('engine cgroup prepare', 'needs root (cgroup dirs under /sys/fs/cgroup)');
else {
  test.before(() => {
    ensureBuilt();
    dir = tmpDir('berth-cgprep-');
    rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    svc = new ContainerService({ root: path.join(dir, 'root'), state: path.join(dir, 'state') });
  });
  test.after(async () => {
    for (const id of svc.ids()) await svc.remove(id, { force: true }).catch(() => undefined);
    for (const d of dirsOf(`/berth/${tag}`)) try { fs.rmdirSync(d); } catch { /* gone */ }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('create makes the cgroup; remove of a never-started container takes it back', async () => {
    const cgroupsPath = `/berth/${tag}/never`;
    const r = await svc.create({ rootfsDir: rootfs, command: ['true'], cgroupsPath });
    const dirs = dirsOf(cgroupsPath);
    assert.ok(dirs.length > 0);
    for (const d of dirs) assert.ok(fs.existsSync(d), `${d} made at create`);
    await svc.remove(r.id);
    for (const d of dirs) assert.not.ok(fs.existsSync(d), `${d} left after remove`);
  });

  test('the started container runs in the cgroup made ahead; remove leaves none', async () => {
    const cgroupsPath = `/berth/${tag}/started`;
    const r = await svc.create({ rootfsDir: rootfs, command: ['sleep', '30'], cgroupsPath });
    const m = await svc.start(r.id);
    const dirs = dirsOf(cgroupsPath);
    for (const d of dirs) {
      const procs = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      assert.ok(procs.includes(m.pid), `init ${m.pid} in ${d} (has ${procs.join(' ')})`);
    }
    await svc.remove(r.id, { force: true });
    for (const d of dirs) assert.not.ok(fs.existsSync(d), `${d} left after remove`);
  });

  test('a create that fails after the cgroup was made leaves no cgroup', async () => {
    const cgroupsPath = `/berth/${tag}/failed`;
    try {
      await svc.create({ rootfsDir: path.join(dir, 'no-such-dir'), command: ['true'], cgroupsPath });
      assert.unreachable('create of a missing rootfs succeeded');
    } catch (e) {
      assert.match((e as Error).message, /not a directory/);
    }
    for (const d of dirsOf(cgroupsPath)) assert.not.ok(fs.existsSync(d), `${d} left after the failed create`);
  });

  test('a start whose runtime create fails leaves no cgroup (the container stays, startable again)', async () => {
    const cgroupsPath = `/berth/${tag}/badstart`;
    const r = await svc.create({ rootfsDir: rootfs, command: ['/no/such/program'], cgroupsPath });
    const dirs = dirsOf(cgroupsPath);
    // without its config.json the runtime's create itself fails
    fs.rmSync(path.join(r.bundle, 'config.json'));
    try {
      await svc.start(r.id);
      assert.unreachable('a start without config.json succeeded');
    } catch (e) {
      assert.ok(e instanceof Error);
    }
    for (const d of dirs) assert.not.ok(fs.existsSync(d), `${d} left after the failed start`);
    await svc.remove(r.id, { force: true });
  });

  test('a create refused for its name makes no cgroup', async () => {
    const first = await svc.create({ rootfsDir: rootfs, command: ['true'], name: 'taken', cgroupsPath: `/berth/${tag}/taken-1` });
    try {
      await svc.create({ rootfsDir: rootfs, command: ['true'], name: 'taken', cgroupsPath: `/berth/${tag}/taken-2` });
      assert.unreachable('a second container got the name');
    } catch (e) {
      assert.match((e as Error).message, /already in use/);
    }
    for (const d of dirsOf(`/berth/${tag}/taken-2`)) assert.not.ok(fs.existsSync(d), `${d} made for a refused create`);
    await svc.remove(first.id);
  });

  test('prepareCgroup / discardCgroup: the leaf goes, the parent (its owner\'s) stays', () => {
    const cgroupsPath = `/berth/${tag}/pod1/pause`;
    svc.prepareCgroup(cgroupsPath);
    const dirs = dirsOf(cgroupsPath);
    for (const d of dirs) assert.ok(fs.existsSync(d), `${d} made`);
    svc.discardCgroup(cgroupsPath);
    for (const d of dirs) {
      assert.not.ok(fs.existsSync(d), `${d} left`);
      assert.ok(fs.existsSync(path.dirname(d)), `parent of ${d} kept`);
      fs.rmdirSync(path.dirname(d));
    }
  });

  test('relative cgroupsPaths are left to the runtime', () => {
    svc.prepareCgroup(`${tag}-relative`);
    for (const d of dirsOf(`/berth/${tag}-relative`)) assert.not.ok(fs.existsSync(d), `${d} made for a relative path`);
  });
}

test.run();
