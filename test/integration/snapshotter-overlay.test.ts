// Overlay and copy snapshotters on the real kernel: unpack, mount, whiteouts across layers, GC,
// long chains, concurrency.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { openSnapshotter, unpackLayers, mountAll, unmountAll, chainIds, UNPACK_LABEL, type Snapshotter } from '../../snapshotter/index.js';
import { transientMounts } from '../../snapshotter/mount.js';
import { isRoot, skip, tmpDir, REPO } from '../lib/harness.js';
import { makeLayer, treeOf, hardlinkGroups, type LayerEntry } from '../lib/snapshotter.js';

const dirs: string[] = [];
const mounted: string[] = [];
function fresh(): string {
  const d = tmpDir('berth-sn-');
  dirs.push(d);
  return d;
}

type Layer = ReturnType<typeof makeLayer>;
function blobs(layers: Layer[]) {
  const by = new Map(layers.map((l) => [l.digest, l.blob]));
  return (d: string) => Readable.from([by.get(d)!]);
}

async function mountView(sn: Snapshotter, key: string, parent: string, base: string): Promise<string> {
  const target = path.join(base, `mnt-${key}`);
  fs.mkdirSync(target);
  mountAll(await sn.view(key, parent), target);
  mounted.push(target);
  return target;
}

function unmount(target: string): void {
  unmountAll(target);
  mounted.splice(mounted.indexOf(target), 1);
}

