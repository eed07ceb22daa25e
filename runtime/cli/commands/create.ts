import type { Command } from '../command.js';
import type { FlagDef, FlagValues } from '../args.js';
import { num, str } from '../command.js';
import { createContainer, type CreateOptions } from '../../container/create.js';

export const createFlags: readonly FlagDef[] = [
  { name: 'bundle', aliases: ['b'], type: 'string', help: 'path to the root of the bundle directory (default: current directory)' },
  { name: 'console-socket', type: 'string', help: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
  { name: 'pid-file', type: 'string', help: 'specify the file to write the process id to' },
  { name: 'no-pivot', type: 'bool', help: 'do not use pivot root to jail process inside rootfs' },
  { name: 'no-new-keyring', type: 'bool', help: 'do not create a new session keyring for the container' },
  { name: 'preserve-fds', type: 'int', default: 0, help: 'pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)' },
];

/** The options `create` and `run` share, from their flags. */
export function createOptions(id: string, flags: FlagValues): CreateOptions {
  return {
    id,
    bundle: str(flags.bundle),
    consoleSocket: str(flags['console-socket']),
    pidFile: str(flags['pid-file']),
    noPivot: flags['no-pivot'] === true,
    noNewKeyring: flags['no-new-keyring'] === true,
    preserveFds: num(flags['preserve-fds']),
  };
}

export const command: Command = {
  usage: '<container-id>',
  summary: 'create a container',
  flags: createFlags,
  args: 1,
  async run({ rt, flags, args }) {
    await createContainer(rt, createOptions(args[0], flags));
    return 0;
  },
};
