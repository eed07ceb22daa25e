import { spawnSync } from 'node:child_process';
import type { Command } from '../command.js';
import { internal, invalidArgument } from '../../../lib/errors.js';
import { containerPids } from '../../container/ps.js';

export const command: Command = {
  usage: '<container-id> [ps options]',
  summary: 'ps displays the processes running inside a container',
  flags: [{ name: 'format', aliases: ['f'], type: 'string', default: 'table', help: 'select one of: table or json' }],
  args: [1, Infinity],
  async run({ rt, flags, args, io }) {
    const pids = await containerPids(rt, args[0]);
    if (flags.format === 'json') {
      io.out(JSON.stringify(pids) + '\n');
      return 0;
    }
    if (flags.format !== 'table') throw invalidArgument(`invalid format option ${JSON.stringify(flags.format)}: use table or json`);
    // Like runc: run the host's ps with the given options and keep the header plus the container's rows.
    const psArgs = args.length > 1 ? args.slice(1) : ['-ef'];
    const r = spawnSync('ps', psArgs, { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw internal(`ps ${psArgs.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
    const lines = r.stdout.split('\n').filter(Boolean);
    const pidCol = lines[0].trim().split(/\s+/).indexOf('PID');
    if (pidCol < 0) throw invalidArgument(`ps ${psArgs.join(' ')} printed no PID column`);
    const set = new Set(pids);
    const keep = lines.slice(1).filter((l) => set.has(Number(l.trim().split(/\s+/)[pidCol])));
    io.out([lines[0], ...keep].join('\n') + '\n');
    return 0;
  },
};
