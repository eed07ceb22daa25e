// `berth image prune`: blobs and snapshots no image references, abandoned downloads.
import type { Register } from './index.js';
import { gc } from '../../image/index.js';
import { humanSize, imageCommand, snapshotsRoot } from './image-common.js';
import { snapshotCollector } from './rmi.js';

export const register: Register = (program, globals) => {
  imageCommand(program).command('prune')
    .description('remove unreferenced blobs, snapshots and partial downloads')
    .option('--dry-run', 'only show what would be removed')
    .action(async (o: { dryRun?: boolean }) => {
      const g = globals();
      const r = await gc(g.root, { allIngests: true, dryRun: o.dryRun, snapshots: await snapshotCollector(snapshotsRoot(g)) });
      for (const d of r.removedBlobs) console.log(`${o.dryRun ? 'Would delete' : 'Deleted'}: ${d}`);
      for (const i of r.removedIngests) console.log(`${o.dryRun ? 'Would delete' : 'Deleted'} partial download: ${i}`);
      console.log(`Total reclaimed space: ${humanSize(r.freedBytes)}`);
    });
};
