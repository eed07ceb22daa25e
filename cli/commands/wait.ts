// `berth wait CONTAINER...`: blocks until each container stops, prints its exit code.
import type { Register } from './index.js';
import { containerService, exitCodeOf } from './container-common.js';

export const register: Register = (program, globals) => {
  program.command('wait')
    .description('wait for containers to stop and print their exit codes')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const svc = containerService(globals());
      for (const n of names) console.log(exitCodeOf(await svc.wait(n)));
    });
  program.command('top')
    .description('show the processes of a running container')
    .argument('<container>')
    .action(async (name: string) => {
      const { titles, processes } = await containerService(globals()).top(name);
      const { table } = await import('./ps.js');
      console.log(table([titles, ...processes]));
    });
};
