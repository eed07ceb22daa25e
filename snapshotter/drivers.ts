// What differs between the overlay and copy snapshotters: how an active snapshot's directory is
// made, and which mounts present a snapshot. Everything else (metadata, GC, unpack) is shared.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { internal, failedPrecondition } from '../lib/errors.js';
import type { Mount, SnapshotterKind } from './types.js';
import type { ApplyMode } from './apply.js';

const execFileAsync = promisify(execFile);

export interface Driver {
  readonly kind: SnapshotterKind;
  /** How layers are applied into an active snapshot of this driver. */
  readonly applyMode: ApplyMode;
  /** Make the directories of a new active snapshot at `dir`; `parentFs` is the parent's fs dir. */
  createActive(dir: string, parentFs: string | undefined): Promise<void>;
  /** `parents`: fs dirs of the ancestors, nearest first. */
  activeMounts(dir: string, parents: string[]): Mount[];
  viewMounts(parents: string[]): Mount[];
  /** Whether an active snapshot's fs dir holds the whole tree (copy) or only its own changes (overlay). */
  readonly fullTree: boolean;
}

/**
 * <root>/<id> is 0700: layers carry setuid binaries and world-writable dirs, which host users must
 * not reach through the snapshot store (containerd does the same).
 */
function makeSnapshotDir(dir: string): void {
  // Ids are never reused while meta.json lives; a leftover dir means metadata was lost: it is garbage.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chmodSync(dir, 0o700); // mkdir's mode passes through the umask
}

export const overlayDriver: Driver = {
  kind: 'overlay',
  applyMode: 'overlay',
  fullTree: false,
  async createActive(dir) {
    makeSnapshotDir(dir);
    fs.mkdirSync(path.join(dir, 'fs'), { mode: 0o755 });
    fs.mkdirSync(path.join(dir, 'work'), { mode: 0o700 });
  },
  activeMounts(dir, parents) {
    const fsDir = path.join(dir, 'fs');
    if (parents.length === 0) return [{ type: 'bind', source: fsDir, options: ['rbind', 'rw'] }];
    return [{
      type: 'overlay', source: 'overlay',
      options: [`workdir=${path.join(dir, 'work')}`, `upperdir=${fsDir}`, `lowerdir=${parents.join(':')}`],
    }];
  },
  viewMounts(parents) {
    if (parents.length === 0) throw failedPrecondition('a view needs a parent');
    if (parents.length === 1) return [{ type: 'bind', source: parents[0], options: ['rbind', 'ro'] }];
    // Overlay without an upper dir is read-only by construction.
    return [{ type: 'overlay', source: 'overlay', options: ['ro', `lowerdir=${parents.join(':')}`] }];
  },
};

export const copyDriver: Driver = {
  kind: 'copy',
  applyMode: 'copy',
  fullTree: true,
  async createActive(dir, parentFs) {
    const fsDir = path.join(dir, 'fs');
    makeSnapshotDir(dir);
    fs.mkdirSync(fsDir, { mode: 0o755 });
    if (!parentFs) return;
    // GNU cp keeps owners, modes, times, xattrs, devices and hardlinks, and reflinks where it can.
    try {
      await execFileAsync('cp', ['-a', '--reflink=auto', '--', `${parentFs}/.`, `${fsDir}/`], { maxBuffer: 1 << 20 });
    } catch (e) {
      throw internal(`copying snapshot ${parentFs} to ${fsDir} failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, e);
    }
  },
  activeMounts(dir) {
    return [{ type: 'bind', source: path.join(dir, 'fs'), options: ['rbind', 'rw'] }];
  },
  viewMounts(parents) {
    if (parents.length === 0) throw failedPrecondition('a view needs a parent');
    // A committed copy snapshot is a complete tree and never changes again: bind it read-only.
    return [{ type: 'bind', source: parents[0], options: ['rbind', 'ro'] }];
  },
};

const OVERLAYFS_MAGIC = 0x794c7630;

/** overlay when the kernel has it and `root` can hold upper dirs (not itself on overlayfs). */
export function detectDriver(root: string): SnapshotterKind {
  let filesystems = '';
  try { filesystems = fs.readFileSync('/proc/filesystems', 'utf8'); } catch { /* no procfs: assume nothing */ }
  const hasOverlay = /\toverlay$/m.test(filesystems) || fs.existsSync('/sys/module/overlay');
  if (!hasOverlay) return 'copy';
  if (fs.statfsSync(root).type === OVERLAYFS_MAGIC) return 'copy';
  return 'overlay';
}
