// The layer applier on a real filesystem: every entry kind, metadata, compressions, and hostile layers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { pack } from 'tar-stream';
import { applyLayer } from '../../snapshotter/index.js';
import { lgetxattr, llistxattr } from '../../native/ffi.js';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { buildTar, compress, MEDIA, sha256, treeOf, type LayerEntry, type Compression } from '../lib/snapshotter.js';

const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex'); // v2, cap_net_bind_service
const dirs: string[] = [];
function fresh(): { root: string; outside: string } {
  const base = tmpDir('berth-apply-');
  dirs.push(base);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'target'), 'original');
  return { root, outside };
}

async function apply(entries: LayerEntry[], dir: string, c: Compression = 'none', mode: 'overlay' | 'copy' = 'overlay') {
  const tar = buildTar(entries);
  const r = await applyLayer(Readable.from([compress(tar, c)]), dir, { mediaType: MEDIA[c], mode });
  return { ...r, tar };
}

function assertOutsideUntouched(outside: string): void {
  assert.equal(fs.readdirSync(outside).sort(), ['target']);
  assert.is(fs.readFileSync(path.join(outside, 'target'), 'utf8'), 'original');
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
}

const kinds: LayerEntry[] = [
  { name: './', mode: 0o755 },
  { name: 'etc/', mode: 0o755 },
  { name: 'etc/hostname', data: 'berth\n', mtime: 1_600_000_000 },
  { name: 'home/', mode: 0o755 },
  { name: 'home/user/', mode: 0o750, uid: 1000, gid: 1000, mtime: 1_500_000_000 },
  { name: 'home/user/notes', data: 'x'.repeat(70_000), uid: 1000, gid: 1001, mode: 0o640 },
  { name: 'bin/', mode: 0o755 },
  { name: 'bin/su', data: 'setuid program', mode: 0o4755, uid: 0, gid: 0 },
  { name: 'bin/sg', data: 'setgid program', mode: 0o2755, uid: 1000, gid: 50 },
  { name: 'bin/ping', data: 'cap program', mode: 0o755, xattrs: { 'security.capability': CAP, 'user.note': Buffer.from([0, 1, 0xff, 0x80]) } },
  { name: 'bin/sh-link', type: 'symlink', linkname: 'su' },
  { name: 'bin/abs-link', type: 'symlink', linkname: '/etc/hostname', uid: 1000, gid: 1000 },
  { name: 'bin/hard', type: 'link', linkname: 'bin/su' },
  { name: 'dev/', mode: 0o755 },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { name: 'dev/fifo', type: 'fifo', mode: 0o620 },
  { name: 'implicit/parents/file', data: 'no dir entries above me' },
  { name: 'long/' + 'd'.repeat(150) + '/' + 'f'.repeat(200), data: 'long name' },
  { name: 'long/link', type: 'symlink', linkname: '/' + 'l'.repeat(180) },
  { name: 'sticky/', mode: 0o1777 },
  { name: 'open/', mode: 0o777 },
  { name: 'open/all', data: 'rwx for all', mode: 0o777 },
  { name: 'setgid-dir/', mode: 0o2775, gid: 77 },
  { name: 'setgid-dir/root-owned', data: 'group must stay 0' },
  { name: 'trusted', data: 'x', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.berth': 'kept' } },
];

test('every entry kind with owners, modes, times and xattrs', async () => {
  if (!isRoot) return skip('entry kinds', 'needs root (chown, mknod, security xattrs)');
  const { root } = fresh();
  const r = await apply(kinds, root);
  assert.is(r.diffId, sha256(r.tar));
  assert.is(r.size, r.tar.length);
  const t = treeOf(root);
  assert.is(t['etc/hostname'].content, 'berth\n');
  assert.is(fs.lstatSync(path.join(root, 'etc/hostname')).mtimeMs, 1_600_000_000_000);
  assert.is(fs.lstatSync(path.join(root, 'home/user')).mtimeMs, 1_500_000_000_000, 'dir mtime set after its contents');
  assert.equal([t['home/user'].mode, t['home/user'].uid, t['home/user'].gid], [0o750, 1000, 1000]);
  assert.equal([t['home/user/notes'].content?.length, t['home/user/notes'].uid, t['home/user/notes'].gid, t['home/user/notes'].mode], [70_000, 1000, 1001, 0o640]);
  assert.is(t['bin/su'].mode, 0o4755);
  assert.equal([t['bin/sg'].mode, t['bin/sg'].uid, t['bin/sg'].gid], [0o2755, 1000, 50], 'setgid survives chown');
  assert.is(lgetxattr(path.join(root, 'bin/ping'), 'security.capability').toString('hex'), CAP.toString('hex'));
  assert.equal([...lgetxattr(path.join(root, 'bin/ping'), 'user.note')], [0, 1, 0xff, 0x80], 'binary xattr bytes kept');
  assert.is(t['bin/sh-link'].link, 'su');
  assert.is(t['bin/abs-link'].link, '/etc/hostname');
  assert.equal([fs.lstatSync(path.join(root, 'bin/abs-link')).uid], [1000]);
  assert.is(fs.statSync(path.join(root, 'bin/hard')).ino, fs.statSync(path.join(root, 'bin/su')).ino);
  assert.equal([t['dev/null'].type, t['dev/null'].rdev, t['dev/null'].mode], ['char', 259, 0o666]);
  assert.equal([t['dev/loop9'].type, t['dev/loop9'].rdev, t['dev/loop9'].gid], ['block', 7 * 256 + 9, 6]);
  assert.equal([t['dev/fifo'].type, t['dev/fifo'].mode], ['fifo', 0o620]);
  assert.is(t['implicit/parents/file'].content, 'no dir entries above me');
  assert.is(t['implicit/parents'].mode, 0o755);
  assert.is(t['long/' + 'd'.repeat(150) + '/' + 'f'.repeat(200)].content, 'long name');
  assert.is(t['long/link'].link, '/' + 'l'.repeat(180));
  assert.is(t['sticky'].mode, 0o1777);
  assert.equal([t['open'].mode, t['open/all'].mode], [0o777, 0o777], 'modes the umask would cut are restored');
  assert.equal([t['setgid-dir'].mode, t['setgid-dir'].gid, t['setgid-dir/root-owned'].gid], [0o2775, 77, 0], 'no group inherited from a setgid dir');
  assert.equal(llistxattr(path.join(root, 'trusted')), ['trusted.berth'], 'a layer cannot set trusted.overlay.*');
});

test('gzip, zstd and plain give the same tree and the uncompressed digest', async () => {
  if (!isRoot) return skip('compressions', 'needs root');
  const trees: unknown[] = [];
  for (const c of ['gzip', 'zstd', 'none'] as const) {
    const { root } = fresh();
    const r = await apply(kinds, root, c);
    assert.is(r.diffId, sha256(r.tar), c);
    trees.push(treeOf(root));
  }
  assert.equal(trees[0], trees[1]);
  assert.equal(trees[0], trees[2]);
});

test('archives written by GNU tar (gnu and pax formats) and by tar-stream', async () => {
  if (!isRoot) return skip('foreign archives', 'needs root');
  const { root: src } = fresh();
  await apply(kinds.filter((e) => !e.xattrs), src);
  for (const format of ['gnu', 'pax']) {
    const { root } = fresh();
    const tgz = execFileSync('tar', [`--format=${format}`, '--xattrs', '--xattrs-include=*', '-czf', '-', '-C', src, '.'], { maxBuffer: 64 << 20 });
    const r = await applyLayer(Readable.from([tgz]), root, { mediaType: MEDIA.gzip });
    assert.is(r.diffId, sha256(Buffer.from(execFileSync('gzip', ['-dc'], { input: tgz, maxBuffer: 64 << 20 }))));
    assert.equal(treeOf(root), treeOf(src), format);
  }
  const p = pack();
  p.entry({ name: 'dir', type: 'directory', mode: 0o700, uid: 7, gid: 8 });
  p.entry({ name: 'dir/' + 'n'.repeat(120), mode: 0o600 }, 'via tar-stream');
  p.entry({ name: 'dir/sym', type: 'symlink', linkname: 'n' });
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  const { root } = fresh();
  const r = await applyLayer(Readable.from([zlibGzip(Buffer.concat(chunks))]), root, { mediaType: MEDIA.gzip });
  assert.is(r.diffId, sha256(Buffer.concat(chunks)));
  assert.is(fs.readFileSync(path.join(root, 'dir', 'n'.repeat(120)), 'utf8'), 'via tar-stream');
  assert.equal([fs.statSync(path.join(root, 'dir')).uid, fs.statSync(path.join(root, 'dir')).mode & 0o7777], [7, 0o700]);
});

function zlibGzip(b: Buffer): Buffer {
  return compress(b, 'gzip');
}

test('a later entry replaces an earlier one of another type, never writing through a symlink', async () => {
  if (!isRoot) return skip('replace', 'needs root');
  const { root, outside } = fresh();
  await apply([
    { name: 'x', type: 'symlink', linkname: path.join(outside, 'target') },
    { name: 'x', data: 'replaced' },
    { name: 'd/', mode: 0o755 },
    { name: 'd/child', data: 'c' },
    { name: 'd', type: 'symlink', linkname: outside },
    { name: 'd/through', data: 'inside' },
    { name: 'n', data: 'file first' },
    { name: 'n', type: 'fifo' },
    { name: 'h', data: 'file' },
    { name: 'h2', data: 'other' },
    { name: 'h2', type: 'link', linkname: 'h' },
    { name: 'h2', type: 'link', linkname: 'h' },
  ], root);
  assert.is(fs.lstatSync(path.join(root, 'n')).isFIFO(), true);
  assert.is(fs.statSync(path.join(root, 'h2')).ino, fs.statSync(path.join(root, 'h')).ino);
  assert.is(fs.lstatSync(path.join(root, 'x')).isFile(), true);
  assert.is(fs.readFileSync(path.join(root, 'x'), 'utf8'), 'replaced');
  assert.is(fs.readFileSync(path.join(root, outside, 'through'), 'utf8'), 'inside');
  assertOutsideUntouched(outside);
});

test('hostile: ".." components are refused', async () => {
  if (!isRoot) return skip('dotdot', 'needs root');
  const { root, outside } = fresh();
  await rejects(apply([{ name: '../outside/pwned', data: 'x' }], root), /"\.\." component/);
  await rejects(apply([{ name: 'a/../../outside/pwned', data: 'x' }], root), /"\.\." component/);
  await rejects(apply([{ name: 'hl', type: 'link', linkname: '../outside/target' }], root), /"\.\." component/);
  assertOutsideUntouched(outside);
});

test('hostile: absolute names, absolute and chained symlinks, symlinked parents stay inside the root', async () => {
  if (!isRoot) return skip('symlinks', 'needs root');
  const { root, outside } = fresh();
  await apply([
    { name: '/abs-file', data: 'abs' },
    { name: 'to-outside', type: 'symlink', linkname: outside },
    { name: 'to-outside/pwned1', data: '1' },
    { name: 'to-root', type: 'symlink', linkname: '/' },
    { name: `to-root${outside}/pwned2`, data: '2' },
    { name: 'chain-a', type: 'symlink', linkname: 'chain-b' },
    { name: 'chain-b', type: 'symlink', linkname: '../../../../../../..' + outside },
    { name: 'chain-a/pwned3', data: '3' },
    { name: 'parent', type: 'symlink', linkname: path.dirname(outside) },
    { name: 'parent/outside/pwned4', data: '4' },
  ], root);
  assert.is(fs.readFileSync(path.join(root, 'abs-file'), 'utf8'), 'abs');
  for (const [n, v] of [['pwned1', '1'], ['pwned2', '2'], ['pwned3', '3'], ['pwned4', '4']]) {
    assert.is(fs.readFileSync(path.join(root, outside, n), 'utf8'), v, n);
  }
  assertOutsideUntouched(outside);
});

test('hostile: hardlinks to host files are refused', async () => {
  if (!isRoot) return skip('hardlinks', 'needs root');
  const { root, outside } = fresh();
  const nlink = fs.statSync('/etc/passwd').nlink;
  await rejects(apply([{ name: 'hl', type: 'link', linkname: '/etc/passwd' }], root), /not in the layer/);
  await rejects(apply([{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: 'hl', type: 'link', linkname: 'etc/passwd' }], fresh().root), /not in the layer/);
  await rejects(apply([{ name: 'o', type: 'symlink', linkname: outside }, { name: 'hl', type: 'link', linkname: 'o/target' }], fresh().root), /not in the layer/);
  assert.is(fs.statSync('/etc/passwd').nlink, nlink);
  assert.is(fs.statSync(path.join(outside, 'target')).nlink, 1);
  assert.is(fs.existsSync(path.join(root, 'etc')), false, 'looking up a link target creates nothing');
  assertOutsideUntouched(outside);
});

test('hostile: whiteouts naming "..", "." or nothing are refused', async () => {
  if (!isRoot) return skip('whiteouts', 'needs root');
  const { root, outside } = fresh();
  for (const name of ['.wh...', 'sub/.wh..', '.wh.']) {
    await rejects(apply([{ name, data: '' }], root), /whiteout/);
  }
  await apply([{ name: 'o', type: 'symlink', linkname: outside }, { name: 'o/.wh.target', data: '' }], root, 'none', 'copy');
  assertOutsideUntouched(outside);
});

test('whiteouts: overlay form in overlay mode, deletions in copy mode', async () => {
  if (!isRoot) return skip('whiteout forms', 'needs root');
  const { root } = fresh();
  await apply([{ name: '.wh.gone', data: '' }, { name: 'opq/', mode: 0o755 }, { name: 'opq/.wh..wh..opq', data: '' }, { name: 'opq/new', data: 'n' }], root);
  const st = fs.lstatSync(path.join(root, 'gone'));
  assert.equal([st.isCharacterDevice(), st.rdev], [true, 0]);
  assert.is(lgetxattr(path.join(root, 'opq'), 'trusted.overlay.opaque').toString(), 'y');

  const { root: c } = fresh();
  fs.mkdirSync(path.join(c, 'opq/old'), { recursive: true });
  fs.writeFileSync(path.join(c, 'opq/old/f'), 'old');
  fs.writeFileSync(path.join(c, 'gone'), 'old');
  fs.writeFileSync(path.join(c, 'kept'), 'old');
  await apply([{ name: 'opq/new', data: 'n' }, { name: 'opq/.wh..wh..opq', data: '' }, { name: '.wh.gone', data: '' }], c, 'gzip', 'copy');
  assert.equal(fs.readdirSync(c).sort(), ['kept', 'opq']);
  assert.equal(fs.readdirSync(path.join(c, 'opq')), ['new'], 'opaque keeps this layer\'s entries, drops the lower ones');
});

test('corrupt input: bad checksum, truncated data, garbage compression', async () => {
  if (!isRoot) return skip('corrupt', 'needs root');
  const tar = buildTar([{ name: 'f', data: 'x'.repeat(5000) }]);
  const bad = Buffer.from(tar);
  bad[10] ^= 1;
  await rejects(applyLayer(Readable.from([bad]), fresh().root, { mediaType: MEDIA.none }), /checksum/);
  await rejects(applyLayer(Readable.from([tar.subarray(0, 2048)]), fresh().root, { mediaType: MEDIA.none }), /truncated/);
  const gz = compress(tar, 'gzip');
  await rejects(applyLayer(Readable.from([gz.subarray(0, gz.length - 20)]), fresh().root, { mediaType: MEDIA.gzip }), /gzip|truncated|end/);
  await rejects(applyLayer(Readable.from([tar]), fresh().root, { mediaType: 'application/json' }), /not a layer/);
});

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test.run();
