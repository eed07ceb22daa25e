// Finding a container again: its record, its derived status, and cleanup of what a killed `create` left.
import { failedPrecondition, notFound } from '../../lib/errors.js';
import { deriveStatus, type ContainerLock, type ContainerRecord, type Status } from '../state.js';
import type { Runtime } from './context.js';
import { destroyContainer } from './destroy.js';

export interface Loaded {
  rec: ContainerRecord;
  status: Status;
}

/**
 * Read a container without locking. A directory whose create died half-way (no record, or still
 * 'creating' while nobody holds its lock) is cleaned up here and reported as not existing.
 */
export async function loadContainer(rt: Runtime, id: string): Promise<Loaded> {
  const rec = rt.store.read(id);
  if (rec && rec.phase !== 'creating') return { rec, status: deriveStatus(rt.store, rec) };
  if (await reapIfStale(rt, id)) throw notFound(`container ${id} does not exist`);
  const again = rt.store.read(id);
  if (!again) throw failedPrecondition(`container ${id} is being created`);
  return { rec: again, status: deriveStatus(rt.store, again) };
}

/** Run `fn` holding the container's lock, with its record read under that lock. */
export async function withContainer<T>(rt: Runtime, id: string, fn: (c: Loaded, lock: ContainerLock) => Promise<T>): Promise<T> {
  await loadContainer(rt, id); // cleans a stale leftover first, so it never looks like a live container
  const lock = await rt.store.lockAsync(id);
  try {
    const rec = rt.store.read(id);
    if (!rec) throw notFound(`container ${id} does not exist`);
    return await fn({ rec, status: deriveStatus(rt.store, rec) }, lock);
  } finally {
    lock.release();
  }
}

/**
 * A container directory is stale when it is not finished ('creating' or no record) and no process holds
 * its lock: the create that made it died. Undo whatever it got to (process, cgroup, directory).
 * Returns true when the id no longer exists afterwards.
 */
export async function reapIfStale(rt: Runtime, id: string): Promise<boolean> {
  let lock: ContainerLock | undefined;
  try {
    lock = rt.store.tryLock(id);
  } catch (e) {
    if ((e as { code?: string }).code === 'NOT_FOUND') {
      // No lock file: either gone entirely or a create that died right after mkdir.
      const dirGone = !rt.store.ids().includes(id);
      if (!dirGone) rt.store.remove(id);
      return true;
    }
    throw e;
  }
  if (!lock) return false; // a live create (or delete) holds it
  try {
    const rec = rt.store.read(id);
    if (rec && rec.phase !== 'creating') return false;
    rt.debug(`cleaning up ${id}: left half-created by an interrupted create`);
    await destroyContainer(rt, rec ?? { id }, { poststop: false });
    return true;
  } finally {
    lock.release();
  }
}
