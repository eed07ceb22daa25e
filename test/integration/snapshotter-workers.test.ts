// Layers applied in worker threads (snapshotter/apply-worker.ts, bundled like dist/apply-worker.cjs)
// give the same trees, chain IDs and errors as the main-thread apply; without a bundle unpack says
// it fell back to the main thread.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { build } from 'esbuild';
import { applyLayer, openSnapshotter, unpackLayers, type Snapshotter } from '../../snapshotter/index.js';
import { ApplyPool } from '../../snapshotter/apply-pool.js';
import { rejects } from '../lib/image.js';
import { isRoot, skip, tmpDir, REPO } from '../lib/harness.js';
import { makeLayer, treeOf, hardlinkGroups, type LayerEntry } from '../lib/snapshotter.js';

const dirs: string[] = [];
function fresh(): string {
  const d = tmpDir('berth-snw-');
  dirs.push(d);
  return d;
}

// Built fresh from the sources under test (a dist/ bundle could be stale). It lives below the repo's
// node_modules so its external native addons (ffi-rs, zstd-napi) resolve as they do from dist/.
const bundleDir = path.join(REPO, 'node_modules', '.cache', `berth-apply-worker-test-${process.pid}`);
const WORKER = path.join(bundleDir, 'apply-worker.cjs');
await build({
  absWorkingDir: REPO,
  entryPoints: { 'apply-worker': 'snapshotter/apply-worker.ts' },
  outdir: bundleDir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['ffi-rs', 'zstd-napi', '@yuuang/*'],
  define: { 'import.meta.url': '__berthImportMetaUrl' },
  banner: { js: "const __berthImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

type Layer = ReturnType<typeof makeLayer>;
/** Blobs served in 64 KiB chunks, so large layers exercise the pause/resume window to the workers. */
function blobs(layers: Layer[], override: Record<string, () => Readable> = {}) {
  const by = new Map(layers.map((l) => [l.digest, l.blob]));
  return (d: string) => {
    if (override[d]) return override[d]();
    const b = by.get(d)!;
    return Readable.from((function* () { for (let o = 0; o < b.length; o += 65536) yield b.subarray(o, o + 65536); })());
  };
}

const big = randomBytes(3 << 20);
const LAYERS: LayerEntry[][] = [
  [
    { name: 'bin/', type: 'dir', mode: 0o755 },
    { name: 'bin/tool', data: 'tool v1', mode: 0o4755 },
    { name: 'bin/tool-hl', type: 'link', linkname: 'bin/tool' },
    { name: 'etc/', type: 'dir', mode: 0o755 },
    { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'gone', data: 'to be whited out' },
    { name: 'opq/', type: 'dir', mode: 0o755 },
    { name: 'opq/old', data: 'old' },
    { name: 'dev/', type: 'dir' },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
  ],
  [
    { name: 'data/', type: 'dir', mode: 0o750, uid: 7, gid: 8 },
    { name: 'data/big.bin', data: big, mode: 0o640, uid: 1000, gid: 1000 },
    { name: 'data/x', data: 'xattr carrier', xattrs: { 'user.k': 'v', 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') } },
  ],
  [
    { name: '.wh.gone', data: '' },
    { name: 'opq/', type: 'dir', mode: 0o700, uid: 5 },
    { name: 'opq/.wh..wh..opq', data: '' },
    { name: 'opq/new', data: 'new' },
    { name: 'bin/', type: 'dir', mode: 0o755 },
    { name: 'bin/tool', data: 'tool v2', mode: 0o755 },
    { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
  ],
  [
    { name: 'many/', type: 'dir' },
    ...Array.from({ length: 400 }, (_, i): LayerEntry => ({ name: `many/f${i}`, data: `file ${i}\n`.repeat(i % 7 + 1), mode: 0o600 + (i % 8) })),
  ],
];

function layersOf(compressions: ('gzip' | 'zstd' | 'none')[]): Layer[] {
  return LAYERS.map((e, i) => makeLayer(e, compressions[i % compressions.length]));
}

async function snapshotTrees(sn: Snapshotter, chain: string) {
  const store = sn as unknown as { fsDir(key: string): string };
  const out = [];
  for (let k: string | undefined = chain; k; k = (await sn.stat(k))?.parent) {
    const t = treeOf(store.fsDir(k), { ino: true });
    out.push({ groups: hardlinkGroups(t), tree: Object.fromEntries(Object.entries(t).map(([p, i]) => [p, { ...i, ino: undefined }])) });
  }
  return out;
}

test('workers and the main thread give identical snapshots and chain IDs', async () => {
  if (!isRoot) return skip('workers identical', 'needs root (owners, device nodes, overlay)');
  const base = fresh();
  const layers = layersOf(['gzip', 'zstd', 'none']);
  const descs = layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId, size: l.size }));
  const a = openSnapshotter(path.join(base, 'workers'), 'overlay');
  const b = openSnapshotter(path.join(base, 'main'), 'overlay');
  const progress: number[] = [];
  const ra = await unpackLayers(a, descs, blobs(layers), { workerScript: WORKER, onProgress: (p) => { if (p.digest === layers[1].digest && p.bytes) progress.push(p.bytes); } });
  const rb = await unpackLayers(b, descs, blobs(layers), { workerScript: false });
  assert.is(ra.applied, 'workers');
  assert.is(rb.applied, 'main-thread');
  assert.is(ra.chainId, rb.chainId);
  assert.ok(progress.length >= 2, 'progress reported from the worker while applying');
  assert.is(progress[progress.length - 1], layers[1].size, 'final progress is the whole blob');
  const ta = await snapshotTrees(a, ra.chainId);
  const tb = await snapshotTrees(b, rb.chainId);
  assert.is(ta.length, 4);
  assert.equal(ta, tb);
  // Spot checks that the comparison saw real content, not two empty trees.
  const top2 = ta[1].tree; // layer 3 (index 2), walking down from the top
  assert.is(top2['bin/tool'].content, 'tool v2');
  assert.is(top2['gone'].type, 'char');
  assert.equal(ta[3].groups, [['bin/tool', 'bin/tool-hl']]);
  assert.is(ta[2].tree['data/big.bin'].content, big.toString('latin1'));
  assert.equal([ta[2].tree['data/big.bin'].uid, ta[2].tree['data/big.bin'].mode], [1000, 0o640]);
});

test('workers: a lying diff ID is DATA_LOSS, hostile paths are refused, nothing is left behind', async () => {
  if (!isRoot) return skip('workers errors', 'needs root');
  const base = fresh();
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  const sn = openSnapshotter(path.join(base, 'sn'), 'overlay');
  const good = makeLayer([{ name: 'ok', data: 'ok' }]);
  const other = makeLayer([{ name: 'other', data: 'other' }]);
  const lying = { ...good, diffId: other.diffId, digest: other.digest };
  const hostile = makeLayer([{ name: 'to-outside', type: 'symlink', linkname: outside }, { name: 'to-outside/pwned', data: 'x' }, { name: '../escape', data: 'x' }]);
  const d = (l: Layer) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId });
  try {
    await unpackLayers(sn, [d(good), d(lying)], blobs([good], { [other.digest]: () => Readable.from([good.blob]) }), { workerScript: WORKER });
    assert.unreachable('mismatch accepted');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'DATA_LOSS', String(e));
    assert.match((e as Error).message, /uncompressed content has digest .* but the image config says/);
  }
  try {
    await unpackLayers(sn, [d(good), d(hostile)], blobs([good, hostile]), { workerScript: WORKER });
    assert.unreachable('hostile layer accepted');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'INVALID_ARGUMENT', String(e));
    assert.match((e as Error).message, /"\.\." component/);
  }
  assert.equal(fs.readdirSync(outside), [], 'nothing written outside the snapshot');
  const list = await sn.list();
  assert.equal(list.map((s) => s.kind), ['committed']);
});

