// A removal whose remover died right after renaming the container's directory to its tomb
// (<root>/containers/.removing-<id>): the next sweep (engine/interrupted-removals.ts; `berth rm` and
// `berth serve` run one) finishes it: runtime state, cgroups, rootfs mount, snapshot, name entry and
// tomb all go. A tomb whose remover still holds its lock is left to it; a tomb without a readable
// record is unmounted, never deleted through, and removed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { isRoot, skip } from '../lib/harness.js';
import { BERTH, IMAGE, envWithImage, mountsUnder, type Env } from '../lib/containers.js';
import { ContainerService } from '../../engine/service.js';
import { BerthError } from '../../lib/errors.js';
import { lockFile } from '../../lib/file-lock.js';
import { cgroupManagerFor } from '../../runtime/cgroups/index.js';
import { unmountAll } from '../../snapshotter/mount.js';

let e: Env;
let svc: ContainerService;

const tombOf = (id: string) => path.join(svc.layout.containers, `.removing-${id}`);
const nameEntry = (name: string) => path.join(svc.layout.namesDir, name);
const exists = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

/** What a remover did before it was killed: took the container's .remove.lock and renamed the directory. */
function renameAsKilledRemover(id: string): string {
  const lock = lockFile(path.join(svc.layout.containerDir(id), '.remove.lock'));
  try {
    fs.renameSync(svc.layout.containerDir(id), tombOf(id));
  } finally {
    lock.release(); // the kernel drops a killed process's flock
  }
  return tombOf(id);
}

