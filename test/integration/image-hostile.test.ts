// Hostile and broken registries (a Node server in test/lib/hostile-registry.ts): wrong digests,
// truncated and over-long blobs, huge manifests, 503s, redirects, ignored Range. Each failure is a
// clear error with no blob committed and no image recorded; truncated downloads resume.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { rejects } from '../lib/image.js';
import { startHostileRegistry, type HostileRegistry } from '../lib/hostile-registry.js';
import { standardImage, type BuiltImage } from '../lib/image-builder.js';
import { pull } from '../../image/pull.js';
import { ContentStore } from '../../image/content-store.js';
import { ImageStore } from '../../image/image-store.js';

let img: BuiltImage;
const LIAR = 'sha256:' + 'b'.repeat(64);
let reg: HostileRegistry;
const roots: string[] = [];
const fresh = () => { const d = tmpDir('berth-hostile-'); roots.push(d); return d; };

function reset() {
  reg.behaviour = {};
  reg.log.length = 0;
}

function assertNothingCommitted(root: string, exceptConfig = true) {
  const cs = new ContentStore(root);
  const layers = img.layers.map((l) => l.digest);
  for (const b of cs.list()) assert.not.ok(layers.includes(b.digest) && !exceptConfig, `blob ${b.digest} committed`);
  assert.is(new ImageStore(root).list().length, 0, 'no image recorded');
}

