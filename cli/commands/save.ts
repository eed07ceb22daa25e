// `berth save -o FILE IMAGE...` (also `berth image save`): OCI archive (default) or docker-archive.
import type { Command } from 'commander';
import type { Register } from './index.js';
import { saveImages } from '../../image/index.js';
import { invalidArgument } from '../../lib/errors.js';
import { imageCommand } from './image-common.js';

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => cmd
    .description('write images to a tar archive')
    .argument('<image...>', 'names or IDs')
    .requiredOption('-o, --output <file>', 'archive to write')
    .option('--format <format>', 'oci-archive or docker-archive', 'oci-archive')
    .action(async (names: string[], o: { output: string; format: string }) => {
      if (o.format !== 'oci-archive' && o.format !== 'docker-archive') throw invalidArgument(`--format must be oci-archive or docker-archive, not ${o.format}`);
      await saveImages(globals().root, names, o.output, o.format);
    });
  define(program.command('save'));
  define(imageCommand(program).command('save'));
};
