// Pure parts of the snapshotter: tar parsing, digests and chain IDs, whiteout names, entry paths,
// compression detection (no root, no mounts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TarReader, parsePax, type TarEntry } from '../../snapshotter/tar-reader.js';
import { chainIds, assertDigest } from '../../snapshotter/digest.js';
import { parseWhiteout } from '../../snapshotter/whiteout.js';
import { cleanEntryPath } from '../../snapshotter/safe-root.js';
import { decompressedChunks, sniffCompression, fzstdStream } from '../../snapshotter/decompress.js';
import { buildTar, compress } from '../lib/snapshotter.js';
import { tmpDir } from '../lib/harness.js';

async function readAll(tar: Buffer, chunk = 700): Promise<(TarEntry & { data?: string })[]> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const r = new TarReader(Readable.from(parts));
  const out: (TarEntry & { data?: string })[] = [];
  for (let e = await r.next(); e; e = await r.next()) {
    if (e.type === 'file') {
      const bufs: Buffer[] = [];
      await r.readData(e, (b) => bufs.push(Buffer.from(b)));
      out.push({ ...e, data: Buffer.concat(bufs).toString() });
    } else out.push(e);
  }
  await r.finish();
  return out;
}

test('tar reader: entries, PAX long names, binary xattrs, split chunks', async () => {
  const cap = Buffer.from('0100000200040000000000000000000000000000', 'hex');
  const long = 'x/'.repeat(80) + 'file';
  const tar = buildTar([
    { name: 'dir/', mode: 0o750, uid: 1000, gid: 1001, mtime: 1234567890 },
    { name: 'dir/f', data: 'hello', mode: 0o4755, xattrs: { 'security.capability': cap } },
    { name: long, data: 'y'.repeat(1500) },
    { name: 'l', type: 'symlink', linkname: '/' + 'z'.repeat(150) },
    { name: 'h', type: 'link', linkname: 'dir/f' },
    { name: 'c', type: 'char', devmajor: 4, devminor: 64 },
    { name: 'p', type: 'fifo' },
  ]);
  for (const chunk of [1, 511, 700, 1 << 20]) {
    const es = await readAll(tar, chunk);
    assert.equal(es.map((e) => [e.name, e.type]), [['dir/', 'dir'], ['dir/f', 'file'], [long, 'file'], ['l', 'symlink'], ['h', 'link'], ['c', 'char'], ['p', 'fifo']], `chunk ${chunk}`);
    assert.equal([es[0].mode, es[0].uid, es[0].gid, es[0].mtime], [0o750, 1000, 1001, 1234567890]);
    assert.is(es[1].data, 'hello');
    assert.is(es[1].mode, 0o4755);
    assert.ok(es[1].xattrs.get('security.capability')!.equals(cap), 'binary xattr value intact');
    assert.is(es[2].data, 'y'.repeat(1500));
    assert.is(es[3].linkname, '/' + 'z'.repeat(150));
    assert.is(es[4].linkname, 'dir/f');
    assert.equal([es[5].devmajor, es[5].devminor], [4, 64]);
  }
});

/** A one-entry tar whose header field at `off` (`len` bytes) is replaced by `raw`, checksum redone. */
function withField(off: number, len: number, raw: string): Buffer {
  const tar = Buffer.from(buildTar([{ name: 'f', data: 'abc', mode: 0o644 }]));
  Buffer.alloc(len).copy(tar, off);
  Buffer.from(raw, 'latin1').copy(tar, off);
  tar.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i];
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return tar;
}

test('tar reader: octal fields padded with spaces or NULs, and bad digits refused', async () => {
  assert.is((await readAll(withField(100, 8, ' 644 \0')))[0].mode, 0o644);
  assert.is((await readAll(withField(100, 8, '0000755\0')))[0].mode, 0o755);
  assert.is((await readAll(withField(108, 8, '\0\0\0\0\0\0\0\0')))[0].uid, 0);
  assert.is((await readAll(withField(136, 12, '77777777777 ')))[0].mtime, 0o77777777777);
  for (const bad of ['0006 44\0', '0000648\0', '-000644\0']) {
    try {
      await readAll(withField(100, 8, bad));
      assert.unreachable(`mode ${JSON.stringify(bad)} accepted`);
    } catch (e) {
      assert.match((e as Error).message, /bad mode field/);
    }
  }
});

