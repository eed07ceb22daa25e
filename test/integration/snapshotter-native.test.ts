// The native layer applier (native/build/berth-apply, BERTH_APPLIER=native) against the JS one: the
// same layers must give byte-identical trees (owners, modes, xattrs, times in ns, hardlinks) and the
// same errors, word for word. The other snapshotter tests run with either applier via the variable.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { applyLayer } from '../../snapshotter/index.js';
import { isRoot, REPO, skip, tmpDir } from '../lib/harness.js';
import { buildTar, compress, MEDIA, sha256, treeOf, type LayerEntry } from '../lib/snapshotter.js';

const BIN = path.join(REPO, 'native', 'build', 'berth-apply');
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');
const dirs: string[] = [];
const saved = process.env.BERTH_APPLIER;

function fresh(): string {
  const d = tmpDir('berth-native-');
  dirs.push(d);
  fs.mkdirSync(path.join(d, 'root'));
  return path.join(d, 'root');
}

type Kind = 'js' | 'native';

async function applyWith(kind: Kind, tar: Buffer, dir: string, mode: 'overlay' | 'copy' = 'overlay') {
  process.env.BERTH_APPLIER = kind;
  try {
    return await applyLayer(Readable.from([compress(tar, 'gzip')]), dir, { mediaType: MEDIA.gzip, mode });
  } finally {
    if (saved === undefined) delete process.env.BERTH_APPLIER; else process.env.BERTH_APPLIER = saved;
  }
}

/** treeOf plus every entry's mtime in ns (the root's too) and hardlink groups. */
function fullTree(dir: string) {
  const tree = treeOf(dir, { ino: true });
  const times: Record<string, string> = {};
  const inos = new Map<number, string[]>();
  for (const rel of ['', ...Object.keys(tree)]) {
    const st = fs.lstatSync(rel ? path.join(dir, rel) : dir, { bigint: true });
    times[rel] = String(st.mtimeNs);
    if (rel) inos.set(Number(st.ino), [...(inos.get(Number(st.ino)) ?? []), rel]);
    if (rel) delete tree[rel].ino;
  }
  const links = [...inos.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' ')).sort();
  const root = fs.lstatSync(dir);
  return { tree, times, links, root: [root.mode & 0o7777, root.uid, root.gid] };
}

async function same(tar: Buffer, mode: 'overlay' | 'copy' = 'overlay', lower?: (dir: string) => void) {
  const out: ReturnType<typeof fullTree>[] = [];
  const start = BigInt(Date.now() - 1000) * 1_000_000n;
  for (const kind of ['js', 'native'] as const) {
    const dir = fresh();
    lower?.(dir);
    const r = await applyWith(kind, tar, dir, mode);
    assert.is(r.diffId, sha256(tar), kind);
    out.push(fullTree(dir));
  }
  // PAX times with a fraction: JS passes seconds as a double (the last digits lost), the native
  // applier keeps the nanoseconds: equal to within 2 us. Dirs the layer does not name get the time
  // they were made at.
  for (const [rel, t] of Object.entries(out[0].times)) {
    if (BigInt(t) >= start) continue;
    const d = BigInt(out[1].times[rel] ?? '0') - BigInt(t);
    assert.ok(d < 2000n && d > -2000n, `${rel}: mtime ${out[1].times[rel]} vs ${t}`);
  }
  assert.equal({ ...out[1], times: {} }, { ...out[0], times: {} });
  return out[0];
}

