import type { Command } from '../command.js';
import { containerState } from '../../container/state.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'output the state of a container',
  flags: [],
  args: 1,
  async run({ rt, args, io }) {
    io.out(JSON.stringify(await containerState(rt, args[0]), null, 2) + '\n');
    return 0;
  },
};