// Three layers: whiteouts, an opaque dir, a dir replaced by a file, hardlinks, devices, xattrs.
const L1: LayerEntry[] = [
  { name: 'bin/', mode: 0o755 },
  { name: 'bin/tool', data: 'tool v1', mode: 0o4755 },
  { name: 'bin/tool-hl', type: 'link', linkname: 'bin/tool' },
  { name: 'etc/', mode: 0o755 },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'etc/gone', data: 'deleted by layer 2' },
  { name: 'opq/', mode: 0o755 },
  { name: 'opq/old1', data: 'hidden by opaque' },
  { name: 'opq/sub/', mode: 0o755 },
  { name: 'opq/sub/old2', data: 'hidden' },
  { name: 'becomes-file/', mode: 0o755 },
  { name: 'becomes-file/inner', data: 'gone with its dir' },
  { name: 'dev/', mode: 0o755 },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'cap', data: 'c', xattrs: { 'security.capability': Buffer.from('0100000200040000000000000000000000000000', 'hex') } },
];
const L2: LayerEntry[] = [
  { name: 'etc/', mode: 0o755 },
  { name: 'etc/.wh.gone', data: '' },
  { name: 'etc/hosts', data: '127.0.0.1 localhost\n' },
  { name: 'opq/', mode: 0o700, uid: 5 },
  { name: 'opq/.wh..wh..opq', data: '' },
  { name: 'opq/new', data: 'visible' },
  { name: '.wh.becomes-file', data: '' },
  { name: 'becomes-file', data: 'now a file' },
  { name: 'fifo', type: 'fifo', mode: 0o600 },
];
const L3: LayerEntry[] = [
  { name: 'bin/', mode: 0o755 },
  { name: 'bin/tool', data: 'tool v2', mode: 0o755 },
  { name: 'etc/', mode: 0o755 },
  { name: 'etc/.wh.hosts', data: '' },
  { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
  { name: 'opq/', mode: 0o700, uid: 5 },
  { name: 'opq/newer', data: 'layer 3' },
  { name: 'dev/.wh.null', data: '' },
];
const EXPECTED_PATHS = ['becomes-file', 'bin', 'bin/tool', 'bin/tool-hl', 'cap', 'dev', 'etc', 'etc/passwd', 'fifo', 'link', 'opq', 'opq/new', 'opq/newer'];

async function unpack3(sn: Snapshotter, compressions: ('gzip' | 'zstd' | 'none')[] = ['gzip', 'zstd', 'none']) {
  const layers = [makeLayer(L1, compressions[0]), makeLayer(L2, compressions[1]), makeLayer(L3, compressions[2])];
  const { chainId } = await unpackLayers(sn, layers, blobs(layers));
  return { layers, chainId };
}

function checkMerged(t: ReturnType<typeof treeOf>): void {
  assert.equal(Object.keys(t).sort(), EXPECTED_PATHS);
  assert.is(t['bin/tool'].content, 'tool v2');
  assert.is(t['bin/tool'].mode, 0o755);
  assert.is(t['bin/tool-hl'].content, 'tool v1');
  assert.is(t['bin/tool-hl'].mode, 0o4755);
  assert.is(t['becomes-file'].content, 'now a file');
  assert.equal([t['opq'].mode, t['opq'].uid], [0o700, 5]);
  assert.is(t['link'].link, '/etc/passwd');
  assert.is(t['fifo'].type, 'fifo');
  assert.is(t['cap'].xattrs['security.capability'], '0100000200040000000000000000000000000000');
}

test('overlay: 3 layers with whiteouts and opaque dirs mount to the expected tree', async () => {
  if (!isRoot) return skip('overlay 3 layers', 'needs root (overlay mounts)');
  const base = fresh();
  const sn = openSnapshotter(path.join(base, 'snapshots'), 'overlay');
  assert.is(sn.kind, 'overlay');
  const { layers, chainId } = await unpack3(sn);
  const chains = chainIds(layers.map((l) => l.diffId));
  assert.is(chainId, chains[2]);
  const list = await sn.list();
  // In chain order (ids follow the order layers started in: biggest first).
  const inChain = [...list].sort((a, b) => chains.indexOf(a.key) - chains.indexOf(b.key));
  assert.equal(inChain.map((s) => [s.key, s.kind, s.parent ?? null]), [[chains[0], 'committed', null], [chains[1], 'committed', chains[0]], [chains[2], 'committed', chains[1]]]);
  assert.ok(list.every((s) => /^[0-9]+$/.test(String(s.id))));
  for (const s of list) assert.is(fs.statSync(path.join(base, 'snapshots', String(s.id))).mode & 0o777, 0o700, 'host users cannot reach layer contents');

  const target = await mountView(sn, 'view1', chainId, base);
  checkMerged(treeOf(target));
  unmount(target);

  // A writable container rootfs on top: writes land in its own upper dir only.
  const rootfs = path.join(base, 'rootfs');
  fs.mkdirSync(rootfs);
  const mounts = await sn.prepare('ctr1', chainId);
  assert.is(mounts[0].type, 'overlay');
  assert.match(mounts[0].options.join(','), /lowerdir=.*:.*:/);
  mountAll(mounts, rootfs);
  mounted.push(rootfs);
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'changed');
  fs.rmSync(path.join(rootfs, 'opq/new'));
  unmount(rootfs);
  const again = path.join(base, 'rootfs2');
  fs.mkdirSync(again);
  mountAll(await sn.mounts('ctr1'), again);
  mounted.push(again);
  assert.is(fs.readFileSync(path.join(again, 'etc/passwd'), 'utf8'), 'changed');
  unmount(again);
  const fresh2 = await mountView(sn, 'view2', chainId, base);
  assert.is(fs.readFileSync(path.join(fresh2, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n', 'lower layers untouched');
  unmount(fresh2);
  const u = await sn.usage('ctr1');
  assert.ok(u.inodes >= 3 && u.size >= 7, JSON.stringify(u));

  // Unpacking the same chain again does nothing.
  const before = JSON.stringify(await sn.list());
  const statuses: string[] = [];
  await unpackLayers(sn, layers, () => { throw new Error('must not read blobs'); }, { onProgress: (p) => statuses.push(p.status) });
  assert.equal(statuses, ['exists', 'exists', 'exists']);
  assert.is(JSON.stringify(await sn.list()), before);
});

function mountOptionsOf(target: string): string {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
  if (!line) throw new Error(`${target} is not mounted`);
  return line.slice(line.indexOf(' - ') + 3);
}

test('transient mounts (a --rm container\'s): overlay with volatile, which mounts again after an unmount', async () => {
  if (!isRoot) return skip('transient mounts', 'needs root (overlay mounts)');
  const base = fresh();
  const sn = openSnapshotter(path.join(base, 'snapshots'), 'overlay');
  const { chainId } = await unpack3(sn);
  const mounts = await sn.prepare('rm-ctr', chainId);
  const transient = transientMounts(mounts);
  assert.equal(transient.map((m) => m.options.filter((o) => o === 'volatile').length), [1]);
  assert.not.ok(mounts[0].options.includes('volatile'), 'the snapshotter\'s own mounts are left as they were');
  assert.equal(transientMounts(transient), transient, 'volatile only once');
  const rootfs = path.join(base, 'rootfs');
  fs.mkdirSync(rootfs);
  mountAll(transient, rootfs);
  mounted.push(rootfs);
  // listed as volatile, or (Linux >= 6.7) as fsync=volatile
  assert.match(mountOptionsOf(rootfs), /(^|,)(fsync=)?volatile(,|$)/);
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'changed');
  unmount(rootfs);
  // overlay leaves work/incompat/volatile behind and refuses that upper dir while it is there
  const work = mounts[0].options.find((o) => o.startsWith('workdir='))!.slice('workdir='.length);
  assert.ok(fs.existsSync(path.join(work, 'work/incompat/volatile')));
  mountAll(transient, rootfs);
  mounted.push(rootfs);
  assert.is(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), 'changed');
  unmount(rootfs);
  // a bind mount (a snapshot without parents) has nothing to make volatile
  assert.equal(transientMounts([{ type: 'bind', source: '/x', options: ['rbind', 'rw'] }]), [{ type: 'bind', source: '/x', options: ['rbind', 'rw'] }]);
});

test('copy snapshotter gives the same merged tree (hardlinks and all)', async () => {
  if (!isRoot) return skip('copy', 'needs root');
  const base = fresh();
  const ov = openSnapshotter(path.join(base, 'ov'), 'overlay');
  const cp = openSnapshotter(path.join(base, 'cp'), 'copy');
  assert.is(cp.kind, 'copy');
  const a = await unpack3(ov);
  const b = await unpack3(cp);
  assert.is(a.chainId, b.chainId);
  const mo = await mountView(ov, 'v', a.chainId, base);
  const mc = await mountView(cp, 'v2', b.chainId, base);
  const to = treeOf(mo, { ino: true });
  const tc = treeOf(mc, { ino: true });
  checkMerged(tc);
  const strip = (t: typeof to) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, ino: undefined }]));
  assert.equal(strip(tc), strip(to));
  assert.equal(hardlinkGroups(tc), hardlinkGroups(to));
  for (const m of [mo, mc]) {
    try { fs.writeFileSync(path.join(m, 'etc/passwd'), 'x'); assert.unreachable('view is writable'); } catch (e) { assert.is((e as NodeJS.ErrnoException).code, 'EROFS'); }
  }
  unmount(mo);
  unmount(mc);
  // The copy store remembers its kind.
  assert.is(openSnapshotter(path.join(base, 'cp')).kind, 'copy');
  try { openSnapshotter(path.join(base, 'cp'), 'overlay'); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /holds copy snapshots/); }
});

