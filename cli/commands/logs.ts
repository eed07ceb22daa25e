// `berth logs [-f] [--tail N] [-t] CONTAINER`: from the CRI-format log file the monitor writes.
import type { Register } from './index.js';
import { containerService } from './container-common.js';

export const register: Register = (program, globals) => {
  program.command('logs')
    .description('print the output of a container')
    .argument('<container>')
    .option('-f, --follow', 'keep following the output')
    .option('-n, --tail <n>', 'number of lines from the end (or "all")', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (name: string, o: { follow?: boolean; tail: string; timestamps?: boolean }) => {
      const svc = containerService(globals());
      const tail = o.tail === 'all' ? undefined : Number(o.tail);
      if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new Error(`--tail ${o.tail} must be a number or "all"`);
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      for await (const r of svc.logs(name, { follow: o.follow, tail, signal: ac.signal })) {
        const out = r.stream === 'stderr' ? process.stderr : process.stdout;
        out.write((o.timestamps ? `${r.time} ` : '') + r.text + (r.partial ? '' : '\n'));
      }
    });
};
