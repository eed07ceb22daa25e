// `berth start [-a] CONTAINER...`
import type { Register } from './index.js';
import { containerService, exitCodeOf, pipeStdio, ttySize } from './container-common.js';
import type { AttachStreams } from '../../shim/index.js';

export const register: Register = (program, globals) => {
  program.command('start')
    .description('start one or more created or stopped containers')
    .argument('<container...>', 'names or ids')
    .option('-a, --attach', 'attach stdout/stderr and return the exit code')
    .option('-i, --interactive', 'attach stdin')
    .action(async (names: string[], o: { attach?: boolean; interactive?: boolean }) => {
      const svc = containerService(globals());
      if (o.attach && names.length > 1) throw new Error('you cannot start and attach multiple containers at once');
      for (const n of names) {
        const rec = svc.resolve(n);
        if (!o.attach) { await svc.start(n); console.log(n); continue; }
        let streams: AttachStreams | undefined;
        const m = await svc.start(n, { ttySize: rec.tty ? ttySize() : undefined, beforeStart: async (mon) => { streams = await mon.attach(); } });
        const restore = pipeStdio(streams!, { tty: Boolean(rec.tty), stdin: Boolean(o.interactive && rec.stdin), monitor: m });
        const status = await m.waitExit();
        await streams!.closed;
        restore();
        process.exitCode = exitCodeOf(status);
        process.stdin.destroy();
      }
    });
};
