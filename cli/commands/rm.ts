// `berth rm [-f] CONTAINER...`: removes the container, its snapshot, mount and files.
import { Option } from 'commander';
import type { Register } from './index.js';
import { containerService } from './container-common.js';

export const register: Register = (program, globals) => {
  program.command('rm')
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill a running container first')
    .option('-v, --volumes', 'accepted for docker compatibility (anonymous volumes are not created)')
    .addOption(new Option('--quiet', 'print nothing; a container already gone is no error (for monitors\' exit commands)').hideHelp())
    .action(async (names: string[], o: { force?: boolean; quiet?: boolean }) => {
      const svc = containerService(globals());
      let failed = 0;
      for (const n of names) {
        try { await svc.remove(n, { force: o.force }); if (!o.quiet) console.log(n); } catch (e) {
          if (o.quiet && (e as { code?: string }).code === 'NOT_FOUND') continue;
          failed++;
          console.error(`berth: ${(e as Error).message}`);
        }
      }
      // a readdir when there are none: what an earlier rm killed half-way left goes now
      await svc.finishInterruptedRemovals();
      if (failed) process.exitCode = 1;
    });
};
