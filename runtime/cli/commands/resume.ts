import type { Command } from '../command.js';
import { resumeContainer } from '../../container/pause.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'resumes all processes that have been previously paused',
  flags: [],
  args: 1,
  async run({ rt, args }) {
    await resumeContainer(rt, args[0]);
    return 0;
  },
};
