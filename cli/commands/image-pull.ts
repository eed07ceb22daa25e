// `berth pull IMAGE` (also `berth image pull`): download, verify, unpack, record.
import type { Command } from 'commander';
import type { Register } from './index.js';
import { pull, parsePlatform } from '../../image/index.js';
import { addRegistryOptions, imageCommand, registryOptions, snapshotUnpacker, type RegistryFlags } from './image-common.js';
import { progressPrinter } from './pull-progress.js';

interface PullOpts extends RegistryFlags { platform?: string; quiet?: boolean; unpack?: boolean }

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => addRegistryOptions(cmd
    .description('pull an image from a registry')
    .argument('<image>', 'image reference, e.g. busybox, host:5000/repo:tag, repo@sha256:...')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this host)')
    .option('-q, --quiet', 'print only the image digest')
    .option('--no-unpack', 'only download; do not unpack into snapshots'))
    .action(async (image: string, o: PullOpts) => {
      const g = globals();
      const progress = progressPrinter({ quiet: o.quiet });
      const unpack = o.unpack !== false ? await snapshotUnpacker(g) : undefined;
      const r = await pull(g.root, image, { ...registryOptions(g, o), platform: o.platform ? parsePlatform(o.platform) : undefined, onEvent: progress.onEvent, unpack });
      progress.finish();
      if (o.quiet) console.log(r.target.digest);
      else console.log(`Digest: ${r.target.digest}\nStatus: downloaded ${r.name}\n${r.name}`);
    });
  define(program.command('pull'));
  define(imageCommand(program).command('pull'));
};
