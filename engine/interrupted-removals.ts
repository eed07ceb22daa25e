// Removals that a killed remover left half done. remove() renames <containers>/<id> to
// <containers>/.removing-<id> (the tomb) and may still owe the runtime's delete, the network's
// teardown, the cgroup, the snapshot and the tomb itself (engine/service.ts removeLocked); a CLI or
// server killed after that rename would leave them forever. Each of those steps is idempotent, so a
// sweep redoes them all and then deletes the tomb.
import fs from 'node:fs';
import path from 'node:path';
import { BerthError } from '../lib/errors.js';
import { lockFile } from '../lib/file-lock.js';
import { readJson } from '../lib/atomic-write.js';
import { unmountAll } from '../snapshotter/mount.js';
import { mountPoints } from '../lib/mountinfo.js';
import { Monitor } from '../shim/index.js';
import { checkContainerRecord, type ContainerRecord } from './container-record.js';
import { discardCgroup } from './cgroup-prepare.js';

export const TOMB_PREFIX = '.removing-';
const ID_RE = /^[a-f0-9]{64}$/;

/** What the sweep needs of the container service (which owns the runtime, network and snapshots). */
export interface RemovalSteps {
  /** <root>/containers */
  containers: string;
  /** `<runtime> delete --force <id>`: by the runtime the monitor recorded, else the engine's own */
  deleteRuntime(id: string, monitor: Monitor | undefined): Promise<void>;
  teardownNetwork(id: string): Promise<void>;
  /** resolves when the snapshot is gone, also when it was already */
  removeSnapshot(key: string): Promise<void>;
  cgroupsPath(r: ContainerRecord): string;
  /** drops the name's index entry if it still names this id */
  releaseName(name: string, id: string): Promise<void>;
  warn?: (msg: string) => void;
}

/** The tombs' directory names: one readdir, the only cost of a sweep that finds none. */
export function tombNames(containers: string): string[] {
  try {
    return fs.readdirSync(containers).filter((n) => n.startsWith(TOMB_PREFIX) && ID_RE.test(n.slice(TOMB_PREFIX.length)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * Finishes every tomb no live remover holds. A tomb that fails is reported (once, through `warn`) and
 * kept for the next sweep when what failed needs its files; the others go on. Never throws.
 * Returns the number of tombs deleted.
 */
export async function finishInterruptedRemovals(s: RemovalSteps): Promise<number> {
  const warn = s.warn ?? ((m: string) => process.stderr.write(`berth: ${m}\n`));
  let names: string[];
  try { names = tombNames(s.containers); } catch (e) {
    warn(`cannot look for interrupted removals in ${s.containers}: ${(e as Error).message}`);
    return 0;
  }
  let finished = 0;
  for (const n of names) {
    const id = n.slice(TOMB_PREFIX.length);
    try {
      if (await finishTomb(s, path.join(s.containers, n), id)) finished++;
    } catch (e) {
      warn(`finishing the interrupted removal of container ${id}: ${(e as Error).message}`);
    }
  }
  return finished;
}

/** false: its remover is still at work. */
async function finishTomb(s: RemovalSteps, tomb: string, id: string): Promise<boolean> {
  let lock;
  try {
    // create: false, for a lock file missing means the tomb is being deleted: a lock made anew in it
    // would not be the remover's, and would make its recursive delete fail (ENOTEMPTY).
    lock = lockFile(path.join(tomb, '.remove.lock'), { wait: false, create: false });
  } catch (e) {
    if (e instanceof BerthError && e.code === 'UNAVAILABLE') return false;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // A remover deletes the tomb only once all the rest is done, and deleting alongside it (live or
    // dead) only deletes: finish that.
    deleteTomb(tomb);
    return true;
  }
  try {
    const r = tombRecord(tomb, id);
    let failure: unknown;
    if (r) failure = await undoContainer(s, r, tomb);
    deleteTomb(tomb);
    if (failure) throw failure;
    return true;
  } finally {
    lock.release();
  }
}

/**
 * Undoes what the container holds outside its directory. Throws (and the tomb stays for a retry) when
 * the runtime's delete or the network's teardown fails: a retry needs the monitor's session in the
 * tomb. Returns a failure that needs nothing of it (the snapshot's: GC removes an orphan snapshot).
 */
async function undoContainer(s: RemovalSteps, r: ContainerRecord, tomb: string): Promise<unknown> {
  const monitorDir = path.join(tomb, 'monitor');
  // no monitor dir: never started, so the runtime has nothing of it (as cleanupRuntime)
  const runtime = fs.existsSync(monitorDir) ? s.deleteRuntime(r.id, loadMonitor(monitorDir)) : undefined;
  const network = r.network === 'bridge' ? s.teardownNetwork(r.id) : undefined;
  // a stale entry counts as free already (engine/name-index.ts): this only tidies the index
  const name = s.releaseName(r.name, r.id).catch(() => undefined);
  const failed = (await Promise.allSettled([runtime, network, name])).find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
  // a container never started (or whose create failed) still has the dirs made for it at create
  discardCgroup(s.cgroupsPath(r), r.id);
  if (!r.snapshotKey) return undefined;
  // the rootfs moved with the tomb (r.rootfs names where it was): off the snapshot before it goes
  unmountUnder(tomb);
  return s.removeSnapshot(r.snapshotKey).then(() => undefined, (e: unknown) => e);
}

function loadMonitor(dir: string): Monitor | undefined {
  try { return Monitor.load(dir); } catch { return undefined; } // a session a crash emptied
}

/** The container's record, if readable and its own (a damaged one leaves nothing to act on). */
function tombRecord(tomb: string, id: string): ContainerRecord | undefined {
  const f = path.join(tomb, 'container.json');
  try {
    const r = checkContainerRecord(readJson(f), f);
    return r.id === id ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Never through a mount: a rootfs still mounted in it would lose its snapshot's files. */
function deleteTomb(tomb: string): void {
  unmountUnder(tomb);
  fs.rmSync(tomb, { recursive: true, force: true });
}

function unmountUnder(dir: string): void {
  const under = mountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((p) => p.startsWith(dir + '/'));
  // deepest first; a path stacked twice is gone after the first (unmountAll unmounts the whole stack)
  for (const p of [...new Set(under)].sort((a, b) => b.length - a.length)) unmountAll(p);
}
