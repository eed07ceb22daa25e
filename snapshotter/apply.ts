// Tar layer -> directory. Two modes: 'overlay' writes a layer's own diff into an empty upper dir,
// turning OCI whiteouts into overlay whiteouts; 'copy' applies onto a full copy of the parent tree,
// carrying whiteouts out by deleting. The sha256 of the uncompressed stream (the diff ID) is computed
// on the way through. No fsync per file: snapshots are rebuilt from content blobs if a crash loses them.
// The tar itself is applied by native/berth-apply (apply-native.ts) or by the Applier below, which
// does the same in JS: BERTH_APPLIER=native|js, native by default when built.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { lsetxattr, mknodat, makedev, SyscallError } from '../native/ffi.js';
import { BerthError, invalidArgument } from '../lib/errors.js';
import { TarReader, type TarEntry } from './tar-reader.js';
import { assertLayerMediaType, decompressedChunks } from './decompress.js';
import { SafeRoot, cleanEntryPath, parentOf, baseOf } from './safe-root.js';
import { parseWhiteout, OVERLAY_OPAQUE_XATTR } from './whiteout.js';
import { applierKind, applyNative } from './apply-native.js';

export type ApplyMode = 'overlay' | 'copy';

export interface ApplyOptions {
  mediaType: string;
  /** 'overlay' (default): dir is an empty upper dir. 'copy': dir holds the parent's full tree. */
  mode?: ApplyMode;
  /** Called with the number of blob bytes (compressed, as stored) consumed so far. */
  onBytes?(n: number): void;
  /**
   * The stream is the layer's tar, already decompressed by the caller (an apply worker's feed). It is
   * not sniffed: a tar may itself begin with gzip's magic bytes.
   */
  decompressed?: boolean;
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const FILE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW;

export async function applyLayer(stream: Readable, dir: string, opts: ApplyOptions): Promise<{ diffId: string; size: number }> {
  assertLayerMediaType(opts.mediaType);
  const hash = createHash('sha256');
  let size = 0;
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of opts.decompressed ? counted(stream, opts.onBytes) : decompressedChunks(stream, opts.onBytes)) {
      hash.update(c);
      size += c.length;
      yield c;
    }
  }
  try {
    if (applierKind() === 'native') await applyNative(hashed(), dir, opts.mode ?? 'overlay');
    else await applyJs(hashed(), dir, opts.mode ?? 'overlay');
  } finally {
    stream.destroy();
  }
  return { diffId: 'sha256:' + hash.digest('hex'), size };
}

async function applyJs(chunks: AsyncIterable<Buffer>, dir: string, mode: ApplyMode): Promise<void> {
  const tar = new TarReader(chunks);
  const applier = new Applier(new SafeRoot(dir), mode);
  try {
    for (let e = await tar.next(); e; e = await tar.next()) await applier.entry(e, tar);
    await tar.finish();
    applier.finish();
  } finally {
    applier.close();
  }
}

async function* counted(stream: Readable, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    onBytes?.(n);
    yield c;
  }
}

class Applier {
  private readonly created = new Set<string>();
  private readonly dirTimes: { rel: string; atime: number; mtime: number }[] = [];
  // Syscalls saved on the common path: a new object already has our owner unless a setgid
  // directory could pass its group down, and already has its mode unless umask cut bits from it.
  private readonly umask = process.umask();
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;
  private mayInheritGid: boolean;

  constructor(private readonly root: SafeRoot, private readonly mode: ApplyMode) {
    this.mayInheritGid = mode === 'copy' || (fs.statSync(root.rootPath()).mode & 0o2000) !== 0;
  }

  private ownedAlready(e: TarEntry): boolean {
    return !this.mayInheritGid && e.uid === this.euid && e.gid === this.egid;
  }

  private modeAlready(mode: number): boolean {
    return (mode & 0o7000) === 0 && (mode & this.umask) === 0;
  }

