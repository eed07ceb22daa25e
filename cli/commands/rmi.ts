// `berth rmi IMAGE...` (also `berth image rm`): removes names, then the blobs nothing references.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Register } from './index.js';
import { ImageService, gc } from '../../image/index.js';
import { imageCommand, snapshotsRoot } from './image-common.js';

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => cmd
    .description('remove images')
    .argument('<image...>', 'names or IDs')
    .option('-f, --force', 'remove every name of an image given by ID')
    .action(async (names: string[], o: { force?: boolean }) => {
      const g = globals();
      const svc = new ImageService(g.root);
      for (const n of names) for (const removed of svc.remove(n, o)) console.log(`Untagged: ${removed}`);
      const r = await gc(g.root, { snapshots: await snapshotCollector(snapshotsRoot(g)) });
      for (const d of r.removedBlobs) console.log(`Deleted: ${d}`);
    });
  define(program.command('rmi'));
  define(imageCommand(program).command('rm').alias('remove'));
};

/**
 * Removes snapshots no image needs, when a snapshot store exists (the snapshotter's own gc). Active
 * snapshots and views other than interrupted unpacks belong to containers or mounts: the CLI keeps
 * them (and their parents) since image/ cannot know which containers exist, except a container's
 * (labelled berth.container) whose directory <root>/containers/<id> is gone: the engine removes
 * that snapshot before the directory, without fsync, so an OS crash can leave it behind.
 */
export async function snapshotCollector(root: string): Promise<((keep: Set<string>) => Promise<void>) | undefined> {
  if (!fs.existsSync(root)) return undefined;
  const sn = await import('../../snapshotter/index.js');
  const s = sn.openSnapshotter(root);
  const containers = path.join(path.dirname(root), 'containers');
  return async (keep) => {
    const all = new Set(keep);
    for (const info of await s.list()) {
      if (info.kind === 'committed' || info.labels[sn.UNPACK_LABEL]) continue;
      const owner = info.labels['berth.container'];
      if (owner !== undefined && /^[a-f0-9]{64}$/.test(owner) && !fs.existsSync(path.join(containers, owner))) continue;
      all.add(info.key);
    }
    await s.gc(all);
  };
}
