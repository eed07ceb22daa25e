// Layer apply speed: berth's applier vs GNU `tar -xzf` on the same generated gzip layer.
// Run as root: node --import tsx bench/snapshotter-apply.ts [MB] [small]   (small: ~3 KB files only)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { applyLayer } from '../snapshotter/index.js';

const mb = Number(process.argv[2] ?? 100);
const smallFiles = process.argv[3] === 'small';
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
try {
  const src = path.join(base, 'src');
  // Like a distro layer: many small files, some large ones, half-compressible content.
  let total = 0;
  let i = 0;
  const noise = randomBytes(1 << 20);
  while (total < mb << 20) {
    const dir = path.join(src, `d${i % 50}`, `s${i % 7}`);
    fs.mkdirSync(dir, { recursive: true });
    const size = smallFiles ? 200 + ((i * 7919) % 6_000) : i % 20 === 0 ? 1 << 20 : 512 + ((i * 7919) % 24_000);
    const off = (i * 4099) % (noise.length - size);
    const half = Buffer.concat([noise.subarray(off, off + size / 2), Buffer.alloc(size - Math.floor(size / 2), i % 256)]);
    fs.writeFileSync(path.join(dir, `f${i}`), half);
    if (i % 10 === 0) fs.symlinkSync(`f${i}`, path.join(dir, `l${i}`));
    total += size;
    i++;
  }
  const tgz = path.join(base, 'layer.tar.gz');
  execFileSync('tar', ['-czf', tgz, '-C', src, '.']);
  const raw = Number(execFileSync('sh', ['-c', `gzip -dc ${tgz} | wc -c`]).toString());
  const gz = fs.statSync(tgz).size;
  const drop = () => { try { fs.writeFileSync('/proc/sys/vm/drop_caches', '1'); } catch { /* not allowed: warm cache for both */ } };

  const timeIt = async (fn: () => Promise<void> | void) => { drop(); const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e9; };
  const runs: { tar: number; berth: number; tarCpu: number; berthCpu: number }[] = [];
  for (let r = 0; r < 3; r++) {
    const a = path.join(base, `tar${r}`), b = path.join(base, `berth${r}`);
    fs.mkdirSync(a); fs.mkdirSync(b);
    let tarCpu = 0;
    const tarS = await timeIt(() => {
      // bash's `times` prints the children's user and system CPU: the same measure as process.cpuUsage.
      const out = execFileSync('bash', ['-c', 'tar --same-owner -xpzf "$1" -C "$2"; times', 'x', tgz, a]).toString().trim().split('\n').pop()!;
      tarCpu = out.split(/\s+/).reduce((s, t) => { const m = t.match(/(\d+)m([\d.]+)s/); return m ? s + Number(m[1]) * 60 + Number(m[2]) : s; }, 0);
    });
    const cpu0 = process.cpuUsage();
    const berthS = await timeIt(async () => { await applyLayer(fs.createReadStream(tgz, { highWaterMark: 1 << 20 }), b, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }); });
    const c = process.cpuUsage(cpu0);
    runs.push({ tar: tarS, berth: berthS, tarCpu, berthCpu: (c.user + c.system) / 1e6 });
    // Trees stay until the end: on ext4 without a journal, inodes freed in the last minutes make every
    // inode creation slower (see bench/image-pull.ts), which would penalise whichever run comes next.
  }
  const best = (k: 'tar' | 'berth' | 'tarCpu' | 'berthCpu') => Math.min(...runs.map((r) => r[k]));
  const mbps = (s: number) => (raw / (1 << 20) / s).toFixed(0);
  console.log(`layer: ${i} files, ${(raw / (1 << 20)).toFixed(0)} MiB tar, ${(gz / (1 << 20)).toFixed(0)} MiB gzip`);
  console.log(`tar -xzf: ${best('tar').toFixed(2)} s (${mbps(best('tar'))} MiB/s uncompressed)`);
  console.log(`berth applyLayer: ${best('berth').toFixed(2)} s (${mbps(best('berth'))} MiB/s uncompressed), ratio ${(best('berth') / best('tar')).toFixed(2)}x tar`);
  console.log(`CPU (user+sys): tar ${best('tarCpu').toFixed(2)} s, berth ${best('berthCpu').toFixed(2)} s`);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
