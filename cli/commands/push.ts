// `berth push IMAGE [DESTINATION]` (also `berth image push`).
import type { Command } from 'commander';
import type { Register } from './index.js';
import { push } from '../../image/index.js';
import { addRegistryOptions, imageCommand, registryOptions, shortId } from './image-common.js';

interface Opts { quiet?: boolean; authfile?: string; creds?: string; insecureRegistry?: string[] }

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => addRegistryOptions(cmd
    .description('push a local image to a registry')
    .argument('<image>', 'local image name or ID')
    .argument('[destination]', 'registry reference to push to (default: the image name)')
    .option('-q, --quiet', 'print only the pushed digest'))
    .action(async (image: string, dest: string | undefined, o: Opts) => {
      const g = globals();
      const r = await push(g.root, image, dest, {
        ...registryOptions(g, o),
        onEvent: (e) => {
          if (o.quiet) return;
          if (e.type === 'blob') console.error(`${shortId(e.digest)}: ${e.status === 'exists' ? 'Layer already exists' : e.status === 'mounted' ? 'Mounted from another repository' : 'Pushed'}`);
        },
      });
      console.log(o.quiet ? r.digest : `${r.reference}: digest: ${r.digest}`);
    });
  define(program.command('push'));
  define(imageCommand(program).command('push'));
};
