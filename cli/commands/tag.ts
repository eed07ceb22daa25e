// `berth tag SOURCE TARGET` (also `berth image tag`).
import type { Command } from 'commander';
import type { Register } from './index.js';
import { ImageService } from '../../image/index.js';
import { imageCommand } from './image-common.js';

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => cmd
    .description('give a local image another name')
    .argument('<source>', 'local image name or ID')
    .argument('<target>', 'new name [registry/]repo[:tag]')
    .action((source: string, target: string) => { new ImageService(globals().root).tag(source, target); });
  define(program.command('tag'));
  define(imageCommand(program).command('tag'));
};
