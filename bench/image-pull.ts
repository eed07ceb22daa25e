// Pull + unpack from a local docker-registry: berth vs containerd's `ctr pull` (Debian containerd,
// private root, state and socket), fresh stores for every run, medians printed as ratios with MB/s.
// Images: a debootstrapped Debian bookworm (minbase, one gzip layer, ~46 MB) built once into
// /var/cache/berth-bench (run `debootstrap --variant=minbase bookworm /var/cache/berth-bench/debian-rootfs`
// first; without it a host-files stand-in of the same size is used and the line says so), and a
// ~100 MB (uncompressed) 5-layer image generated from host files (their content follows what is
// installed). berth is also timed with layer apply workers forced on (BERTH_APPLY_WORKERS=1) and off
// (=0): its default picks one by the number of cores (snapshotter/unpack.ts).
// Run as root: node scripts/build.mjs && node --import tsx bench/image-pull.ts [runs]
// The filesystem under os.tmpdir() decides much of the result: on ext4 without a journal (this VM's
// root), every inode created skips the group's inodes freed in the last 60-360 s, so any recent
// `rm -rf` of a tree (other tests, other benches) adds seconds of kernel time to whichever unpacker
// runs next. For numbers that compare unpackers, point TMPDIR at a fresh journaled ext4, e.g.
//   truncate -s 6G /var/tmp/b.img && mkfs.ext4 -q /var/tmp/b.img && mount -o loop /var/tmp/b.img /mnt/b
//   TMPDIR=/mnt/b node --import tsx bench/image-pull.ts 5
// Every store is kept until the end (see `leftovers`): about 1.2 GB of disk per run.
// BENCH_APPLIERS=1 times the JS layer applier (default) against the native one (BERTH_APPLIER=native)
// and containerd only, removing each store right after its run so 5 runs fit a 6 GB loop mount (only
// on a journaled ext4: see above).
import { execFileSync, execSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, killAndWait } from '../test/lib/registry.js';
import { busyboxEntries, makeImage, makeLayer, tarDir, writeLayout, type Blob, type Entry } from '../test/lib/image-builder.js';

const runs = Number(process.argv[2] ?? 3);
const appliers = process.env.BENCH_APPLIERS === '1';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BERTH = path.join(REPO, 'bin', 'berth');
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

