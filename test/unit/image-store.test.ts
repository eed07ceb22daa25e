// Local stores without a registry: load an OCI layout, tag, look up by name / ID prefix, remove,
// GC (blobs, ingests, the snapshot callback), container config, chain IDs, pull progress output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { tmpDir } from '../lib/harness.js';
import { rejects } from '../lib/image.js';
import { makeIndex, standardImage, tarDir, writeLayout, type BuiltImage } from '../lib/image-builder.js';
import { loadArchive } from '../../image/archive-load.js';
import { ImageService } from '../../image/images.js';
import { gc } from '../../image/gc.js';
import { chainIds } from '../../image/chain-id.js';
import { ContentStore } from '../../image/content-store.js';
import { progressPrinter } from '../../cli/commands/pull-progress.js';

const dirs: string[] = [];
const mk = (p: string) => { const d = tmpDir(p); dirs.push(d); return d; };
let img: BuiltImage;
let other: BuiltImage;
let archive: string;
let otherArchive: string;

test.before(async () => {
  img = await standardImage({ marker: 'one' });
  other = await standardImage({ marker: 'two' });
  const l1 = mk('berth-layout-');
  writeLayout(l1, img.manifest, [img], 'v1');
  archive = tarDir(l1, path.join(mk('berth-arch-'), 'a.tar'));
  const l2 = mk('berth-layout-');
  const idx = makeIndex([other, await standardImage({ marker: 'two-arm', architecture: 'arm64' })]);
  writeLayout(l2, idx, [other], 'v2'); // arm64 child deliberately absent: only the host's is needed
  otherArchive = tarDir(l2, path.join(mk('berth-arch-'), 'b.tar'));
});
test.after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

test('load names, tag, lookup by ID prefix, inspect, remove', async () => {
  const root = mk('berth-store-');
  const loaded = await loadArchive(root, archive, { name: 'example.com/team/app' });
  assert.equal(loaded.map((l) => l.name), ['example.com/team/app:v1']);
  const svc = new ImageService(root);
  assert.is(svc.tag('example.com/team/app:v1', 'app:latest'), 'docker.io/library/app:latest');
  const byId = svc.inspect(img.config.digest.slice(7, 19));
  assert.is(byId.id, img.config.digest);
  assert.equal(byId.names.sort(), ['docker.io/library/app:latest', 'example.com/team/app:v1']);
  assert.equal(byId.layers.map((l) => l.chainId), chainIds(img.layers.map((l) => l.diffId)));
  assert.is(byId.topChainId, byId.layers[2].chainId);
  // what a create resolves: the same image, named by the one name asked for
  const forCreate = svc.resolve('app');
  assert.is(forCreate.id, byId.id);
  assert.equal(forCreate.names, ['docker.io/library/app:latest']);
  assert.equal(forCreate.layers, byId.layers);
  assert.is(forCreate.topChainId, byId.topChainId);
  assert.throws(() => svc.resolve('nosuch'), /not known locally/);
  const cc = svc.containerConfig('app');
  assert.equal(cc.env, ['PATH=/bin', 'MARKER=one']);
  assert.is(cc.stopSignal, 'SIGQUIT');
  assert.equal(cc.exposedPorts, ['80/tcp']);
  assert.is(svc.list().length, 1);
  assert.throws(() => svc.tag('app', `x@${img.manifest.digest}`), /cannot tag with a digest/);
  assert.throws(() => svc.inspect('nosuch'), /not known locally/);
  assert.throws(() => svc.remove(img.config.digest.slice(7, 19)), /referenced by 2 names/);
  assert.equal(svc.remove('app'), ['docker.io/library/app:latest']);
  assert.equal(svc.remove(img.config.digest.slice(7, 19)), ['example.com/team/app:v1']);
  assert.is(svc.list().length, 0);
  // an OCI archive that carries only a tag and no name given
  assert.equal((await loadArchive(root, archive)).map((l) => l.name), ['localhost/imported:v1']);
});

