// kill -9 a pull in the middle of a big, slowly served blob; pull again: it resumes with Range
// from what reached the disk, and the store verifies clean. Also two processes pulling the same
// image at once download each blob once (flock per blob).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { REPO, tmpDir } from '../lib/harness.js';
import { startHostileRegistry, type HostileRegistry } from '../lib/hostile-registry.js';
import { busyboxEntries, makeImage, makeLayer, type BuiltImage } from '../lib/image-builder.js';
import { killAndWait } from '../lib/registry.js';
import { pull } from '../../image/pull.js';
import { ContentStore } from '../../image/content-store.js';

let img: BuiltImage;
let reg: HostileRegistry;
const roots: string[] = [];

function pullInChild(root: string, ref: string) {
  const code = `import { pull } from ${JSON.stringify(path.join(REPO, 'image', 'pull.ts'))}; await pull(${JSON.stringify(root)}, ${JSON.stringify(ref)}); console.log('pulled');`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
}

test.before(async () => {
  const big = await makeLayer([{ name: 'big.bin', content: crypto.randomBytes(6 * 1024 * 1024) }], 'none');
  img = makeImage({ layers: [await makeLayer(busyboxEntries(), 'gzip'), big] });
  const manifests = new Map([['v1', { bytes: img.manifest.bytes, mediaType: img.manifest.mediaType }]]);
  const blobs = new Map<string, Buffer>([[img.config.digest, img.config.bytes], ...img.layers.map((l) => [l.digest, l.bytes] as [string, Buffer])]);
  reg = await startHostileRegistry(manifests, blobs);
});
test.after(async () => {
  await reg.stop();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

test('kill -9 during a big blob, then resume with Range and verify', async () => {
  const root = tmpDir('berth-crash-');
  roots.push(root);
  const big = img.layers[1];
  reg.behaviour = { slowBytesPer10ms: 64 * 1024 };
  const child = pullInChild(root, `${reg.host}/c/big:v1`);
  const cs = new ContentStore(root);
  const deadline = Date.now() + 60_000;
  while (cs.ingestOffset(big.digest) < 1024 * 1024 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  assert.is(child.exitCode, null, 'the pull was still running');
  await killAndWait(child);
  const partial = cs.ingestOffset(big.digest);
  assert.ok(partial > 0 && partial < big.size, `partial ${partial}`);
  assert.not.ok(cs.has(big.digest));
  assert.ok(fs.existsSync(path.join(cs.ingestDir, big.digest.slice(7), 'meta')));

  reg.behaviour = {};
  reg.log.length = 0;
  await pull(root, `${reg.host}/c/big:v1`);
  const req = reg.log.find((q) => q.url.endsWith(big.digest));
  assert.ok(req?.range, 'resumed with a Range request');
  const from = Number(/bytes=(\d+)-/.exec(req!.range!)![1]);
  assert.ok(from >= partial, `resumed at ${from}, had ${partial} on disk`);
  assert.ok(cs.has(big.digest, big.size));
  assert.equal(cs.listIngests(), []);
  assert.equal(await cs.verify(), []);
});

test('two processes pulling the same image download each blob once', async () => {
  const root = tmpDir('berth-crash-');
  roots.push(root);
  reg.behaviour = { slowBytesPer10ms: 512 * 1024 };
  reg.log.length = 0;
  const a = pullInChild(root, `${reg.host}/c/big:v1`);
  const b = pullInChild(root, `${reg.host}/c/big:v1`);
  const outs = await Promise.all([a, b].map((c) => new Promise<string>((resolve) => {
    let out = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { out += d; });
    c.on('exit', () => resolve(out));
  })));
  for (const o of outs) assert.match(o, 'pulled');
  for (const l of img.layers) {
    const gets = reg.log.filter((q) => q.method === 'GET' && q.url.endsWith(l.digest));
    assert.is(gets.length, 1, `${l.digest} fetched ${gets.length} times`);
  }
  assert.equal(await new ContentStore(root).verify(), []);
  assert.equal(fs.readdirSync(new ContentStore(root).ingestDir), [], 'no ingest dirs or lock files left');
});

test.run();
