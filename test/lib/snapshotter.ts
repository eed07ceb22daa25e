// Helpers for the snapshotter tests: a tar writer that can say anything a hostile layer might
// (binary PAX xattrs, `..` names, absolute link targets), compression, and a tree fingerprint.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { compress as zstdCompress } from 'zstd-napi';
import { llistxattr, lgetxattr } from '../../native/ffi.js';

export interface LayerEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string | Buffer>;
}

const FLAG = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(buf: Buffer, off: number, len: number, v: number): void {
  buf.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function header(name: string, flag: string, size: number, e: Partial<LayerEntry>): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (flag === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 1_700_000_000);
  h.write(flag, 156, 1, 'latin1');
  h.write((e.linkname ?? '').slice(0, 100), 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function pad(b: Buffer): Buffer {
  const r = b.length % 512;
  return r ? Buffer.concat([b, Buffer.alloc(512 - r)]) : b;
}

/** An uncompressed tar (PAX where needed) of `entries`, in the order given. */
export function buildTar(entries: LayerEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'dir' : 'file');
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const recs: Buffer[] = [];
    if (Buffer.byteLength(e.name) > 99) recs.push(paxRecord('path', Buffer.from(e.name)));
    if (e.linkname && Buffer.byteLength(e.linkname) > 99) recs.push(paxRecord('linkpath', Buffer.from(e.linkname)));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) recs.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    if (recs.length) {
      const body = Buffer.concat(recs);
      out.push(header('PaxHeaders/x', 'x', body.length, {}), pad(body));
    }
    out.push(header(e.name, FLAG[type], data.length, e));
    if (data.length) out.push(pad(data));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(tar);
  if (c === 'zstd') return zstdCompress(tar);
  return tar;
}

export const MEDIA: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** A layer ready for unpackLayers: blob bytes plus its descriptor. */
export function makeLayer(entries: LayerEntry[], c: Compression = 'gzip') {
  const tar = buildTar(entries);
  const blob = compress(tar, c);
  return { blob, tar, digest: sha256(blob), diffId: sha256(tar), mediaType: MEDIA[c], size: blob.length };
}

export interface NodeInfo { type: string; mode: number; uid: number; gid: number; content?: string; link?: string; rdev?: number; xattrs: Record<string, string>; ino?: number }

/** A comparable description of every entry below `dir` (mtimes left out: overlay copy-up changes dirs). */
export function treeOf(dir: string, opts: { ino?: boolean } = {}): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const walk = (rel: string) => {
    const p = rel ? path.join(dir, rel) : dir;
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
    const xattrs: Record<string, string> = {};
    for (const n of llistxattr(p)) if (!n.startsWith('trusted.overlay.') && n !== 'security.selinux') xattrs[n] = lgetxattr(p, n).toString('hex');
    const info: NodeInfo = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs };
    if (type === 'file') info.content = fs.readFileSync(p, 'latin1');
    if (type === 'symlink') info.link = fs.readlinkSync(p);
    if (type === 'char' || type === 'block') info.rdev = st.rdev;
    if (opts.ino) info.ino = st.ino;
    if (rel) out[rel] = info;
    if (type === 'dir') for (const n of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

/** The groups of paths sharing an inode (hardlinks), as sorted lists. */
export function hardlinkGroups(tree: Record<string, NodeInfo>): string[][] {
  const by = new Map<number, string[]>();
  for (const [p, i] of Object.entries(tree)) if (i.type === 'file' && i.ino !== undefined) by.set(i.ino, [...(by.get(i.ino) ?? []), p]);
  return [...by.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort();
}
