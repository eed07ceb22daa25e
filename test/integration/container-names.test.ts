// The container name index (engine/name-index.ts): one name, one container, even when creates race
// across processes; entries a crash left behind are reclaimed; a root made without the index still
// resolves and gets one; rm frees the name; lookups by name, id and prefix keep their errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { BERTH, ensureBuilt } from '../lib/containers.js';
import { ContainerService } from '../../engine/service.js';
import { generateName } from '../../engine/names.js';
import { BerthError } from '../../lib/errors.js';
import { lockFile } from '../../lib/file-lock.js';
import { discardCgroupDirs } from '../../runtime/cgroups/index.js';

let dir: string;
let rootfs: string;
let svc: ContainerService;

const namesDir = () => path.join(dir, 'root', 'containers', '.names');
const entry = (name: string) => fs.readlinkSync(path.join(namesDir(), name));
const create = (name?: string) => svc.create({ rootfsDir: rootfs, command: ['true'], ...(name ? { name } : {}) });

async function rejects(p: Promise<unknown> | (() => unknown), code: string, msg: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, BerthError);
    assert.is((e as BerthError).code, code);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** `berth create --name NAME` in a process of its own: exit code and stderr. */
function cliCreate(name: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(BERTH, ['--root', path.join(dir, 'root'), '--state', path.join(dir, 'state'), 'create', '--name', name, '--rootfs', rootfs, 'true']);
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out: out.trim(), err }));
  });
}

