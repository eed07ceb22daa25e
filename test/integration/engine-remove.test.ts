// engine remove's order for a container that exited in its own pid namespace: onGone comes once the
// container is gone for everyone (no record, name free) and before the runtime's delete and the rest
// have finished; when remove() resolves nothing of it is left (directory, runtime state, cgroup).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, makeBusyboxRootfs, skip, tmpDir } from '../lib/harness.js';
import { ensureBuilt } from '../lib/containers.js';
import { ContainerService } from '../../engine/service.js';
import { cgroupManagerFor } from '../../runtime/cgroups/index.js';
import { BerthError } from '../../lib/errors.js';

let dir: string;
let rootfs: string;
let svc: ContainerService;

if (!isRoot) skip('engine remove', 'needs root (containers)');
else {
  test.before(() => {
    ensureBuilt();
    dir = tmpDir('berth-engrm-');
    rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    svc = new ContainerService({ root: path.join(dir, 'root'), state: path.join(dir, 'state') });
  });
  test.after(async () => {
    for (const id of svc.ids()) await svc.remove(id, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an exited container: onGone when it is gone, everything else gone when remove resolves', async () => {
    const r = await svc.create({ rootfsDir: rootfs, command: ['true'], name: 'gone-early' });
    const m = await svc.start(r.id);
    await m.waitExit();
    const runtimeState = path.join(dir, 'state', 'runtime', r.id);
    const cgroups = [...new Set(Object.values(cgroupManagerFor({ cgroupsPath: `/berth/${r.id}`, id: r.id }).paths()))];
    assert.ok(fs.existsSync(runtimeState), 'runtime state before remove');
    let atGone: { resolved: string; nameFree: boolean } | undefined;
    const removed = svc.remove(r.id, {
      onGone: () => {
        let resolved = 'found';
        try { svc.resolve(r.id); } catch (e) { resolved = (e as BerthError).code; }
        let nameFree = false;
        try { svc.resolve('gone-early'); } catch (e) { nameFree = (e as BerthError).code === 'NOT_FOUND'; }
        atGone = { resolved, nameFree };
      },
    });
    await removed;
    assert.equal(atGone, { resolved: 'NOT_FOUND', nameFree: true });
    assert.not.ok(fs.existsSync(runtimeState), 'runtime state left');
    for (const d of cgroups) assert.not.ok(fs.existsSync(d), `${d} left`);
    const left = fs.readdirSync(path.join(dir, 'root', 'containers')).filter((n) => n.includes(r.id));
    assert.equal(left, [], 'container directory (or its tomb) left');
    // the name is free for a new container at once
    const again = await svc.create({ rootfsDir: rootfs, command: ['true'], name: 'gone-early' });
    await svc.remove(again.id);
  });

  test('a running container (force): the runtime delete comes before it is gone', async () => {
    const r = await svc.create({ rootfsDir: rootfs, command: ['sleep', '30'] });
    const m = await svc.start(r.id);
    let aliveAtGone: boolean | undefined;
    await svc.remove(r.id, { force: true, onGone: () => { aliveAtGone = fs.existsSync(`/proc/${m.pid}`) && !fs.readFileSync(`/proc/${m.pid}/stat`, 'utf8').includes(') Z '); } });
    assert.is(aliveAtGone, false);
  });
}

test.run();