test.before(async () => {
  img = await standardImage({ marker: 'hostile' });
  const manifests = new Map([[`v1`, { bytes: img.manifest.bytes, mediaType: img.manifest.mediaType }], [img.manifest.digest, { bytes: img.manifest.bytes, mediaType: img.manifest.mediaType }]]);
  const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
  manifests.set(LIAR, { bytes: img.manifest.bytes, mediaType: img.manifest.mediaType });
  manifests.set('huge', { bytes: huge, mediaType: img.manifest.mediaType });
  manifests.set('schema1', { bytes: Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] })), mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
  const blobs = new Map<string, Buffer>([[img.config.digest, img.config.bytes], ...img.layers.map((l) => [l.digest, l.bytes] as [string, Buffer])]);
  reg = await startHostileRegistry(manifests, blobs);
});
test.after(async () => {
  await reg.stop();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

test('a blob whose bytes do not match its digest: DATA_LOSS, nothing committed, ingest removed', async () => {
  reset();
  const l = img.layers[0];
  const evil = Buffer.from(l.bytes);
  evil[evil.length - 10] ^= 0xff;
  reg.behaviour.blobBytes = new Map([[l.digest, evil]]);
  const root = fresh();
  const e = await rejects(pull(root, `${reg.host}/x/y:v1`, { concurrency: 1 }), (e) => e.code === 'DATA_LOSS');
  assert.match(e.message, `expected ${l.digest}`);
  assert.not.ok(new ContentStore(root).has(l.digest));
  assertNothingCommitted(root);
  assert.equal(new ContentStore(root).listIngests(), []);
});

test('a blob longer than its descriptor is refused while streaming', async () => {
  reset();
  const l = img.layers[1];
  reg.behaviour.blobBytes = new Map([[l.digest, Buffer.concat([l.bytes, Buffer.alloc(4096)])]]);
  const root = fresh();
  await rejects(pull(root, `${reg.host}/x/y:v1`), (e) => e.code === 'DATA_LOSS' && /longer than/.test(e.message));
  assertNothingCommitted(root);
});

test('a truncated blob is retried with Range and completes', async () => {
  reset();
  const l = img.layers[0];
  reg.behaviour.truncateAt = Math.floor(l.size / 2);
  reg.behaviour.truncateTimes = 1;
  reg.behaviour.truncateOnly = l.digest;
  const root = fresh();
  const r = await pull(root, `${reg.host}/x/y:v1`, { concurrency: 1 });
  assert.is(r.manifest.digest, img.manifest.digest);
  const ranged = reg.log.filter((q) => q.url.endsWith(l.digest) && q.range);
  assert.ok(ranged.some((q) => q.range === `bytes=${reg.behaviour.truncateAt}-`), JSON.stringify(reg.log));
  assert.equal(await new ContentStore(root).verify(), []);
});

test('a blob that is always truncated: clear error, partial data kept for resume, later pull resumes', async () => {
  reset();
  const l = img.layers[0];
  const half = Math.floor(l.size / 2);
  reg.behaviour.truncateAt = half;
  reg.behaviour.truncateOnly = l.digest;
  const root = fresh();
  await rejects(pull(root, `${reg.host}/x/y:v1`, { concurrency: 1 }), (e) => e.code === 'UNAVAILABLE' && /broke off|truncated/.test(e.message));
  const cs = new ContentStore(root);
  assert.not.ok(cs.has(l.digest));
  assert.is(cs.ingestOffset(l.digest), half);
  assert.is(new ImageStore(root).list().length, 0);
  reset();
  await pull(root, `${reg.host}/x/y:v1`);
  assert.ok(reg.log.some((q) => q.url.endsWith(l.digest) && q.range === `bytes=${half}-`));
  assert.ok(cs.has(l.digest, l.size));
  assert.equal(cs.listIngests(), []);
  assert.equal(await cs.verify(), []);
});

test('a server that ignores Range restarts the download from zero', async () => {
  reset();
  const l = img.layers[0];
  reg.behaviour.truncateAt = 1000;
  reg.behaviour.truncateOnly = l.digest;
  reg.behaviour.truncateTimes = 1;
  reg.behaviour.ignoreRange = true;
  const root = fresh();
  await pull(root, `${reg.host}/x/y:v1`, { concurrency: 1 });
  assert.ok(new ContentStore(root).has(l.digest, l.size));
});

test('a huge manifest is refused before it is read whole', async () => {
  reset();
  const root = fresh();
  await rejects(pull(root, `${reg.host}/x/y:huge`), (e) => e.code === 'INVALID_ARGUMENT' && /over the 4194304-byte limit/.test(e.message));
  assert.equal(new ContentStore(root).list(), []);
});

test('schema 1 manifests are refused clearly', async () => {
  reset();
  await rejects(pull(fresh(), `${reg.host}/x/y:schema1`), /schema 1 is deprecated/);
});

test('a manifest that does not match the digest asked for is refused', async () => {
  reset();
  const root = fresh();
  await rejects(pull(root, `${reg.host}/x/y@${LIAR}`), (e) => e.code === 'DATA_LOSS' && /when asked for sha256:b{64}/.test(e.message));
  assert.equal(new ContentStore(root).list(), []);
  await rejects(pull(root, `${reg.host}/x/y@${'sha256:' + 'c'.repeat(64)}`), (e) => e.code === 'NOT_FOUND' && /MANIFEST_UNKNOWN/.test(e.message));
});

test('503s are retried; blob redirects are followed', async () => {
  reset();
  reg.behaviour.fail503 = 2;
  reg.behaviour.redirect = true;
  const root = fresh();
  const r = await pull(root, `${reg.host}/x/y:v1`);
  assert.is(r.imageId, img.config.digest);
  assert.ok(reg.log.some((q) => q.url.startsWith('/redirected/')));
});

test('the unpacker reads a layer while it downloads, and gets exactly its bytes', async () => {
  reset();
  reg.behaviour.slowBytesPer10ms = 16 * 1024;
  const big = img.layers[0];
  const order: string[] = [];
  const seen = new Map<string, string>();
  const unpack = async (layers: { digest: string }[], open: (d: string) => NodeJS.ReadableStream) => {
    await Promise.all(layers.map(async (l) => {
      const h = crypto.createHash('sha256');
      let first = true;
      for await (const c of open(l.digest)) {
        if (first && l.digest === big.digest) { order.push('first-byte'); first = false; }
        h.update(c as Buffer);
      }
      seen.set(l.digest, `sha256:${h.digest('hex')}`);
    }));
    return 'sha256:' + 'e'.repeat(64);
  };
  const root = fresh();
  const r = await pull(root, `${reg.host}/x/y:v1`, { unpack, onEvent: (e) => { if (e.type === 'layer' && e.digest === big.digest && e.status === 'verified') order.push('verified'); } });
  assert.is(r.chainId, 'sha256:' + 'e'.repeat(64));
  assert.equal(order, ['first-byte', 'verified']);
  for (const l of img.layers) assert.is(seen.get(l.digest), l.digest);
});

test('a corrupt layer while unpacking in parallel: the download error surfaces, no hang, no record', async () => {
  if (!isRoot) { skip('unpack on corrupt download', 'needs root for the snapshotter'); return; }
  reset();
  const l = img.layers[2];
  const evil = Buffer.from(l.bytes);
  evil[5] ^= 0xff;
  reg.behaviour.blobBytes = new Map([[l.digest, evil]]);
  const root = fresh();
  const sn = await import('../../snapshotter/index.js');
  const snap = sn.openSnapshotter(path.join(root, 'snapshots'));
  const unpack = async (layers: Parameters<typeof sn.unpackLayers>[1], open: Parameters<typeof sn.unpackLayers>[2]) => (await sn.unpackLayers(snap, layers, open)).chainId;
  await rejects(pull(root, `${reg.host}/x/y:v1`, { unpack }), (e) => e.code === 'DATA_LOSS' && e.message.includes(l.digest));
  assert.is(new ImageStore(root).list().length, 0);
  reset();
  const ok = await pull(root, `${reg.host}/x/y:v1`, { unpack });
  assert.ok(ok.chainId && (await snap.stat(ok.chainId))?.kind === 'committed');
});

test.run();
