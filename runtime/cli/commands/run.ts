import type { Command } from '../command.js';
import { createFlags, createOptions } from './create.js';
import { runContainer } from '../../container/run.js';
import { forwardSignals } from '../signals.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'create and run a container',
  flags: [
    ...createFlags,
    { name: 'detach', aliases: ['d'], type: 'bool', help: 'detach from the container\'s process' },
    { name: 'keep', type: 'bool', help: 'do not delete the container after it exits' },
  ],
  args: 1,
  async run({ rt, flags, args, io }) {
    let stop = () => {};
    try {
      return await runContainer(rt, {
        ...createOptions(args[0], flags),
        detach: flags.detach === true,
        keep: flags.keep === true,
        onStarted: (pid) => { stop = forwardSignals(io, pid); },
      });
    } finally {
      stop();
    }
  },
};