  /**
   * Create with `make`; when something is already there (a lower layer's entry in copy mode, or an
   * earlier entry of this layer), remove it and create again. Trying first saves an lstat per entry.
   */
  private create<T>(proc: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (!isEexist(err)) throw err;
    }
    const st = lstat(proc);
    if (st) this.remove(proc, st);
    return make();
  }

  async entry(e: TarEntry, tar: TarReader): Promise<void> {
    const rel = cleanEntryPath(e.name);
    if (rel === '') {
      if (e.type !== 'dir') throw invalidArgument(`layer entry ${JSON.stringify(e.name)} names the root as a ${e.type}`);
      this.meta(this.root.rootPath(), e, true, false);
      this.dirTimes.push({ rel, atime: e.atime ?? e.mtime, mtime: e.mtime });
      return;
    }
    const wh = parseWhiteout(baseOf(rel));
    if (wh) return this.whiteout(parentOf(rel), wh);

    const { parentFd, base, proc } = this.root.entryPath(rel);
    this.created.add(rel);
    switch (e.type) {
      case 'dir': {
        if (e.mode & 0o2000) this.mayInheritGid = true;
        let made = true;
        try {
          fs.mkdirSync(proc, e.mode & 0o777);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const st = lstat(proc)!;
          if (st.isDirectory()) made = false; // tar semantics: an existing dir is kept, its metadata updated
          else { this.remove(proc, st); fs.mkdirSync(proc, e.mode & 0o777); }
        }
        // Only while the parent's plain path is still cached: a removal above dropped it.
        if (made) this.root.noteMadeDir(rel);
        this.meta(proc, e, !(made && this.modeAlready(e.mode)), made && this.ownedAlready(e));
        this.dirTimes.push({ rel, atime: e.atime ?? e.mtime, mtime: e.mtime });
        return;
      }
      case 'file': {
        const fd = this.create(proc, () => fs.openSync(proc, FILE_FLAGS, e.mode & 0o777));
        try {
          await tar.readData(e, (b) => {
            for (let off = 0; off < b.length; ) off += fs.writeSync(fd, b, off, b.length - off);
          });
          // chown first: it clears setuid/setgid bits and security.capability.
          if (!this.ownedAlready(e)) fs.fchownSync(fd, e.uid, e.gid);
          if (!this.modeAlready(e.mode)) fs.fchmodSync(fd, e.mode & 0o7777);
          this.xattrs(proc, e);
          fs.futimesSync(fd, e.atime ?? e.mtime, e.mtime);
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'symlink':
        this.create(proc, () => fs.symlinkSync(e.linkname, proc));
        this.meta(proc, e, false, this.ownedAlready(e));
        fs.lutimesSync(proc, e.atime ?? e.mtime, e.mtime);
        return;
      case 'link': {
        const target = this.linkTarget(e);
        try {
          fs.linkSync(target, proc);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const st = lstat(proc)!;
          if (this.sameAsLinkTarget(st, e)) return;
          this.remove(proc, st);
          fs.linkSync(target, proc);
        }
        return;
      }
      case 'char': case 'block': case 'fifo': {
        const t = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        this.create(proc, () => mknodat(parentFd(), base, t | (e.mode & 0o777), e.type === 'fifo' ? 0 : makedev(e.devmajor, e.devminor)));
        this.meta(proc, e, true, false);
        fs.lutimesSync(proc, e.atime ?? e.mtime, e.mtime);
        return;
      }
    }
  }

  /** Owner, mode and xattrs of something just created at `proc` (not a regular file). */
  private meta(proc: string, e: TarEntry, chmod: boolean, owned: boolean): void {
    if (!owned) fs.lchownSync(proc, e.uid, e.gid);
    // Only called on dirs and device nodes we just made or checked with lstat: chmod cannot follow a link here.
    if (chmod) fs.chmodSync(proc, e.mode & 0o7777);
    this.xattrs(proc, e);
  }

  private xattrs(proc: string, e: TarEntry): void {
    for (const [name, value] of e.xattrs) {
      // A layer must not forge overlayfs' own metadata (opaque, redirect, metacopy).
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        lsetxattr(proc, name, value);
      } catch (err) {
        // SELinux labels from another host, or a filesystem without user xattrs: not fatal.
        if (err instanceof SyscallError && (err.errno === 95 || name === 'security.selinux')) continue;
        throw new BerthError('INTERNAL', `setting xattr ${name} on ${e.name}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private linkTarget(e: TarEntry): string {
    const trel = cleanEntryPath(e.linkname);
    if (trel === '') throw invalidArgument(`hardlink ${JSON.stringify(e.name)} points at the root`);
    let proc: string;
    try {
      proc = this.root.entryPath(trel, false).proc;
    } catch (err) {
      throw invalidArgument(`hardlink ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}: target is not in the layer`, err);
    }
    const st = lstat(proc);
    if (!st) throw invalidArgument(`hardlink ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}: target is not in the layer`);
    if (st.isDirectory()) throw invalidArgument(`hardlink ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}: target is a directory`);
    return proc;
  }

  private sameAsLinkTarget(existing: fs.Stats, e: TarEntry): boolean {
    try {
      const t = lstat(this.root.entryPath(cleanEntryPath(e.linkname), false).proc);
      return !!t && t.ino === existing.ino && t.dev === existing.dev;
    } catch {
      return false;
    }
  }

  private remove(proc: string, st: fs.Stats): void {
    if (st.isDirectory()) {
      fs.rmSync(proc, { recursive: true, force: true });
      this.root.dropCache();
    } else {
      fs.unlinkSync(proc);
      if (st.isSymbolicLink()) this.root.dropCache();
    }
  }

  private whiteout(dirRel: string, wh: NonNullable<ReturnType<typeof parseWhiteout>>): void {
    if (wh.kind === 'opaque') {
      const dirProc = this.root.dirPath(dirRel);
      if (this.mode === 'overlay') {
        lsetxattr(dirProc, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      } else {
        // Hide what lower layers put here, keep what this layer already wrote.
        for (const name of fs.readdirSync(dirProc)) {
          const rel = dirRel ? `${dirRel}/${name}` : name;
          if (this.created.has(rel)) continue;
          const p = `${dirProc}/${name}`;
          const st = lstat(p);
          if (st) this.remove(p, st);
        }
      }
      return;
    }
    const rel = dirRel ? `${dirRel}/${wh.name}` : wh.name;
    if (this.created.has(rel)) return; // an entry of this same layer wins over its whiteout
    const { parentFd, base, proc } = this.root.entryPath(rel);
    const st = lstat(proc);
    if (st) this.remove(proc, st);
    if (this.mode === 'overlay') {
      mknodat(parentFd(), base, S_IFCHR, makedev(0, 0));
      this.created.add(rel);
    }
  }

  /** Directory times last: creating entries inside a directory changes its mtime. */
  finish(): void {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { rel, atime, mtime } = this.dirTimes[i];
      const p = rel === '' ? this.root.rootPath() : this.root.entryPath(rel).proc;
      const st = lstat(p);
      if (st?.isDirectory()) fs.utimesSync(p, atime, mtime);
    }
  }

  close(): void {
    this.root.close();
  }
}

function isEexist(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EEXIST' || (err instanceof SyscallError && err.errno === 17);
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
