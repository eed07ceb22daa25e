// Unpack of a 5-layer gzip image into the overlay snapshotter: layers in parallel vs one at a time.
// Run as root: node --import tsx bench/snapshotter-unpack.ts [MB per layer]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { openSnapshotter, unpackLayers } from '../snapshotter/index.js';

const mb = Number(process.argv[2] ?? 20);
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
try {
  const noise = randomBytes(1 << 20);
  const layers = [];
  for (let l = 0; l < 5; l++) {
    const src = path.join(base, `src${l}`);
    let total = 0;
    for (let i = 0; total < mb << 20; i++) {
      const dir = path.join(src, `l${l}`, `d${i % 30}`);
      fs.mkdirSync(dir, { recursive: true });
      const size = i % 25 === 0 ? 1 << 19 : 1000 + ((i * 7919) % 20_000);
      const off = (i * 4099) % (noise.length - size);
      fs.writeFileSync(path.join(dir, `f${i}`), Buffer.concat([noise.subarray(off, off + (size >> 1)), Buffer.alloc(size - (size >> 1), i)]));
      total += size;
    }
    const tar = execFileSync('tar', ['-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 30 });
    const blob = zlib.gzipSync(tar, { level: 6 });
    const file = path.join(base, `blob${l}`);
    fs.writeFileSync(file, blob);
    layers.push({ digest: sha(blob), diffId: sha(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: blob.length, file, raw: tar.length });
  }
  const files = new Map(layers.map((l) => [l.digest, l.file]));
  const raw = layers.reduce((s, l) => s + l.raw, 0);
  const gz = layers.reduce((s, l) => s + l.size, 0);
  console.log(`5 layers: ${(raw / (1 << 20)).toFixed(0)} MiB tar, ${(gz / (1 << 20)).toFixed(0)} MiB gzip`);
  for (const parallel of (process.env.PAR ?? "1,4,1,4").split(",").map(Number)) {
    const root = path.join(base, `snap-${parallel}-${Date.now()}`);
    const sn = openSnapshotter(root, 'overlay');
    const t = process.hrtime.bigint();
    await unpackLayers(sn, layers, (d) => fs.createReadStream(files.get(d)!, { highWaterMark: 1 << 20 }), { parallel });
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    console.log(`parallel=${parallel}: ${s.toFixed(2)} s (${(raw / (1 << 20) / s).toFixed(0)} MiB/s uncompressed)`);
    fs.rmSync(root, { recursive: true, force: true });
  }
  const ex = path.join(base, 'tar-x');
  fs.mkdirSync(ex);
  const t = process.hrtime.bigint();
  for (const l of layers) execFileSync('tar', ['-xzpf', l.file, '-C', ex]);
  console.log(`tar -xzf of the 5 layers one after another: ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(2)} s`);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
