import type { Command } from '../command.js';
import { pauseContainer } from '../../container/pause.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'pause suspends all processes inside the container',
  flags: [],
  args: 1,
  async run({ rt, args }) {
    await pauseContainer(rt, args[0]);
    return 0;
  },
};
