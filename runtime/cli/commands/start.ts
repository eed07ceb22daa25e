import type { Command } from '../command.js';
import { startContainer } from '../../container/start.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'executes the user defined process in a created container',
  flags: [],
  args: 1,
  async run({ rt, args }) {
    await startContainer(rt, args[0]);
    return 0;
  },
};
