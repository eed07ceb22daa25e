// Path resolution confined to a root directory. Every parent directory a layer names is opened with
// openat2(RESOLVE_IN_ROOT), so `..`, absolute symlinks and symlinked parents all resolve inside the
// root; the final component is then reached through /proc/self/fd/<dirfd>/<name> (or the plain path
// of a directory known to have no symlink on its way, see `plain`) and handled with
// calls that never follow it (lstat, O_NOFOLLOW, lchown, lutimes, lsetxattr, mknodat).
import fs from 'node:fs';
import path from 'node:path';
import { openat2, closeFd, RESOLVE, SyscallError, AT_FDCWD } from '../native/ffi.js';
import { BerthError, invalidArgument } from '../lib/errors.js';

const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | fs.constants.O_DIRECTORY | 0o2000000 /* O_CLOEXEC */;
const CACHE_MAX = 512;

/**
 * A layer entry name made relative to the root: '' for the root itself. `..` components are refused
 * outright (no real layer has them); absolute names are taken as rooted at the root, like tar does.
 */
export function cleanEntryPath(name: string): string {
  if (name.includes('\0')) throw invalidArgument(`layer entry name contains NUL: ${JSON.stringify(name)}`);
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw invalidArgument(`layer entry ${JSON.stringify(name)} has a ".." component: refused`);
    parts.push(p);
  }
  return parts.join('/');
}

export class SafeRoot {
  private readonly rootFd: number;
  private readonly cache = new Map<string, number>();
  // For a cached directory reached without any symlink, its plain path: creating through
  // /proc/self/fd/N/<name> costs the kernel a procfs walk per call (~1.5x an open on ext4). The plain
  // path is only used while the directory stays cached, and every removal or replacement of a
  // directory or symlink by the applier drops the cache, so the layer cannot redirect it.
  private readonly plain = new Map<number, string>();

  // Directories this applier made itself (mkdir) inside a directory with a plain path: their plain
  // path, known without opening them (an openat2 and a close through ffi cost ~40 us; a distro
  // layer has ~800 directories). Same lifetime rule as `plain`: cleared by dropCache().
  private readonly made = new Map<string, string>();

  private readonly realRoot: string;

  constructor(readonly dir: string) {
    this.rootFd = openat2(AT_FDCWD, path.resolve(dir), DIR_FLAGS, 0, 0);
    this.realRoot = fs.readlinkSync(`/proc/self/fd/${this.rootFd}`);
  }

  /** /proc path for the root directory itself. */
  rootPath(): string {
    return this.dirPath('');
  }

  /** /proc path of directory `rel` itself; the trailing "/." keeps l*() calls off the magic link. */
  dirPath(rel: string): string {
    return `/proc/self/fd/${this.dirFd(rel)}/.`;
  }

  /**
   * An O_PATH fd of directory `rel` inside the root. With `create`, missing directories are made
   * (0755, like tar), including the target of a symlink that points at a missing directory: the
   * link is resolved inside the root as openat2 would, and its target created there.
   */
  dirFd(rel: string, create = true, depth = 0): number {
    if (rel === '') return this.rootFd;
    const hit = this.cache.get(rel);
    if (hit !== undefined) return hit;
    let fd: number;
    try {
      fd = openat2(this.rootFd, rel, DIR_FLAGS, 0, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      if (e.errno === 2 /* ENOENT */ && create) {
        fd = this.makeDir(rel, depth);
      } else if (e.errno === 20 /* ENOTDIR */) {
        throw new BerthError('INVALID_ARGUMENT', `layer path ${JSON.stringify(rel)}: a parent is not a directory`, { cause: e });
      } else if (e.errno === 40 /* ELOOP */) {
        throw new BerthError('INVALID_ARGUMENT', `layer path ${JSON.stringify(rel)}: too many symlinks`, { cause: e });
      } else throw e;
    }
    if (this.cache.size >= CACHE_MAX) this.closeFds();
    this.cache.set(rel, fd);
    const real = `${this.realRoot}/${rel}`;
    if (real.length < 2048 && fs.readlinkSync(`/proc/self/fd/${fd}`) === real) this.plain.set(fd, real);
    return fd;
  }

  private makeDir(rel: string, depth: number): number {
    if (depth > 40) throw invalidArgument(`layer path ${JSON.stringify(rel)}: too many symlinks`);
    const parent = this.dirFd(parentOf(rel), true, depth);
    const p = `/proc/self/fd/${parent}/${baseOf(rel)}`;
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(p); } catch { st = undefined; }
    if (st?.isSymbolicLink()) {
      const target = fs.readlinkSync(p);
      const here = path.relative(this.realRoot, fs.readlinkSync(`/proc/self/fd/${parent}`));
      const resolved = confine(target.startsWith('/') ? target : `${here}/${target}`);
      const fd = this.dirFd(resolved, true, depth + 1);
      return openat2(AT_FDCWD, `/proc/self/fd/${fd}/.`, DIR_FLAGS, 0, 0); // own fd: the cache closes each once
    }
    if (!st) fs.mkdirSync(p, 0o755);
    return openat2(this.rootFd, rel, DIR_FLAGS, 0, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
  }

  private plainOf(rel: string): string | undefined {
    if (rel === '') return this.realRoot;
    const made = this.made.get(rel);
    if (made !== undefined) return made;
    const fd = this.cache.get(rel);
    return fd === undefined ? undefined : this.plain.get(fd);
  }

  /**
   * Directory `rel` was just made by mkdir at entryPath(rel).proc: when that path was a plain one,
   * so is the new directory's (mkdir never follows its final component).
   */
  noteMadeDir(rel: string): void {
    const parent = this.plainOf(parentOf(rel));
    if (parent !== undefined && parent.length + rel.length < 2048) this.made.set(rel, `${parent}/${baseOf(rel)}`);
  }

  /**
   * The path naming entry `rel` (its final component not followed by the calls we make on it), and
   * the parent's fd on demand (for *at() calls).
   */
  entryPath(rel: string, create = true): { parentFd: () => number; base: string; proc: string } {
    const parentRel = parentOf(rel);
    const base = baseOf(rel);
    const plainParent = this.plainOf(parentRel);
    if (plainParent !== undefined) return { parentFd: () => this.dirFd(parentRel, create), base, proc: `${plainParent}/${base}` };
    const fd = this.dirFd(parentRel, create);
    // Looked up again when asked: a removal in between may have closed `fd`.
    return { parentFd: () => this.dirFd(parentRel, create), base, proc: `${this.plain.get(fd) ?? `/proc/self/fd/${fd}`}/${base}` };
  }

  /** Directory fds and paths cached under a path that is being removed or replaced are no longer valid. */
  dropCache(): void {
    this.closeFds();
    this.made.clear();
  }

  // Every fd here comes from openat2 (ffi), so it is closed the same way: in a worker thread, Node
  // warns about (and tracks) fs.closeSync on fds that its own fs did not open.
  private closeFds(): void {
    for (const fd of this.cache.values()) closeFd(fd);
    this.cache.clear();
    this.plain.clear();
  }

  close(): void {
    this.dropCache();
    closeFd(this.rootFd);
  }
}

/** Normalise a path as if the root were "/": ".." never climbs above it. */
function confine(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out.join('/');
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