test('workers: a failing blob source fails the unpack with the source error', async () => {
  if (!isRoot) return skip('workers source error', 'needs root');
  const sn = openSnapshotter(path.join(fresh(), 'sn'), 'overlay');
  const layers = layersOf(['gzip']);
  const broken = layers[1];
  const src = () => Readable.from((async function* () {
    yield broken.blob.subarray(0, 100_000);
    throw new Error('connection reset by registry');
  })());
  const descs = layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId }));
  try {
    await unpackLayers(sn, descs, blobs(layers, { [broken.digest]: src }), { workerScript: WORKER });
    assert.unreachable('truncated blob accepted');
  } catch (e) {
    assert.match((e as Error).message, /connection reset by registry/);
  }
  assert.ok((await sn.list()).every((s) => s.kind === 'committed'), 'no active snapshot left');
  // The store is still usable: the same image unpacks afterwards.
  const r = await unpackLayers(sn, descs, blobs(layers), { workerScript: WORKER });
  assert.is(r.applied, 'workers');
});

test('a single layer in a worker (BERTH_APPLY_WORKERS=1 or an explicit bundle) gives the main thread\'s tree', async () => {
  if (!isRoot) return skip('single layer in a worker', 'needs root (owners, device nodes, overlay)');
  const base = fresh();
  const layer = makeLayer([...LAYERS[0], ...LAYERS[1], ...LAYERS[3]], 'gzip');
  const descs = [{ digest: layer.digest, mediaType: layer.mediaType, diffId: layer.diffId, size: layer.size }];
  const a = openSnapshotter(path.join(base, 'workers'), 'overlay');
  const b = openSnapshotter(path.join(base, 'main'), 'overlay');
  const ra = await unpackLayers(a, descs, blobs([layer]), { workerScript: WORKER });
  const rb = await unpackLayers(b, descs, blobs([layer]), { workerScript: false });
  assert.is(ra.applied, 'workers');
  assert.is(rb.applied, 'main-thread');
  assert.is(ra.chainId, rb.chainId);
  const ta = await snapshotTrees(a, ra.chainId);
  assert.equal(ta, await snapshotTrees(b, rb.chainId));
  assert.is(ta.length, 1);
  assert.is(ta[0].tree['data/big.bin'].content?.length, big.length, 'the comparison saw file content');
  assert.ok(Object.keys(ta[0].tree).length > 400, 'the comparison saw the whole layer');
});

