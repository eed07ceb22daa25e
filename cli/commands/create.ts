// `berth create IMAGE [COMMAND...]`: prepare a container (snapshot, bundle) without starting it.
import type { Register } from './index.js';
import { addCreateOptions, containerService, toCreateRequest, type CreateOpts } from './container-common.js';

export const register: Register = (program, globals) => {
  addCreateOptions(program.command('create')
    .description('create a container without starting it')
    .argument('[image]', 'image reference (or, with --rootfs, the command)')
    .argument('[command...]', 'command and arguments')
    .passThroughOptions())
    .action(async (image: string | undefined, command: string[], o: CreateOpts) => {
      const g = globals();
      const rec = await containerService(g).create(toCreateRequest(g, image, command, o));
      console.log(rec.id);
    });
};
