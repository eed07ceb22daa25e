// Persistent network namespaces owned by berth: /run/berth/netns/<id>, an nsfs bind mount that keeps
// the namespace alive with no process in it. Node must never change its own namespaces (DESIGN.md),
// so util-linux `unshare --net=<file>` creates the namespace in a child and bind-mounts it.
// Like `ip netns`, the directory is made a shared mount point, so an unmount here propagates to the
// copies that mount namespaces cloned later hold and the namespace is really freed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { alreadyExists, internal, invalidArgument } from '../../lib/errors.js';
import { withLock } from '../../lib/file-lock.js';
import { mountPoints } from '../../lib/mountinfo.js';
import { mount, umount2, MS, MNT_DETACH, SyscallError } from '../../native/ffi.js';
import { runTool } from './run-tool.js';

export const DEFAULT_NETNS_DIR = '/run/berth/netns';
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkNetnsId(id: string): void {
  if (!ID.test(id)) throw invalidArgument(`network namespace name "${id}" must match ${ID.source}`);
}

/** True when `file` is a mount point (an nsfs bind mount sits on a different device than its dir). */
function isMounted(file: string): boolean {
  try {
    return fs.statSync(file).dev !== fs.statSync(path.dirname(file)).dev;
  } catch {
    return false;
  }
}

/**
 * True when `file` is a network namespace now (an nsfs bind mount, or /proc/PID/ns/net), not the
 * empty file a reboot or a lost mount leaves behind: every nsfs inode sits on the one nsfs device.
 */
export function isNamespaceFile(file: string): boolean {
  try {
    return fs.statSync(file).dev === fs.statSync('/proc/self/ns/net').dev;
  } catch {
    return false;
  }
}

function isMountPoint(dir: string): boolean {
  const target = path.resolve(dir);
  return mountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8')).includes(target);
}

/** Dirs this process made shared mount points (a pod start need not read mountinfo again). */
const sharedDirs = new Set<string>();

function ensureSharedDir(dir: string): void {
  if (sharedDirs.has(dir) && fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  withLock(`${dir}.lock`, () => {
    if (!isMountPoint(dir)) mount(dir, dir, '', MS.BIND | MS.REC);
    mount('', dir, '', MS.SHARED | MS.REC);
  });
  sharedDirs.add(dir);
}

export class NetnsStore {
  constructor(readonly dir: string = DEFAULT_NETNS_DIR) {}

  path(id: string): string {
    checkNetnsId(id);
    return path.join(this.dir, id);
  }

  exists(id: string): boolean {
    return isMounted(this.path(id));
  }

  /**
   * Where a creator (berth-netns --create) may bind-mount the namespace `id`: the directory made a
   * shared mount point first. ALREADY_EXISTS if a namespace is there.
   */
  prepare(id: string): string {
    const p = this.path(id);
    ensureSharedDir(this.dir);
    if (isMounted(p)) throw alreadyExists(`network namespace ${p} already exists`);
    return p;
  }

  /** Create the namespace `id`; ALREADY_EXISTS if it is there. Returns its path. */
  create(id: string): string {
    const p = this.placeholder(id);
    const r = spawnSync('unshare', [`--net=${p}`, 'true'], { encoding: 'utf8', timeout: 10_000 });
    return this.created(p, r.status === 0 ? undefined : r.error?.message ?? (r.stderr.trim() || `unshare exit status ${r.status}`));
  }

  /** create() with the exec off the event loop (a daemon keeps serving meanwhile). */
  async createAsync(id: string): Promise<string> {
    return this.createAt(this.placeholder(id));
  }

  /**
   * A namespace at `file` (a spare of netns-spare.ts: a dot name in this dir, which list() never shows).
   * Returns its path.
   */
  async createSpare(name: string): Promise<string> {
    if (!/^\.[A-Za-z0-9_.-]+$/.test(name)) throw invalidArgument(`spare namespace name ${JSON.stringify(name)} must start with a dot`);
    ensureSharedDir(this.dir);
    const p = path.join(this.dir, name);
    fs.writeFileSync(p, '', { mode: 0o444 });
    return this.createAt(p);
  }

  private async createAt(p: string): Promise<string> {
    const why = await runTool('unshare', [`--net=${p}`, 'true'], { what: 'unshare', timeoutMs: 10_000 }).then(() => undefined, (e: Error) => e.message);
    return this.created(p, why);
  }

  /**
   * Makes the namespace mounted at `spare` (in this dir) the namespace `id`: bound at id's path, then
   * unmounted and removed from the spare's. ALREADY_EXISTS when `id` has one.
   */
  adopt(spare: string, id: string): string {
    if (path.dirname(spare) !== this.dir || !isMounted(spare)) throw invalidArgument(`${spare} is not a namespace in ${this.dir}`);
    const p = this.placeholder(id);
    try {
      mount(spare, p, '', MS.BIND);
    } catch (e) {
      fs.rmSync(p, { force: true });
      throw e;
    }
    this.removeFile(spare);
    return p;
  }

  /** Unmounts and removes a namespace file of this dir (a spare, or an id's). */
  removeFile(p: string): void {
    if (isMounted(p)) {
      try {
        umount2(p, MNT_DETACH);
      } catch (e) {
        if (!(e instanceof SyscallError && (e.errno === 22 || e.errno === 2))) throw e; // EINVAL: not mounted
      }
    }
    fs.rmSync(p, { force: true });
  }

  /** The dot names in this dir (spares, mounted or left empty by a crash). */
  spares(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => n.startsWith('.') && n !== '.' && n !== '..');
    } catch {
      return [];
    }
  }

  // A stale empty file (crash between create and mount) is reused; anything mounted is not.
  private placeholder(id: string): string {
    const p = this.prepare(id);
    fs.writeFileSync(p, '', { mode: 0o444 });
    return p;
  }

  private created(p: string, failure: string | undefined): string {
    if (failure !== undefined || !isMounted(p)) {
      fs.rmSync(p, { force: true });
      throw internal(`creating network namespace ${p} failed: ${failure ?? 'no namespace is mounted there'}`);
    }
    return p;
  }

  /** Remove the namespace `id`; succeeds when it is already gone. */
  remove(id: string): void {
    this.removeFile(this.path(id));
  }

  /**
   * Undo the directory's self bind mount once no namespace is left in it (tests, uninstall): the
   * mount otherwise outlives a temporary state dir. Returns false when namespaces remain.
   */
  releaseDir(): boolean {
    if (this.list().length || this.spares().some((n) => isMounted(path.join(this.dir, n)))) return false;
    sharedDirs.delete(this.dir);
    if (fs.existsSync(this.dir) && isMountPoint(this.dir)) umount2(this.dir, MNT_DETACH);
    fs.rmSync(`${this.dir}.lock`, { force: true });
    return true;
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => ID.test(n) && isMounted(path.join(this.dir, n)));
    } catch {
      return [];
    }
  }
}