test('pool: chunks wait for a dir still being made; a dir that never comes fails only its job', async () => {
  if (!isRoot) return skip('pool dir promise', 'needs root');
  const base = fresh();
  const layer = makeLayer(LAYERS[3], 'gzip');
  const plain = path.join(base, 'plain');
  fs.mkdirSync(plain);
  await applyLayer(Readable.from([layer.blob]), plain, { mediaType: layer.mediaType });
  const pool = new ApplyPool(WORKER, 1);
  try {
    const late = path.join(base, 'late');
    const dir = new Promise<string>((r) => setTimeout(() => { fs.mkdirSync(late); r(late); }, 300));
    const got = await pool.apply(blobs([layer])(layer.digest), dir, { mediaType: layer.mediaType, mode: 'overlay' });
    assert.is(got.diffId, layer.diffId);
    assert.equal(treeOf(late), treeOf(plain));
    await rejects(pool.apply(blobs([layer])(layer.digest), Promise.reject(new Error('prepare failed')), { mediaType: layer.mediaType, mode: 'overlay' }), /prepare failed/);
    const next = path.join(base, 'next');
    fs.mkdirSync(next);
    assert.is((await pool.apply(blobs([layer])(layer.digest), next, { mediaType: layer.mediaType, mode: 'overlay' })).diffId, layer.diffId);
    assert.equal(treeOf(next), treeOf(plain));
  } finally {
    await pool.close();
  }
});

test('pool: bytes still in flight to a job the worker failed never reach the next job', async () => {
  if (!isRoot) return skip('pool stale chunks', 'needs root');
  const base = fresh();
  // Fails at its first entry, with megabytes of tar behind it already on their way to the worker.
  const hostile = makeLayer([{ name: '../escape', data: 'x' }, { name: 'filler', data: randomBytes(6 << 20) }], 'gzip');
  const good = makeLayer(LAYERS[3], 'gzip');
  const pool = new ApplyPool(WORKER, 1);
  try {
    for (let round = 0; round < 3; round++) {
      const a = path.join(base, `hostile-${round}`);
      const b = path.join(base, `good-${round}`);
      fs.mkdirSync(a);
      fs.mkdirSync(b);
      await rejects(pool.apply(blobs([hostile])(hostile.digest), a, { mediaType: hostile.mediaType, mode: 'overlay' }), /"\.\." component/);
      const got = await pool.apply(blobs([good])(good.digest), b, { mediaType: good.mediaType, mode: 'overlay' });
      assert.is(got.diffId, good.diffId, `round ${round}: the next job saw only its own bytes`);
    }
  } finally {
    await pool.close();
  }
});

test('workers by default only with cores to spare, for several layers or one big layer', async () => {
  if (!isRoot) return skip('worker defaults', 'needs root');
  const [small, big9, other] = [makeLayer(LAYERS[0], 'gzip'), makeLayer(LAYERS[3], 'gzip'), makeLayer(LAYERS[1], 'gzip')];
  const d = (l: Layer, size = l.size) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId, size });
  // From sources no bundle is found: the note tells that workers were wanted.
  const wanted = async (layers: ReturnType<typeof d>[], cores: number) =>
    /worker bundle not found/.test((await unpackLayers(openSnapshotter(path.join(fresh(), 'sn'), 'overlay'), layers, blobs([small, big9, other]), { cores })).note ?? '');
  assert.is(await wanted([d(small)], 8), false, 'small single layer');
  assert.is(await wanted([d(big9, 9 << 20)], 8), true, 'big single layer, 8 cores');
  assert.is(await wanted([d(small), d(other)], 8), true, 'two layers, 8 cores');
  assert.is(await wanted([d(big9, 9 << 20)], 2), false, 'big single layer, 2 cores');
  assert.is(await wanted([d(small), d(other)], 2), false, 'two layers, 2 cores');
});

test('without a worker bundle (running from sources) unpack says it applied on the main thread', async () => {
  if (!isRoot) return skip('fallback', 'needs root');
  const sn = openSnapshotter(path.join(fresh(), 'sn'), 'overlay');
  const layers = layersOf(['gzip']).slice(2);
  const r = await unpackLayers(sn, layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId })), blobs(layers), { cores: 4 });
  assert.is(r.applied, 'main-thread');
  assert.match(r.note ?? '', /worker bundle not found/);
});

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

test.run();
