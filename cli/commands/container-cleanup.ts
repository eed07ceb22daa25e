// `berth container cleanup ID` (hidden): a container monitor's exit command. It removes an
// auto-remove container or applies the restart policy (engine/container-exit.ts); nobody reads its
// output, so it reports failures only, on stderr, with a non-zero exit.
import type { Register } from './index.js';
import { containerService } from './container-common.js';
import { cleanupAfterExit } from '../../engine/container-exit.js';

export const register: Register = (program, globals) => {
  program.command('container', { hidden: true })
    .description('container housekeeping run by berth itself')
    .command('cleanup')
    .description("handle a container run's exit: remove it (--rm) or restart it (--restart)")
    .argument('<id>')
    .action(async (id: string) => {
      const g = globals();
      const outcome = await cleanupAfterExit(containerService(g), id);
      if (g.debug) process.stderr.write(`berth container cleanup ${id}: ${outcome}\n`);
    });
};
