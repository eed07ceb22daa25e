import type { Command } from '../command.js';
import { invalidArgument } from '../../../lib/errors.js';
import { containerEvents, containerStats } from '../../container/events.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
  flags: [
    { name: 'interval', type: 'string', default: '5s', help: 'set the stats collection interval' },
    { name: 'stats', type: 'bool', help: 'display the container\'s stats then exit' },
  ],
  args: 1,
  async run({ rt, flags, args, io }) {
    if (flags.stats) {
      io.out(JSON.stringify(await containerStats(rt, args[0])) + '\n');
      return 0;
    }
    const ac = new AbortController();
    const stopListening = io.onSignal(['SIGINT', 'SIGTERM'], () => ac.abort());
    try {
      for await (const ev of containerEvents(rt, args[0], parseDuration(String(flags.interval)), ac.signal)) {
        io.out(JSON.stringify(ev) + '\n');
      }
    } finally {
      stopListening();
    }
    return 0;
  },
};

/** Go durations as runc takes them: 5s, 500ms, 1m, 1.5s. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (!m) throw invalidArgument(`invalid duration ${JSON.stringify(s)}: use e.g. 5s or 500ms`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  if (ms <= 0) throw invalidArgument('duration interval must be greater than 0');
  return ms;
}
