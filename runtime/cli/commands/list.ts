import type { Command } from '../command.js';
import { invalidArgument } from '../../../lib/errors.js';
import { listContainers } from '../../container/list.js';

export const command: Command = {
  usage: '',
  summary: 'lists containers started by berth-runtime with the given root',
  flags: [
    { name: 'format', aliases: ['f'], type: 'string', default: 'table', help: 'select one of: table or json' },
    { name: 'quiet', aliases: ['q'], type: 'bool', help: 'display only container IDs' },
  ],
  args: 0,
  async run({ rt, flags, io }) {
    const list = await listContainers(rt);
    if (flags.quiet) {
      io.out(list.map((c) => c.id + '\n').join(''));
      return 0;
    }
    if (flags.format === 'json') {
      io.out(JSON.stringify(list) + '\n');
      return 0;
    }
    if (flags.format !== 'table') throw invalidArgument(`invalid format option ${JSON.stringify(flags.format)}: use table or json`);
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'],
      ...list.map((c) => [c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, c.owner || 'root'])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)) + 3);
    io.out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('') + '\n').join(''));
    return 0;
  },
};