test('an index with only the host platform present loads; GC keeps what images reference', async () => {
  const root = mk('berth-store-');
  await loadArchive(root, archive, { name: 'a/one' });
  const [two] = await loadArchive(root, otherArchive, { name: 'a/two', platform: { os: 'linux', architecture: 'amd64' } });
  assert.is(two.manifest.digest, other.manifest.digest);
  const cs = new ContentStore(root);
  const before = cs.list().length;
  // stray blob and an abandoned ingest
  const stray = await cs.writeBytes(Buffer.from('stray'));
  fs.mkdirSync(path.join(cs.ingestDir, 'f'.repeat(64)), { recursive: true });
  fs.writeFileSync(path.join(cs.ingestDir, `${'d'.repeat(64)}.lock`), ''); // left by a failed download
  let seen: Set<string> | undefined;
  let r = await gc(root, { allIngests: true, snapshots: (keep) => { seen = keep; } });
  assert.equal(r.removedBlobs, [stray.digest]);
  assert.equal(r.removedIngests, ['f'.repeat(64)]);
  assert.is(cs.list().length, before);
  assert.equal(fs.readdirSync(cs.ingestDir), []);
  assert.ok(seen!.has(chainIds(img.layers.map((l) => l.diffId))[2]));
  new ImageService(root).remove('a/one:v1');
  r = await gc(root);
  // the shared busybox base layer stays: a/two uses it too
  assert.ok(cs.has(img.layers[0].digest));
  assert.not.ok(cs.has(img.layers[1].digest));
  assert.ok(r.removedBlobs.includes(img.manifest.digest));
  assert.equal(await cs.verify(), []);
});

test('a broken archive is refused without a record', async () => {
  const root = mk('berth-store-');
  const layout = mk('berth-layout-');
  writeLayout(layout, img.manifest, [img]);
  const victim = path.join(layout, 'blobs', 'sha256', img.layers[1].digest.slice(7));
  fs.appendFileSync(victim, 'x');
  await rejects(loadArchive(root, tarDir(layout, path.join(mk('berth-arch-'), 'bad.tar')), { name: 'a/bad' }), (e) => e.code === 'DATA_LOSS');
  assert.is(new ImageService(root).list().length, 0);
  fs.rmSync(victim);
  await rejects(loadArchive(root, tarDir(layout, path.join(mk('berth-arch-'), 'missing.tar')), { name: 'a/bad' }), (e) => e.code === 'NOT_FOUND' && /missing from the archive/.test(e.message));
  await rejects(loadArchive(root, '/nonexistent.tar'), (e) => e.code === 'NOT_FOUND');
});

test('pull progress: plain lines off a terminal, bars on one, nothing when quiet', () => {
  const capture = () => { let s = ''; const w = new Writable({ write(c, _e, cb) { s += c; cb(); } }); return { w: w as unknown as NodeJS.WriteStream, get: () => s }; };
  const D = 'sha256:' + 'a'.repeat(64) as `sha256:${string}`;
  const events = [
    { type: 'layer', digest: D, status: 'waiting', done: 0, total: 2000 },
    { type: 'layer', digest: D, status: 'downloading', done: 1000, total: 2000 },
    { type: 'layer', digest: D, status: 'downloading', done: 2000, total: 2000 },
    { type: 'layer', digest: D, status: 'verified', done: 2000, total: 2000 },
  ] as const;
  const plain = capture();
  const p = progressPrinter({ tty: false, out: plain.w });
  events.forEach((e) => p.onEvent(e));
  assert.is(plain.get(), 'aaaaaaaaaaaa: Waiting (2.00kB)\naaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Download complete\n');
  const tty = capture();
  const t = progressPrinter({ tty: true, out: tty.w });
  events.slice(0, 2).forEach((e) => t.onEvent(e));
  t.finish();
  assert.match(tty.get(), /\x1b\[2Kaaaaaaaaaaaa: \[=+>\s+\] 1.00kB\/2.00kB/);
  const quiet = capture();
  const q = progressPrinter({ quiet: true, out: quiet.w });
  events.forEach((e) => q.onEvent(e));
  assert.is(quiet.get(), '');
});

test.run();
