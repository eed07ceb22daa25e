// Opening the snapshot store, apart from the barrel (index.ts): a container's create and remove
// need only this, not layer apply and its worker pool, zlib and tar, at every CLI start.
import fs from 'node:fs';
import path from 'node:path';
import { failedPrecondition, invalidArgument } from '../lib/errors.js';
import { SnapshotStore } from './snapshot-store.js';
import { MetaStore } from './metadata.js';
import { copyDriver, detectDriver, overlayDriver } from './drivers.js';
import type { Snapshotter, SnapshotterKind } from './types.js';

/**
 * The snapshotter stored under `root` (e.g. <berth root>/snapshots). 'auto' keeps whatever driver the
 * store was created with, or picks overlay when the kernel and filesystem allow it.
 */
export function openSnapshotter(root: string, kind: SnapshotterKind | 'auto' = 'auto'): Snapshotter {
  const abs = path.resolve(root);
  // Overlay's option syntax reserves ',' and ':' (no escaping is attempted).
  if (/[,:\\]/.test(abs)) throw invalidArgument(`snapshot root ${abs} must not contain ',', ':' or '\\'`);
  fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
  const recorded = MetaStore.recordedDriver(abs);
  let k: SnapshotterKind;
  if (kind === 'auto') k = recorded ?? detectDriver(abs);
  else {
    if (recorded && recorded !== kind) throw failedPrecondition(`${abs} holds ${recorded} snapshots; it cannot be opened as ${kind}`);
    k = kind;
  }
  return new SnapshotStore(abs, k === 'overlay' ? overlayDriver : copyDriver);
}