/** The sweep's count and what it wrote to stderr (it reports failures there). */
async function sweep(): Promise<{ finished: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    return { finished: await svc.finishInterruptedRemovals(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

/** A directory for --rootfs containers that are never started. */
function plainRootfs(): string {
  const d = path.join(e.dir, 'plain-rootfs');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

function resolveCode(q: string): string {
  try { svc.resolve(q); return 'found'; } catch (err) { return (err as BerthError).code; }
}

if (!isRoot) skip('engine interrupted remove', 'needs root (containers, mounts, cgroups)');
else {
  test.before(async () => {
    e = await envWithImage();
    svc = new ContainerService({ root: e.root, state: e.state, runtime: e.runtime });
  });
  test.after(async () => {
    if (!e) return;
    // what a failed test left: its tombs (the sweep itself, then unmounting anything else), its containers
    await svc.finishInterruptedRemovals().catch(() => undefined);
    for (const id of svc.ids()) await svc.remove(id, { force: true }).catch(() => undefined);
    for (const m of mountsUnder(e.dir).sort((a, b) => b.length - a.length)) unmountAll(m);
    e.cleanup();
  });

  test('an exited container whose remover died after the rename: the sweep undoes everything', async () => {
    const r = await svc.create({ image: IMAGE, command: ['true'], name: 'half-removed' });
    const m = await svc.start(r.id);
    await m.waitExit();
    const runtimeState = path.join(e.state, 'runtime', r.id);
    const cgroups = [...new Set([
      ...Object.values(cgroupManagerFor({ cgroupsPath: `/berth/${r.id}`, id: r.id }).paths()),
      ...['pids', 'memory'].map((c) => `/sys/fs/cgroup/${c}/berth/${r.id}`).filter((d) => fs.existsSync(path.dirname(path.dirname(d)))),
    ])];
    assert.ok(fs.existsSync(runtimeState), 'runtime state before');
    assert.ok(cgroups.length > 0 && cgroups.every((d) => fs.existsSync(d)), `cgroup dirs before: ${cgroups}`);
    assert.ok(r.snapshotKey && await svc.snapshotter.stat(r.snapshotKey), 'snapshot before');

    const tomb = renameAsKilledRemover(r.id);
    assert.equal(mountsUnder(svc.layout.containers), [path.join(tomb, 'rootfs')], 'the rootfs moved with the tomb, mounted');
    assert.is(resolveCode('half-removed'), 'NOT_FOUND');
    assert.ok(exists(nameEntry('half-removed')), 'the stale name entry a killed remover leaves');

    const { finished, stderr } = await sweep();
    assert.is(finished, 1);
    assert.is(stderr, '');
    assert.not.ok(exists(tomb), 'tomb left');
    assert.not.ok(fs.existsSync(runtimeState), 'runtime state left');
    for (const d of cgroups) assert.not.ok(fs.existsSync(d), `${d} left`);
    assert.equal(mountsUnder(e.root), [], 'mounts left under the root');
    assert.is(await svc.snapshotter.stat(r.snapshotKey!), undefined, 'snapshot left');
    assert.not.ok(exists(nameEntry('half-removed')), 'name entry left');
    assert.equal(fs.readdirSync(svc.layout.containers).filter((n) => n.includes(r.id)), []);
    // nothing left to do: a second sweep finds nothing, and the name is free
    assert.equal(await sweep(), { finished: 0, stderr: '' });
    const again = await svc.create({ rootfsDir: plainRootfs(), command: ['true'], name: 'half-removed' });
    await svc.remove(again.id);
  });

  test('a tomb whose lock is held belongs to a live remover: left alone until it is released', async () => {
    const r = await svc.create({ image: IMAGE, command: ['true'] });
    const tomb = renameAsKilledRemover(r.id);
    const held = lockFile(path.join(tomb, '.remove.lock'));
    try {
      assert.equal(await sweep(), { finished: 0, stderr: '' });
      assert.ok(fs.existsSync(path.join(tomb, 'container.json')), 'tomb touched while its lock is held');
      assert.equal(mountsUnder(tomb), [path.join(tomb, 'rootfs')], 'rootfs unmounted under a live remover');
    } finally {
      held.release();
    }
    assert.equal(await sweep(), { finished: 1, stderr: '' });
    assert.not.ok(exists(tomb));
    assert.equal(mountsUnder(e.root), []);
    assert.is(await svc.snapshotter.stat(r.snapshotKey!), undefined, 'snapshot left');
  });

  test('a tomb without a readable record: unmounted first (nothing deleted through a mount), then removed', async () => {
    const id = 'a'.repeat(64);
    const tomb = tombOf(id);
    const outside = path.join(e.dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'host file');
    fs.mkdirSync(path.join(tomb, 'rootfs'), { recursive: true });
    fs.writeFileSync(path.join(tomb, 'container.json'), '{"truncated');
    fs.writeFileSync(path.join(tomb, '.remove.lock'), '');
    execFileSync('mount', ['--bind', outside, path.join(tomb, 'rootfs')]);
    try {
      assert.equal(await sweep(), { finished: 1, stderr: '' });
    } finally {
      if (mountsUnder(tomb).length) unmountAll(path.join(tomb, 'rootfs'));
    }
    assert.not.ok(exists(tomb));
    assert.is(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'host file');
  });

  test('`berth rm` finishes what an earlier, killed rm left', async () => {
    const dead = await svc.create({ image: IMAGE, command: ['true'] });
    const tomb = renameAsKilledRemover(dead.id);
    const other = await svc.create({ rootfsDir: plainRootfs(), command: ['true'] });
    e.ok(['rm', other.id]);
    assert.not.ok(exists(tomb), 'tomb left after rm');
    assert.equal(mountsUnder(e.root), []);
    assert.is(await svc.snapshotter.stat(dead.snapshotKey!), undefined, 'snapshot left');
  });

  test('`berth serve` finishes what was left when it starts', async () => {
    const dead = await svc.create({ image: IMAGE, command: ['true'] });
    const tomb = renameAsKilledRemover(dead.id);
    // the server's own helpers (spare namespace, standby monitors, prefetch) are not what this is about
    const env = { ...process.env, BERTH_RUNTIME_BIN: e.runtime, BERTH_NETNS_SPARE: 'off', BERTH_MONITOR_STANDBY: 'off', BERTH_CGROUP_PREFETCH: 'off' };
    const server = spawn(BERTH, ['--root', e.root, '--state', e.state, 'serve', '--no-docker', '--cri-socket', path.join(e.state, 'sweep-cri.sock')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout!.on('data', (d) => { out += d; });
    server.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise((r) => server.once('exit', r));
    try {
      for (let i = 0; i < 200 && exists(tomb) && server.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      assert.not.ok(exists(tomb), `tomb left by the server: ${out}`);
      assert.is(await svc.snapshotter.stat(dead.snapshotKey!), undefined, 'snapshot left');
    } finally {
      server.kill('SIGTERM');
      await exited;
    }
    assert.equal(mountsUnder(e.root), []);
  });
}

test.run();
