// `berth stop [-t N] CONTAINER...`, `berth kill [-s SIG] CONTAINER...`, `berth restart`.
import type { Register } from './index.js';
import { containerService } from './container-common.js';

export const register: Register = (program, globals) => {
  program.command('stop')
    .description('stop running containers (stop signal, then SIGKILL after the timeout)')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing')
    .action(async (names: string[], o: { time?: string }) => {
      const svc = containerService(globals());
      for (const n of names) { await svc.stop(n, o.time !== undefined ? Number(o.time) : undefined); console.log(n); }
    });
  program.command('kill')
    .description('send a signal to running containers')
    .argument('<container...>')
    .option('-s, --signal <sig>', 'signal name or number', 'SIGKILL')
    .action(async (names: string[], o: { signal: string }) => {
      const svc = containerService(globals());
      for (const n of names) { await svc.kill(n, /^\d+$/.test(o.signal) ? Number(o.signal) : o.signal); console.log(n); }
    });
  program.command('restart')
    .description('stop and start containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing')
    .action(async (names: string[], o: { time?: string }) => {
      const svc = containerService(globals());
      for (const n of names) {
        await svc.stop(n, o.time !== undefined ? Number(o.time) : undefined, { restarting: true });
        await svc.start(n);
        console.log(n);
      }
    });
  program.command('pause').description('freeze all processes of containers').argument('<container...>')
    .action(async (names: string[]) => { const svc = containerService(globals()); for (const n of names) { await svc.pause(n); console.log(n); } });
  program.command('unpause').description('thaw paused containers').argument('<container...>')
    .action(async (names: string[]) => { const svc = containerService(globals()); for (const n of names) { await svc.resume(n); console.log(n); } });
};