function hostFiles(dirs: string[], maxBytes: number): Entry[] {
  const out: Entry[] = [];
  let total = 0;
  const walk = (d: string) => {
    let names: string[];
    try { names = fs.readdirSync(d).sort(); } catch { return; }
    for (const n of names) {
      if (total >= maxBytes) return;
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) { out.push({ name: p.slice(1) + '/', type: 'directory' }); walk(p); }
      else if (st.isSymbolicLink()) out.push({ name: p.slice(1), type: 'symlink', linkname: fs.readlinkSync(p) });
      else if (st.isFile() && st.size < 32 << 20) { out.push({ name: p.slice(1), content: fs.readFileSync(p), mode: st.mode & 0o7777 }); total += st.size; }
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

const CACHE = '/var/cache/berth-bench';

/** The debootstrapped rootfs as one gzip layer, cached next to it (built once, ~10 s). */
function debianLayer(): (Blob & { diffId: string }) | undefined {
  const rootfs = path.join(CACHE, 'debian-rootfs');
  if (!fs.existsSync(path.join(rootfs, 'etc', 'debian_version'))) return undefined;
  const tgz = path.join(CACHE, 'debian-layer.tar.gz');
  const idFile = `${tgz}.diffid`;
  if (!fs.existsSync(idFile)) {
    // What `docker build` of debian:bookworm ships: no .deb cache, no apt lists.
    const diff = execSync(
      `set -o pipefail; tar --numeric-owner --sort=name --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' -C ${rootfs} -cf - . ` +
      `| tee >(gzip -6 > ${tgz}.tmp) | sha256sum`, { shell: '/bin/bash', encoding: 'utf8' }).split(' ')[0];
    fs.renameSync(`${tgz}.tmp`, tgz);
    fs.writeFileSync(idFile, `sha256:${diff}\n`);
  }
  const bytes = fs.readFileSync(tgz);
  const digest = 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex');
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: bytes.length, bytes, diffId: fs.readFileSync(idFile, 'utf8').trim() };
}

async function images() {
  let deb = debianLayer();
  const debName = deb ? 'debian-bookworm' : 'debian-like (host files; no debootstrap rootfs in /var/cache/berth-bench)';
  deb ??= await makeLayer([...busyboxEntries(), ...hostFiles(['/usr/lib/x86_64-linux-gnu', '/usr/share', '/usr/bin'], 130 << 20)], 'gzip');
  const five = [await makeLayer(busyboxEntries(), 'gzip')];
  for (const d of ['/usr/lib/python3', '/usr/include', '/usr/share/doc', '/usr/sbin']) five.push(await makeLayer(hostFiles([d], 25 << 20), 'gzip'));
  return [{ name: 'debian', label: debName, img: makeImage({ layers: [deb] }) }, { name: '5-layer', label: '5-layer', img: makeImage({ layers: five }) }];
}

function haveContainerd(): boolean {
  return spawnSync('containerd', ['--version']).status === 0 && spawnSync('ctr', ['--version']).status === 0;
}

async function startContainerd(dir: string): Promise<{ sock: string; child: ChildProcess }> {
  const sock = path.join(dir, 'containerd.sock');
  const cfg = path.join(dir, 'config.toml');
  fs.writeFileSync(cfg, [
    'version = 2',
    `root = "${path.join(dir, 'root')}"`,
    `state = "${path.join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]', `  address = "${sock}"`,
  ].join('\n') + '\n');
  const child = spawn('containerd', ['--config', cfg], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (spawnSync('ctr', ['--address', sock, 'version'], { stdio: 'ignore' }).status === 0) return { sock, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  await killAndWait(child);
  throw new Error('containerd did not start');
}

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  // Every run starts with nothing dirty: else the previous run's ~300 MB of unwritten files are
  // written back (through the loop device's thread) during this one, and the numbers measured who
  // ran after whom (the same berth pull right after containerd: 1812 ms, right after berth: 1367 ms).
  spawnSync('sync');
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function unmountBelow(dir: string) {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(dir + '/'));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-pull-'));
// Stores are deleted only at the end, not between runs: on ext4 without a journal, creating an inode
// skips every inode of its group freed in the last 60-360 s (recently_deleted(), one buffer lookup
// each), so a run right after deleting an 8000-file tree spent 2-5 s of kernel time in inode
// allocation (perf: find_get_block_common under __ext4_new_inode), for berth, tar and containerd
// alike: the numbers measured the order of the runs, not the unpackers.
const leftovers: string[] = [];
const reg = await startRegistry();
try {
  const withCtr = haveContainerd();
  if (!withCtr) console.log('containerd/ctr not installed: berth numbers only (apt-get install containerd)');
  for (const { name, label, img } of await images()) {
    const gz = img.layers.reduce((a, l) => a + l.size, 0);
    const layout = path.join(work, `${name}-layout`);
    writeLayout(layout, img.manifest, [img]);
    const src = path.join(work, `src-root-${name}`);
    execFileSync(BERTH, ['--root', src, 'load', '-i', tarDir(layout, `${layout}.tar`), '--name', `localhost/bench/${name}`]);
    const ref = `${reg.host}/bench/${name}:1`;
    execFileSync(BERTH, ['--root', src, 'push', '-q', `localhost/bench/${name}:latest`, ref]);
    const berth: number[] = [];
    const mainThread: number[] = [];
    const workers: number[] = [];
    const fetchOnly: number[] = [];
    const ctr: number[] = [];
    const native: number[] = [];
    const pull = (i: number, extra: string[], env?: NodeJS.ProcessEnv) => {
      const root = path.join(work, `berth-${leftovers.length}`);
      try { return time(BERTH, ['--root', root, '--state', path.join(root, 'state'), 'pull', '-q', ...extra, ref], env); }
      finally { if (appliers) fs.rmSync(root, { recursive: true, force: true }); else leftovers.push(root); }
    };
    for (let i = 0; i < runs; i++) {
      berth.push(pull(i, [], { ...process.env, BERTH_APPLIER: 'js' }));
      if (appliers) {
        native.push(pull(i, [], { ...process.env, BERTH_APPLIER: 'native' }));
      } else {
        mainThread.push(pull(i, [], { ...process.env, BERTH_APPLY_WORKERS: '0' }));
        workers.push(pull(i, [], { ...process.env, BERTH_APPLY_WORKERS: '1' }));
        fetchOnly.push(pull(i, ['--no-unpack']));
      }
      if (withCtr) {
        const dir = path.join(work, `ctr-${name}-${i}`);
        fs.mkdirSync(dir);
        const c = await startContainerd(dir);
        try {
          ctr.push(time('ctr', ['--address', c.sock, '-n', 'bench', 'images', 'pull', '--plain-http', ref]));
        } finally {
          await killAndWait(c.child);
          unmountBelow(dir);
          if (appliers) fs.rmSync(dir, { recursive: true, force: true }); else leftovers.push(dir);
        }
      }
    }
    const b = median(berth);
    const mbs = (ms: number) => (gz / 1e6 / (ms / 1000)).toFixed(1);
    const all = (xs: number[]) => xs.map((x) => x.toFixed(0)).join('/');
    let line = `${label}: ${(gz / 1e6).toFixed(1)} MB compressed, ${img.layers.length} layer(s), median of ${runs}: berth ${b.toFixed(0)} ms (${mbs(b)} MB/s; runs ${all(berth)}`;
    if (appliers) {
      const n = median(native);
      line += `), berth native applier ${n.toFixed(0)} ms (runs ${all(native)}), native/js ${(n / b).toFixed(2)}x`;
      if (ctr.length) line += `, native/containerd ${(n / median(ctr)).toFixed(2)}x`;
    } else {
      line += `; fetch alone ${median(fetchOnly).toFixed(0)} ms), berth with apply workers ${median(workers).toFixed(0)} ms, without ${median(mainThread).toFixed(0)} ms`;
    }
    if (ctr.length) { const c = median(ctr); line += `, containerd ${c.toFixed(0)} ms (${mbs(c)} MB/s; runs ${all(ctr)}), berth/containerd ${(b / c).toFixed(2)}x`; }
    console.log(line);
    leftovers.push(src);
  }
} finally {
  await reg.stop();
  for (const d of leftovers) unmountBelow(d);
  fs.rmSync(work, { recursive: true, force: true });
}
