// Container state on disk: <root>/<id>/state.json plus the exec fifo, guarded by a per-container flock.
// Only what cannot be observed is stored; the status is derived when read (like runc), so a crash of
// berth-runtime or of the container never leaves a status that lies.
import fs from 'node:fs';
import { sameProcessAlive } from '../lib/proc-stat.js';
import path from 'node:path';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { lockFile } from '../lib/file-lock.js';
import { alreadyExists, BerthError, failedPrecondition, invalidArgument, notFound } from '../lib/errors.js';
import type { Spec } from './spec/config-schema.js';

export const DEFAULT_ROOT = '/run/berth-runtime';
export const OCI_VERSION = '1.2.0';
export const STATE_FILE = 'state.json';
export const EXEC_FIFO = 'exec.fifo';
const LOCK_FILE = 'lock';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What berth stores per container: the OCI state fields plus what it needs to find the container again. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  /** Stored phase: 'creating' until create finished; everything later is derived from the kernel. */
  phase: 'creating' | 'created';
  pid: number;
  /** /proc/<pid>/stat field 22 of init: a pid reused by another process does not match it. */
  initStartTime: string;
  bundle: string;
  annotations: Record<string, string>;
  created: string;
  /** cgroupsPath as resolved for this container (absolute, berth-owned when config had none). */
  cgroupsPath: string;
  /** Per controller (or 'unified') directory, exactly as the cgroup manager reported them. */
  cgroupPaths: Record<string, string>;
  rootless: boolean;
  owner: string;
  config: Spec;
}

/** The runtime-spec state (state.md), as `state` prints and hooks receive on stdin. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: Status;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

const ID_RE = /^[\w+.-]+$/;

/** Ids become directory names: refuse anything that could escape the root (runc's rule, plus a length cap). */
export function validateId(id: string | undefined): string {
  if (!id) throw invalidArgument('container id cannot be empty');
  if (!ID_RE.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw invalidArgument(`invalid container id ${JSON.stringify(id)}: use letters, digits and + - . _ only`);
  }
  return id;
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  dir(id: string): string {
    return path.join(this.root, validateId(id));
  }

  file(id: string, name: string): string {
    return path.join(this.dir(id), name);
  }

  ids(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names.filter((n) => ID_RE.test(n) && n !== '.' && n !== '..' && isDir(path.join(this.root, n))).sort();
  }

  /**
   * Make <root>/<id> and lock it. mkdir is the atomic claim on the id: a second create of the same id
   * fails with ALREADY_EXISTS even when both run at once.
   */
  claim(id: string): ContainerLock {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const dir = this.dir(id);
    // The directory appears with its lock file already held (made aside, then renamed into place): a
    // racing create that finds <id> must never see it without a lock and take it for a dead create's.
    // '@' keeps the aside name out of ids().
    const aside = path.join(this.root, `.claim@${process.pid}@${Math.random().toString(36).slice(2)}`);
    fs.mkdirSync(aside, { mode: 0o700 });
    const l = lockFile(path.join(aside, LOCK_FILE));
    try {
      fs.renameSync(aside, dir);
    } catch (e) {
      l.release();
      fs.rmSync(aside, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') throw alreadyExists(`container ${id} already exists`);
      throw e;
    }
    return new ContainerLock(this, id, l);
  }

  /**
   * Lock an existing container for one command. A delete may remove the directory while we wait for the
   * lock (and a create may make a new one with the same id): the lock only counts if it is still the
   * lock file of the directory that exists now.
   */
  lock(id: string, opts: { wait?: boolean } = {}): ContainerLock {
    const file = this.file(id, LOCK_FILE);
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = statIno(file);
      if (before === undefined) throw notFound(`container ${id} does not exist`);
      let l: { release(): void };
      try {
        // Never create it: a delete that has unlinked the lock file but not yet its directory would then
        // fail to remove a directory we just made non-empty again.
        l = lockFile(file, { wait: opts.wait, create: false });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`container ${id} does not exist`);
        throw e;
      }
      if (statIno(file) === before) return new ContainerLock(this, id, l);
      l.release();
    }
    throw new BerthError('UNAVAILABLE', `container ${id} keeps being replaced; try again`);
  }

  /**
   * Wait for the lock without blocking the thread: a blocking flock would freeze a process that serves
   * several commands at once (the planner) while the holder is one of its own pending commands.
   */
  async lockAsync(id: string): Promise<ContainerLock> {
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      const l = this.tryLock(id);
      if (l) return l;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Try the lock without waiting: undefined when another command holds it. */
  tryLock(id: string): ContainerLock | undefined {
    try {
      return this.lock(id, { wait: false });
    } catch (e) {
      if (e instanceof BerthError && e.code === 'UNAVAILABLE') return undefined;
      throw e;
    }
  }

  /** Read without locking (list, state): a record is replaced atomically, so a read sees old or new. */
  read(id: string): ContainerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(id, STATE_FILE), 'utf8')) as ContainerRecord;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (e instanceof SyntaxError) return undefined; // only a write without rename could do this; treat as half-made
      throw e;
    }
  }

  write(rec: ContainerRecord): void {
    // No fsync (runc makes none either): a container's state names live processes, which a power loss
    // ends too; the default root is tmpfs. The rename keeps a crashed command from leaving half a file.
    writeJsonAtomic(this.file(rec.id, STATE_FILE), rec, 0o600, { durable: false });
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }
}

