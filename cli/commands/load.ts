// `berth load -i FILE` (also `berth image load`): OCI archives and docker-save archives.
import type { Command } from 'commander';
import type { Register } from './index.js';
import { loadArchive, parsePlatform } from '../../image/index.js';
import { imageCommand } from './image-common.js';

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => cmd
    .description('load images from a tar archive (OCI layout or docker save); stdin when no file')
    .option('-i, --input <file>', 'archive to read')
    .option('--name <name>', 'name for OCI archives that carry only a tag')
    .option('--platform <os/arch[/variant]>', 'platform to resolve multi-platform images for')
    .action(async (o: { input?: string; name?: string; platform?: string }) => {
      const loaded = await loadArchive(globals().root, o.input ?? process.stdin, { name: o.name, platform: o.platform ? parsePlatform(o.platform) : undefined });
      for (const l of loaded) console.log(`Loaded image: ${l.name}`);
    });
  define(program.command('load'));
  define(imageCommand(program).command('load'));
};