test('diff ID mismatch: error, nothing committed, nothing left', async () => {
  if (!isRoot) return skip('diffid', 'needs root');
  const base = fresh();
  for (const kind of ['overlay', 'copy'] as const) {
    const sn = openSnapshotter(path.join(base, kind), kind);
    const good = makeLayer(L1);
    const bad = makeLayer(L2);
    const lying = { ...bad, diffId: makeLayer(L3).diffId };
    try {
      await unpackLayers(sn, [good, lying], blobs([good, bad]));
      assert.unreachable('mismatch accepted');
    } catch (e) {
      assert.match((e as Error).message, /uncompressed content has digest .* but the image config says/);
      assert.is((e as { code?: string }).code, 'DATA_LOSS');
    }
    const list = await sn.list();
    assert.equal(list.map((s) => s.kind), ['committed'], kind);
    assert.is(list[0].key, good.diffId);
    const dirsLeft = fs.readdirSync(path.join(base, kind)).filter((n) => /^[0-9]+$/.test(n));
    assert.equal(dirsLeft, [String(list[0].id)], `${kind}: failed layer's directory removed`);
  }
});

test('gc removes a stale active, unkept chains, orphan dirs; keeps kept chains and running unpacks', async () => {
  if (!isRoot) return skip('gc', 'needs root');
  const base = fresh();
  const root = path.join(base, 'snapshots');
  const sn = openSnapshotter(root, 'overlay');
  const { chainId, layers } = await unpack3(sn);
  const other = makeLayer([{ name: 'other', data: 'o' }]);
  const { chainId: otherChain } = await unpackLayers(sn, [other], blobs([other]));
  // A crashed unpack: an active snapshot labelled with a chain whose lock nobody holds.
  const stale = chainIds([makeLayer([{ name: 'x', data: 'x' }]).diffId])[0];
  await sn.prepare('unpack-crashed', undefined, { [UNPACK_LABEL]: stale });
  fs.writeFileSync(path.join(root, String((await sn.stat('unpack-crashed'))!.id), 'fs', 'partial'), 'p');
  // An unpack still running (lock held by another process).
  const running = chainIds([makeLayer([{ name: 'y', data: 'y' }]).diffId])[0];
  await sn.prepare('unpack-running', undefined, { [UNPACK_LABEL]: running });
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e', `
    import('${REPO}/lib/file-lock.ts').then(({ lockFile }) => { lockFile(${JSON.stringify(path.join(root, 'locks', running.slice(7) + '.lock'))}); process.stdout.write('locked\\n'); setTimeout(() => {}, 60000); });
  `], { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO });
  await new Promise<void>((res, rej) => { holder.stdout!.once('data', () => res()); holder.once('exit', () => rej(new Error('lock holder exited early'))); });
  try {
    await sn.prepare('orphan');
    const orphanId = (await sn.stat('orphan'))!.id;
    await sn.remove('orphan');
    fs.mkdirSync(path.join(root, String(orphanId), 'fs'), { recursive: true }); // a dir without a record
    fs.mkdirSync(path.join(root, '999999'));                  // above nextId: may be a prepare in flight
    const removed = await sn.gc(new Set([chainId, 'ctr']));
    assert.equal(removed.sort(), [otherChain, 'unpack-crashed'].sort());
    const keys = (await sn.list()).map((s) => s.key).sort();
    assert.equal(keys, [...chainIds(layers.map((l) => l.diffId)), 'unpack-running'].sort());
    assert.ok(fs.existsSync(path.join(root, '999999')));
    assert.not.ok(fs.existsSync(path.join(root, String(orphanId))), 'orphan dir removed');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
  }
  // The holder is gone: its active is now stale.
  assert.equal(await sn.gc(new Set([chainId])), ['unpack-running']);
  // Nothing kept: everything goes, directories too.
  await sn.gc(new Set());
  assert.equal(await sn.list(), []);
  fs.rmSync(path.join(root, '999999'), { recursive: true });
  await sn.gc(new Set());
  assert.equal(fs.readdirSync(root).filter((n) => /^[0-9]+$/.test(n)), [], 'orphan dirs below nextId removed');
});

test('an unpack killed with SIGKILL leaves only a labelled active snapshot, which gc removes; a retry succeeds', async () => {
  if (!isRoot) return skip('kill -9', 'needs root');
  const base = fresh();
  const root = path.join(base, 's');
  const big = makeLayer(Array.from({ length: 400 }, (_, i) => ({ name: `f${i}`, data: 'z'.repeat(10_000) })), 'gzip');
  const blobFile = path.join(base, 'blob');
  fs.writeFileSync(blobFile, big.blob);
  // The child feeds half the blob, then stalls forever: it is mid-extraction when killed.
  const script = `
    import fs from 'node:fs';
    import { Readable } from 'node:stream';
    import { openSnapshotter, unpackLayers } from '${REPO}/snapshotter/index.ts';
    const blob = fs.readFileSync(${JSON.stringify(blobFile)});
    const sn = openSnapshotter(${JSON.stringify(root)}, 'overlay');
    const stall = () => new Readable({ read() {} });
    await unpackLayers(sn, [${JSON.stringify({ digest: big.digest, diffId: big.diffId, mediaType: big.mediaType })}], () => {
      const r = stall(); r.push(blob.subarray(0, blob.length >> 1)); setTimeout(() => console.log('halfway'), 300); return r;
    });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d) => { if (String(d).includes('halfway')) res(); });
    child.once('exit', (code) => rej(new Error(`unpacking child exited early (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const sn = openSnapshotter(root);
  const left = await sn.list();
  assert.is(left.length, 1);
  assert.is(left[0].kind, 'active');
  assert.is(left[0].labels[UNPACK_LABEL], big.diffId);
  assert.ok(fs.readdirSync(path.join(root, String(left[0].id), 'fs')).length > 0, 'it was mid-extraction');
  assert.equal(await sn.gc(new Set()), [left[0].key]);
  assert.is(fs.existsSync(path.join(root, String(left[0].id))), false);
  const { chainId } = await unpackLayers(sn, [big], () => fs.createReadStream(blobFile));
  assert.is(chainId, big.diffId);
  assert.equal((await sn.list()).map((s) => [s.key, s.kind]), [[big.diffId, 'committed']]);
});

test('snapshot API errors: duplicates, missing parents, committed parents only, children block remove', async () => {
  if (!isRoot) return skip('api errors', 'needs root');
  const sn = openSnapshotter(path.join(fresh(), 's'), 'overlay');
  const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e) { return (e as { code: string }).code; } };
  await sn.prepare('a');
  assert.is(await code(sn.prepare('a')), 'ALREADY_EXISTS');
  assert.is(await code(sn.prepare('b', 'nope')), 'NOT_FOUND');
  assert.is(await code(sn.prepare('b', 'a')), 'FAILED_PRECONDITION');
  await sn.commit('A', 'a');
  assert.is(await code(sn.mounts('A')), 'FAILED_PRECONDITION');
  assert.is(await code(sn.commit('A', 'a')), 'NOT_FOUND');
  await sn.prepare('b', 'A');
  assert.is(await code(sn.remove('A')), 'FAILED_PRECONDITION');
  assert.is(await code(sn.prepare('')), 'INVALID_ARGUMENT');
  await sn.remove('b');
  await sn.remove('A');
  assert.equal(await sn.list(), []);
  assert.is(openSnapshotter(path.join(fresh(), 'auto')).kind, 'overlay', 'auto picks overlay on this kernel and filesystem');
});

test('usage counts an active snapshot\'s own files, hardlinks once', async () => {
  if (!isRoot) return skip('usage', 'needs root');
  const sn = openSnapshotter(path.join(fresh(), 's'), 'overlay');
  const l = makeLayer([{ name: 'a', data: 'x'.repeat(1000) }, { name: 'b', type: 'link', linkname: 'a' }, { name: 'd/', mode: 0o755 }, { name: 'd/c', data: 'y'.repeat(24) }]);
  const progress: { status: string; bytes?: number; total?: number }[] = [];
  const { chainId } = await unpackLayers(sn, [l], blobs([l]), { onProgress: (p) => progress.push(p) });
  const extracting = progress.filter((p) => p.status === 'extracting');
  assert.equal(extracting[extracting.length - 1], { digest: l.digest, chainId, status: 'extracting', bytes: l.size, total: l.size });
  assert.is(progress[progress.length - 1].status, 'done');
  assert.equal(await sn.usage(chainId), { size: 1024, inodes: 4 }); // fs root, a(=b), d, d/c
  await sn.view('v', chainId);
  assert.equal(await sn.usage('v'), { size: 0, inodes: 0 });
});

test('100+ layer chain still mounts (short ids; new mount API past one page)', async () => {
  if (!isRoot) return skip('long chain', 'needs root');
  const base = fresh();
  // A deliberately long root path so the classic mount(2) options would not fit in a page.
  const root = path.join(base, 'a-rather-long-directory-name-for-snapshots-to-stress-option-length');
  const sn = openSnapshotter(root, 'overlay');
  const layers = Array.from({ length: 120 }, (_, i) => makeLayer([{ name: 'layers/', mode: 0o755 }, { name: `layers/${i}`, data: String(i) }, { name: 'top', data: String(i) }], 'none'));
  const { chainId } = await unpackLayers(sn, layers, blobs(layers));
  const mounts = await sn.prepare('ctr', chainId);
  assert.ok(mounts[0].options.join(',').length > 4096, 'options exceed a page');
  const target = path.join(base, 'rootfs');
  fs.mkdirSync(target);
  mountAll(mounts, target);
  mounted.push(target);
  assert.is(fs.readdirSync(path.join(target, 'layers')).length, 120);
  assert.is(fs.readFileSync(path.join(target, 'top'), 'utf8'), '119');
  fs.writeFileSync(path.join(target, 'written'), 'w');
  unmount(target);
  const view = await mountView(sn, 'v', chainId, base);
  assert.is(fs.readFileSync(path.join(view, 'layers/0'), 'utf8'), '0');
  unmount(view);
});

test('concurrent prepare/commit in one process, and one unpack of a chain across two processes', async () => {
  if (!isRoot) return skip('concurrency', 'needs root');
  const base = fresh();
  const root = path.join(base, 's');
  const sn = openSnapshotter(root, 'overlay');
  await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    await sn.prepare(`k${i}`);
    await sn.commit(`c${i}`, `k${i}`);
  }));
  const list = await sn.list();
  assert.is(list.length, 20);
  assert.is(new Set(list.map((s) => s.id)).size, 20, 'ids unique');
  for (const s of list) await sn.remove(s.key);

  // Two processes unpack the same 3-layer image at once; each layer is extracted by only one.
  const layers = [makeLayer(L1), makeLayer(L2), makeLayer(L3)];
  const dir = path.join(base, 'blobs');
  fs.mkdirSync(dir);
  for (const l of layers) fs.writeFileSync(path.join(dir, l.digest.slice(7)), l.blob);
  const script = `
    import fs from 'node:fs';
    import { openSnapshotter, unpackLayers } from '${REPO}/snapshotter/index.ts';
    const layers = ${JSON.stringify(layers.map(({ digest, diffId, mediaType }) => ({ digest, diffId, mediaType })))};
    const sn = openSnapshotter(${JSON.stringify(root)});
    const done = [];
    const r = await unpackLayers(sn, layers, (d) => fs.createReadStream(${JSON.stringify(dir)} + '/' + d.slice(7)), { onProgress: (p) => { if (p.status === 'done') done.push(p.chainId); } });
    console.log(JSON.stringify({ chainId: r.chainId, done }));
  `;
  const runOne = () => new Promise<{ chainId: string; done: string[] }>((res, rej) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!)) : rej(new Error(err))));
  });
  const [r1, r2] = await Promise.all([runOne(), runOne()]);
  assert.is(r1.chainId, r2.chainId);
  const chains = chainIds(layers.map((l) => l.diffId));
  assert.equal([...r1.done, ...r2.done].sort(), [...chains].sort(), 'each layer extracted exactly once');
  const after = await sn.list();
  assert.equal(after.map((s) => s.kind), ['committed', 'committed', 'committed']);
  const v = await mountView(sn, 'v', r1.chainId, base);
  checkMerged(treeOf(v));
  unmount(v);
});

test.after(() => {
  for (const m of [...mounted].reverse()) { try { unmountAll(m); } catch { /* best effort */ } }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test.run();