test('tar reader: GNU long names and base-256 numbers from GNU tar', async () => {
  const d = tmpDir('berth-tar-unit-');
  try {
    const name = 'n'.repeat(120);
    fs.mkdirSync(path.join(d, 'src'));
    fs.writeFileSync(path.join(d, 'src', name), 'gnu');
    fs.symlinkSync('t'.repeat(130), path.join(d, 'src', 'sym'));
    const tar = execFileSync('tar', ['--format=gnu', '--owner=0', '--group=0', '--owner=3000000:3000000', '-cf', '-', '-C', path.join(d, 'src'), '.']);
    const es = await readAll(tar);
    const f = es.find((e) => e.name.endsWith(name))!;
    assert.is(f.data, 'gnu');
    assert.is(f.uid, 3000000);
    assert.is(es.find((e) => e.name.endsWith('sym'))!.linkname, 't'.repeat(130));
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('tar reader: refuses bad checksums, truncation and unsupported types', async () => {
  const tar = buildTar([{ name: 'f', data: 'abc' }]);
  const bad = Buffer.from(tar); bad[0] ^= 0x20;
  await assert.not.throws(() => readAll(tar));
  try { await readAll(bad); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /checksum/); }
  try { await readAll(tar.subarray(0, 600)); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /truncated/); }
  const sparse = Buffer.from(buildTar([{ name: 's', data: '' }]));
  sparse.write('S', 156, 'latin1');
  sparse.fill(0x20, 148, 156);
  let sum = 0; for (let i = 0; i < 512; i++) sum += sparse[i];
  sparse.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  try { await readAll(sparse); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /not supported/); }
  try { parsePax(Buffer.from('99 path=x\n')); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /PAX/); }
});

test('chain IDs follow the image spec; digests are validated', () => {
  const a = 'sha256:' + 'a'.repeat(64), b = 'sha256:' + 'b'.repeat(64), c = 'sha256:' + 'c'.repeat(64);
  const ab = 'sha256:' + createHash('sha256').update(`${a} ${b}`).digest('hex');
  const abc = 'sha256:' + createHash('sha256').update(`${ab} ${c}`).digest('hex');
  assert.equal(chainIds([a, b, c]), [a, ab, abc]);
  assert.equal(chainIds([]), []);
  for (const bad of ['sha256:' + 'A'.repeat(64), 'sha256:../../etc', 'sha512:' + 'a'.repeat(64), 'sha256:' + 'a'.repeat(63)]) {
    assert.throws(() => assertDigest(bad), /not a sha256/);
    assert.throws(() => chainIds([a, bad]), /not a sha256/);
  }
});

test('whiteout names and entry paths', () => {
  assert.equal(parseWhiteout('.wh..wh..opq'), { kind: 'opaque' });
  assert.equal(parseWhiteout('.wh.foo'), { kind: 'remove', name: 'foo' });
  assert.is(parseWhiteout('foo.wh.bar'), undefined);
  for (const bad of ['.wh.', '.wh..', '.wh...', '.wh..wh.x']) assert.throws(() => parseWhiteout(bad), /whiteout/);
  assert.is(cleanEntryPath('./a//b/./c/'), 'a/b/c');
  assert.is(cleanEntryPath('/abs/x'), 'abs/x');
  assert.is(cleanEntryPath('./'), '');
  for (const bad of ['..', '../x', 'a/../../b', 'a/..']) assert.throws(() => cleanEntryPath(bad), /"\.\." component/);
  assert.throws(() => cleanEntryPath('a\0b'), /NUL/);
});

test('compression is recognised by its magic bytes, and each decompresses', async () => {
  const tar = buildTar([{ name: 'f', data: 'z'.repeat(100_000) }]);
  assert.is(sniffCompression(compress(tar, 'gzip')), 'gzip');
  assert.is(sniffCompression(compress(tar, 'zstd')), 'zstd');
  assert.is(sniffCompression(tar), 'none');
  for (const c of ['gzip', 'zstd', 'none'] as const) {
    const blob = compress(tar, c);
    const parts: Buffer[] = [];
    for (let i = 0; i < blob.length; i += 3) parts.push(blob.subarray(i, i + 3)); // first chunk shorter than any magic
    const out: Buffer[] = [];
    for await (const b of decompressedChunks(Readable.from(parts))) out.push(b);
    assert.ok(Buffer.concat(out).equals(tar), c);
  }
  // The pure-JS fallback used when zstd-napi's native build is missing.
  const fz = fzstdStream();
  const got: Buffer[] = [];
  fz.on('data', (b: Buffer) => got.push(b));
  const ended = new Promise((r) => fz.on('end', r));
  const z = compress(tar, 'zstd');
  fz.write(z.subarray(0, 10));
  fz.end(z.subarray(10));
  await ended;
  assert.ok(Buffer.concat(got).equals(tar), 'fzstd fallback');
  try {
    for await (const _ of decompressedChunks(Readable.from([Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5])]))) { /* drain */ }
    assert.unreachable();
  } catch (e) { assert.match((e as Error).message, /not valid gzip/); }
});

test.run();