const rich: LayerEntry[] = [
  { name: './', mode: 0o751, uid: 3, gid: 4, mtime: 1_234_567_890 },
  { name: 'etc/', mode: 0o755 },
  { name: 'etc/hostname', data: 'berth\n', mtime: 1_600_000_000 },
  { name: 'home/user/', mode: 0o750, uid: 1000, gid: 1000, mtime: 1_500_000_000 },
  { name: 'home/user/notes', data: 'x'.repeat(70_000), uid: 1000, gid: 1001, mode: 0o640 },
  { name: 'bin/su', data: 'setuid', mode: 0o4755 },
  { name: 'bin/sg', data: 'setgid', mode: 0o2755, uid: 1000, gid: 50 },
  { name: 'bin/ping', data: 'cap', xattrs: { 'security.capability': CAP, 'user.bin': Buffer.from([0, 0xff, 0x80]) } },
  { name: 'bin/sh', type: 'symlink', linkname: 'su', uid: 5, gid: 6, mtime: 1_000_000_000 },
  { name: 'bin/hard', type: 'link', linkname: 'bin/su' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { name: 'dev/fifo', type: 'fifo', mode: 0o620 },
  { name: 'long/' + 'd'.repeat(150) + '/' + 'f'.repeat(200), data: 'long' },
  { name: 'long/link', type: 'symlink', linkname: '/' + 'l'.repeat(180) },
  { name: 'sticky/', mode: 0o1777 },
  { name: 'setgid-dir/', mode: 0o2775, gid: 77 },
  { name: 'setgid-dir/f', data: 'group stays 0' },
  { name: 'trusted', data: 'x', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.berth': 'kept' } },
  // replacements, redirections through symlinks, whiteouts
  { name: 'x', type: 'symlink', linkname: '/etc' },
  { name: 'x', data: 'replaced' },
  { name: 'd/', mode: 0o755 },
  { name: 'd/child', data: 'c' },
  { name: 'd', type: 'symlink', linkname: '/tmp/somewhere' },
  { name: 'd/through', data: 'inside' },
  { name: 'chain-a', type: 'symlink', linkname: 'chain-b' },
  { name: 'chain-b', type: 'symlink', linkname: '../../../../..//etc' },
  { name: 'chain-a/pwned', data: '3' },
  { name: 'h2', data: 'other' },
  { name: 'h2', type: 'link', linkname: 'etc/hostname' },
  { name: 'h2', type: 'link', linkname: 'etc/hostname' },
  { name: 'n', data: 'file first' },
  { name: 'n', type: 'fifo' },
  { name: '.wh.gone', data: '' },
  { name: 'opq/', mode: 0o700 },
  { name: 'opq/.wh..wh..opq', data: '' },
  { name: 'opq/new', data: 'n' },
  { name: 'etc/.wh.hostname', data: '' },
];

test('native and JS appliers give identical trees: entry kinds, replacements, symlinked parents, whiteouts', async () => {
  if (!isRoot) return skip('native parity', 'needs root (chown, mknod, security and trusted xattrs)');
  if (!fs.existsSync(BIN)) assert.unreachable(`${BIN} is missing: make -C native`);
  const t = await same(buildTar(rich));
  assert.is(t.tree['bin/ping'].xattrs['security.capability'], CAP.toString('hex'));
  assert.is(t.tree['gone'].type, 'char');
  assert.is(t.tree['etc/hostname'].content, 'berth\n', 'a whiteout never removes its own layer\'s entry');
  assert.ok(t.links.includes('bin/hard bin/su'));
  assert.is(t.times[''], String(1_234_567_890n * 1_000_000_000n));
  assert.equal(t.root, [0o751, 3, 4]);
});

test('native and JS appliers agree on copy mode: whiteouts delete, opaque dirs keep this layer\'s entries', async () => {
  if (!isRoot) return skip('native parity copy', 'needs root');
  const lower = (d: string) => {
    fs.mkdirSync(path.join(d, 'opq/old/deep'), { recursive: true });
    fs.writeFileSync(path.join(d, 'opq/old/deep/f'), 'old');
    fs.writeFileSync(path.join(d, 'gone'), 'old');
    fs.mkdirSync(path.join(d, 'gonedir/sub'), { recursive: true });
    fs.writeFileSync(path.join(d, 'kept'), 'old');
    fs.mkdirSync(path.join(d, 'was-dir/x'), { recursive: true });
  };
  const t = await same(buildTar([
    { name: 'opq/new', data: 'n' },
    { name: 'opq/.wh..wh..opq', data: '' },
    { name: '.wh.gone', data: '' },
    { name: '.wh.gonedir', data: '' },
    { name: 'was-dir', data: 'now a file' },
    { name: 'kept', type: 'symlink', linkname: 'opq/new' },
  ]), 'copy', lower);
  assert.equal(Object.keys(t.tree).sort(), ['kept', 'opq', 'opq/new', 'was-dir']);
});

test('native and JS appliers agree on archives from GNU tar (gnu and pax formats, xattrs, many files)', async () => {
  if (!isRoot) return skip('native parity gnu tar', 'needs root');
  const src = fresh();
  await applyWith('js', buildTar(rich.filter((e) => !e.name.startsWith('.wh') && !e.name.includes('/.wh'))), src);
  fs.cpSync('/usr/share/zoneinfo', path.join(src, 'zoneinfo'), { recursive: true, verbatimSymlinks: true });
  for (const format of ['gnu', 'pax']) {
    const tar = execFileSync('tar', [`--format=${format}`, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', '-', '-C', src, '.'], { maxBuffer: 256 << 20 });
    const t = await same(tar);
    assert.ok(Object.keys(t.tree).length > 500, format);
  }
});

// Every refusal and corruption must read the same from both appliers (callers and tests match texts).
function corrupt(): [string, Buffer][] {
  const ok = buildTar([{ name: 'f', data: 'x'.repeat(5000) }]);
  const badSum = Buffer.from(ok); badSum[10] ^= 1;
  const badMode = Buffer.from(ok); badMode.write('0009', 100, 'latin1'); fixSum(badMode);
  const neg = Buffer.from(ok); neg[124] = 0xff; fixSum(neg);
  const sparse = Buffer.from(ok); sparse[156] = 'S'.charCodeAt(0); fixSum(sparse);
  const badPax = Buffer.concat([paxHeader(Buffer.from('99 path=x\n')), ok]);
  const nulPax = Buffer.concat([paxHeader(Buffer.from('12 path=a\0b\n')), ok]);
  return [
    ['dotdot', buildTar([{ name: 'a/../../x', data: 'x' }])],
    ['hardlink to host', buildTar([{ name: 'hl', type: 'link', linkname: '/etc/passwd' }])],
    ['hardlink via symlink', buildTar([{ name: 'e', type: 'symlink', linkname: '/etc' }, { name: 'hl', type: 'link', linkname: 'e/passwd' }])],
    ['hardlink to a dir', buildTar([{ name: 'd/', mode: 0o755 }, { name: 'hl', type: 'link', linkname: 'd' }])],
    ['hardlink to root', buildTar([{ name: 'hl', type: 'link', linkname: './' }])],
    ['hardlink dotdot', buildTar([{ name: 'hl', type: 'link', linkname: '../x' }])],
    ['whiteout of ..', buildTar([{ name: 'sub/.wh..', data: '' }])],
    ['whiteout of a whiteout', buildTar([{ name: '.wh..wh.x', data: '' }])],
    ['root as a file', buildTar([{ name: './', type: 'symlink', linkname: 'x' }])],
    ['parent is a file', buildTar([{ name: 'f', data: 'x' }, { name: 'f/g', data: 'y' }])],
    ['bad checksum', badSum],
    ['bad mode digits', badMode],
    ['negative size', neg],
    ['unsupported type', sparse],
    ['bad PAX record', badPax],
    ['NUL in a PAX path', nulPax],
    ['truncated header', ok.subarray(0, 700)],
    ['truncated data', ok.subarray(0, 2048)],
  ];
}

function fixSum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let s = 0;
  for (let i = 0; i < 512; i++) s += h[i];
  h.write(s.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}

function paxHeader(body: Buffer): Buffer {
  const h = buildTar([{ name: 'PaxHeaders/x', data: body }]).subarray(0, 512);
  const hh = Buffer.from(h);
  hh[156] = 'x'.charCodeAt(0);
  fixSum(hh);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([hh, body, pad]);
}

test('native and JS appliers refuse hostile and corrupt layers with the same code and message', async () => {
  if (!isRoot) return skip('native parity errors', 'needs root');
  for (const [what, tar] of corrupt()) {
    const got: string[] = [];
    for (const kind of ['js', 'native'] as const) {
      try {
        await applyWith(kind, tar, fresh());
        got.push('accepted');
      } catch (e) {
        got.push(`${(e as { code?: string }).code} ${(e as Error).message}`);
      }
    }
    assert.is.not(got[0], 'accepted', what);
    assert.is(got[1], got[0], what);
  }
  const outside = fs.readdirSync('/etc').length;
  assert.ok(outside > 0);
});

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test.run();
