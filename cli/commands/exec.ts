// `berth exec [-i] [-t] [-e] [-u] [-w] CONTAINER COMMAND...`: under its own exec monitor; exit code passed through.
import type { Register } from './index.js';
import { containerService, exitCodeOf, pipeStdio, ttySize, withCommandExitCode } from './container-common.js';

export const register: Register = (program, globals) => {
  program.command('exec')
    .description('run a command in a running container')
    .helpOption('--help', 'display help for command')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-d, --detach', 'run in the background')
    .option('-e, --env <KEY=value>', 'set an environment variable (repeatable)', (v: string, a: string[]) => [...a, v], [] as string[])
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-w, --workdir <dir>', 'working directory')
    .passThroughOptions()
    .action(async (name: string, command: string[], o: { interactive?: boolean; tty?: boolean; detach?: boolean; env: string[]; user?: string; workdir?: string }) => {
      const svc = containerService(globals());
      const { session, streams } = await svc.exec(name, {
        cmd: command, env: o.env, user: o.user, workdir: o.workdir, tty: o.tty, stdin: o.interactive && !o.detach,
        ttySize: o.tty ? ttySize() : undefined,
      }).catch((e: unknown) => { throw withCommandExitCode(e); });
      if (o.detach) { streams?.detach(); return; }
      const restore = streams ? pipeStdio(streams, { tty: Boolean(o.tty), stdin: Boolean(o.interactive), monitor: session }) : () => {};
      const status = await session.waitExit();
      await streams?.closed;
      restore();
      process.exitCode = exitCodeOf(status);
      process.stdin.destroy();
    });
};
