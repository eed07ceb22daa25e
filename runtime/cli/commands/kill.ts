import type { Command } from '../command.js';
import { killContainer } from '../../container/kill.js';

export const command: Command = {
  usage: '<container-id> [signal]',
  summary: "kill sends the specified signal (default: SIGTERM) to the container's init process",
  flags: [{ name: 'all', aliases: ['a'], type: 'bool', help: 'send the specified signal to all processes inside the container' }],
  args: [1, 2],
  async run({ rt, flags, args }) {
    await killContainer(rt, args[0], args[1], { all: flags.all === true });
    return 0;
  },
};