export class ContainerLock {
  constructor(readonly store: StateStore, readonly id: string, private readonly l: { release(): void }) {}
  release(): void {
    this.l.release();
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function statIno(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export { procStat, type ProcStat } from '../lib/proc-stat.js';

/** Is the process that `rec` describes still alive (not gone, not a zombie, not a reused pid)? */
export function initAlive(rec: Pick<ContainerRecord, 'pid' | 'initStartTime'>): boolean {
  return !!rec.pid && sameProcessAlive(rec.pid, rec.initStartTime);
}

/** Frozen per the cgroup files the manager reported: v1 freezer.state, v2 cgroup.freeze. */
export function cgroupFrozen(paths: Record<string, string>): boolean {
  const v1 = paths.freezer;
  if (v1) {
    try {
      const s = fs.readFileSync(path.join(v1, 'freezer.state'), 'utf8').trim();
      return s === 'FROZEN' || s === 'FREEZING';
    } catch {
      return false;
    }
  }
  const v2 = paths.unified ?? paths[''];
  if (v2) {
    try {
      return fs.readFileSync(path.join(v2, 'cgroup.freeze'), 'utf8').trim() === '1';
    } catch {
      return false;
    }
  }
  return false;
}

/** The status runc would report: creating, created (init waits on exec.fifo), running, paused, stopped. */
export function deriveStatus(store: StateStore, rec: ContainerRecord): Status {
  if (rec.phase === 'creating') return 'creating';
  if (!initAlive(rec)) return 'stopped';
  if (cgroupFrozen(rec.cgroupPaths)) return 'paused';
  if (fs.existsSync(store.file(rec.id, EXEC_FIFO))) return 'created';
  return 'running';
}

export function ociState(rec: ContainerRecord, status: Status): OciState {
  const s: OciState = { ociVersion: rec.ociVersion, id: rec.id, status, bundle: rec.bundle };
  // The spec: pid is REQUIRED when created or running on Linux, and meaningless once stopped.
  if (status !== 'stopped' && rec.pid) s.pid = rec.pid;
  if (rec.annotations && Object.keys(rec.annotations).length) s.annotations = rec.annotations;
  return s;
}

export function requireStatus(id: string, status: Status, allowed: Status[], action: string): void {
  if (!allowed.includes(status)) throw failedPrecondition(`cannot ${action} container ${id}: it is ${status}`);
}
