import fs from 'node:fs';
import type { Command } from '../command.js';
import { num, str } from '../command.js';
import { invalidArgument } from '../../../lib/errors.js';
import { execInContainer } from '../../container/exec.js';
import { forwardSignals } from '../signals.js';

export const command: Command = {
  usage: '<container-id> <command> [command options]  ||  -p process.json <container-id>',
  summary: 'execute new process inside the container',
  flags: [
    { name: 'console-socket', type: 'string', help: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
    { name: 'cwd', type: 'string', help: 'current working directory in the container' },
    { name: 'env', aliases: ['e'], type: 'list', help: 'set environment variables' },
    { name: 'tty', aliases: ['t'], type: 'bool', help: 'allocate a pseudo-TTY' },
    { name: 'user', aliases: ['u'], type: 'string', help: 'UID (format: <uid>[:<gid>])' },
    { name: 'additional-gids', aliases: ['g'], type: 'list', help: 'additional gids' },
    { name: 'process', aliases: ['p'], type: 'string', help: 'path to the process.json' },
    { name: 'detach', aliases: ['d'], type: 'bool', help: 'detach from the container\'s process' },
    { name: 'pid-file', type: 'string', help: 'specify the file to write the process id to' },
    { name: 'process-label', type: 'string', help: 'ignored (no SELinux)', ignored: true },
    { name: 'apparmor', type: 'string', help: 'ignored (no AppArmor)', ignored: true },
    { name: 'no-new-privs', type: 'bool', help: 'set the no new privileges value for the process' },
    { name: 'cap', aliases: ['c'], type: 'list', help: 'add a capability to the bounding set for the process' },
    { name: 'preserve-fds', type: 'int', default: 0, help: 'pass N additional file descriptors to the container' },
    { name: 'cgroup', type: 'list', help: 'not supported: exec always joins the container\'s cgroup' },
    { name: 'ignore-paused', type: 'bool', help: 'ignored', ignored: true },
  ],
  args: [1, Infinity],
  async run({ rt, flags, args, io }) {
    if ((flags.cgroup as string[]).length) throw invalidArgument('exec: --cgroup is not supported');
    const processFile = str(flags.process);
    let process_;
    if (processFile) {
      const { validateProcess } = await import('../../spec/config-schema.js');
      let json: unknown;
      try {
        json = JSON.parse(fs.readFileSync(processFile, 'utf8'));
      } catch (e) {
        throw invalidArgument(`exec: cannot read ${processFile}: ${(e as Error).message}`);
      }
      process_ = validateProcess(json, processFile);
    }
    const gids = (flags['additional-gids'] as string[]).map((g) => {
      if (!/^\d+$/.test(g)) throw invalidArgument(`exec: --additional-gids ${JSON.stringify(g)} is not a number`);
      return Number(g);
    });
    const detach = flags.detach === true;
    const h = await execInContainer(rt, {
      id: args[0],
      process: process_,
      args: args.slice(1),
      cwd: str(flags.cwd),
      env: flags.env as string[],
      user: str(flags.user),
      additionalGids: gids,
      caps: flags.cap as string[],
      tty: flags.tty === true ? true : undefined,
      noNewPrivileges: flags['no-new-privs'] === true,
      consoleSocket: str(flags['console-socket']),
      detach,
      pidFile: str(flags['pid-file']),
      preserveFds: num(flags['preserve-fds']),
    });
    if (detach) return 0;
    const stop = forwardSignals(io, h.pid);
    try {
      return await h.wait();
    } finally {
      stop();
    }
  },
};