if (!isRoot) skip('container names', 'needs root (the CLI and the engine write under --root as root)');
else {
  test.before(() => {
    ensureBuilt();
    dir = tmpDir('berth-names-');
    rootfs = path.join(dir, 'rootfs');
    fs.mkdirSync(rootfs);
    svc = new ContainerService({ root: path.join(dir, 'root'), state: path.join(dir, 'state') });
  });
  // Never started, from a plain directory: no mounts, cgroups or processes to undo.
  test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });
  test.after.each(async () => {
    for (const id of svc.ids()) await svc.remove(id, { force: true });
  });

  test('concurrent creates of one name in separate processes: exactly one wins, the index names it', async () => {
    for (let round = 0; round < 3; round++) {
      const name = `race${round}`;
      const results = await Promise.all([1, 2, 3, 4].map(() => cliCreate(name)));
      const won = results.filter((r) => r.code === 0);
      assert.is(won.length, 1, JSON.stringify(results));
      for (const r of results.filter((x) => x.code !== 0)) assert.match(r.err, /the container name "race\d" is already in use/);
      assert.is(entry(name), won[0].out);
      assert.is(svc.resolve(name).id, won[0].out);
      assert.is(svc.records().filter((r) => r.name === name).length, 1);
    }
  });

  test('concurrent creates of one name in one process: exactly one wins', async () => {
    const results = await Promise.allSettled([create('same'), create('same'), create('same')]);
    assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.is((r.reason as BerthError).code, 'ALREADY_EXISTS');
  });

  test('rm frees the name: the entry goes, and the name can be taken again', async () => {
    const a = await create('reused');
    assert.is(entry('reused'), a.id);
    await svc.remove('reused');
    assert.not.ok(fs.existsSync(path.join(namesDir(), 'reused')));
    await rejects(() => svc.resolve('reused'), 'NOT_FOUND', /no such container: reused/);
    const b = await create('reused');
    assert.is.not(b.id, a.id);
    assert.is(svc.resolve('reused').id, b.id);
  });

  test('a generated name is reserved in the index, and generation skips taken names', async () => {
    const r = await create();
    assert.is(entry(r.name), r.id);
    assert.is(svc.resolve(r.name).id, r.id);
    const tried: string[] = [];
    const n = generateName((x) => { tried.push(x); return tried.length < 5; });
    assert.is(tried.length, 5);
    assert.is(n, tried[4]);
  });

  test('stale entries a crash left are free: mid-remove (record gone), mid-create (no directory, or no record yet)', async () => {
    // a remove that died after moving the container's directory away, before dropping the entry
    const old = await create('crashed-rm');
    discardCgroupDirs(`/berth/${old.id}`, old.id); // a remove takes back the cgroup made at create before the rename
    fs.renameSync(svc.layout.containerDir(old.id), path.join(dir, 'moved-away'));
    fs.rmSync(path.join(dir, 'moved-away'), { recursive: true });
    assert.is(entry('crashed-rm'), old.id);
    await rejects(() => svc.resolve('crashed-rm'), 'NOT_FOUND', /no such container/);
    const again = await create('crashed-rm');
    assert.is(entry('crashed-rm'), again.id);
    assert.is(svc.resolve('crashed-rm').id, again.id);
    // a create that died after the entry, before its directory or its record
    const ghost = 'e'.repeat(64), half = 'f'.repeat(64);
    fs.symlinkSync(ghost, path.join(namesDir(), 'crashed-create'));
    fs.mkdirSync(svc.layout.containerDir(half));
    fs.symlinkSync(half, path.join(namesDir(), 'crashed-early'));
    const c1 = await create('crashed-create');
    const c2 = await create('crashed-early');
    assert.is(svc.resolve('crashed-create').id, c1.id);
    assert.is(svc.resolve('crashed-early').id, c2.id);
    fs.rmSync(svc.layout.containerDir(half), { recursive: true });
    // a failed create drops its entry (a --rootfs that is not a directory fails after the reservation)
    await rejects(svc.create({ rootfsDir: path.join(dir, 'nonexistent'), name: 'failed' }), 'INVALID_ARGUMENT', /is not a directory/);
    assert.not.ok(fs.existsSync(path.join(namesDir(), 'failed')));
  });

  test('a root made without the index: the first lookup or create builds it from the records', async () => {
    const a = await create('legacy-a');
    const b = await create('legacy-b');
    fs.rmSync(namesDir(), { recursive: true });
    assert.is(svc.resolve('legacy-a').id, a.id);
    assert.is(entry('legacy-b'), b.id);
    // with the names lock held elsewhere, a lookup scans the records and builds nothing
    fs.rmSync(namesDir(), { recursive: true });
    const held = lockFile(svc.layout.namesLock);
    try {
      assert.is(svc.resolve('legacy-b').id, b.id);
      assert.not.ok(fs.existsSync(namesDir()));
    } finally {
      held.release();
    }
    await rejects(create('legacy-b'), 'ALREADY_EXISTS', /"legacy-b" is already in use/);
    assert.is(entry('legacy-a'), a.id);
    assert.is(entry('legacy-b'), b.id);
    const c = await create('legacy-c');
    assert.is(svc.resolve('legacy-c').id, c.id);
    assert.equal(fs.readdirSync(namesDir()).sort(), ['legacy-a', 'legacy-b', 'legacy-c']);
  });

  test('resolve: full id, name before prefix, unique prefix, ambiguous prefix, unknown, and names that are not file names', async () => {
    const made = [];
    for (let i = 0; i < 17; i++) made.push(await create(`p${i}`));
    // 17 ids, 16 first digits: two share one
    const byFirst = new Map<string, string[]>();
    for (const r of made) byFirst.set(r.id[0], [...(byFirst.get(r.id[0]) ?? []), r.id]);
    const [shared, ids] = [...byFirst].find(([, v]) => v.length > 1)!;
    await rejects(() => svc.resolve(shared), 'INVALID_ARGUMENT', new RegExp(`container id prefix ${shared} is ambiguous \\(${ids.length} matches\\)`));
    for (const r of made) {
      assert.is(svc.resolve(r.id).id, r.id);
      assert.is(svc.resolve(r.id.slice(0, 12)).id, r.id);
      assert.is(svc.resolve(`/${r.name}`).id, r.id);
    }
    // a name that is also another container's id prefix: the name wins (as in docker)
    const named = await create(made[0].id.slice(0, 6));
    assert.is(svc.resolve(made[0].id.slice(0, 6)).id, named.id);
    await rejects(() => svc.resolve('nosuch'), 'NOT_FOUND', /no such container: nosuch/);
    await rejects(() => svc.resolve('0'.repeat(64)), 'NOT_FOUND', /no such container/);
    await rejects(() => svc.resolve('../containers'), 'NOT_FOUND', /no such container: \.\.\/containers/);
    await rejects(() => svc.resolve(''), 'INVALID_ARGUMENT', /cannot be empty/);
    await rejects(create('../escape'), 'INVALID_ARGUMENT', /invalid container name/);
  });
}

test.run();
