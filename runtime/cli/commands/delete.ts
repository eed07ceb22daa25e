import type { Command } from '../command.js';
import { deleteContainer } from '../../container/delete.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'delete any resources held by the container',
  flags: [{ name: 'force', aliases: ['f'], type: 'bool', help: 'forcibly delete the container if it is still running (uses SIGKILL)' }],
  args: 1,
  async run({ rt, flags, args }) {
    await deleteContainer(rt, args[0], { force: flags.force === true });
    return 0;
  },
};
