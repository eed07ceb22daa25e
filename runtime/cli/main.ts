// berth-runtime: the runc-compatible CLI, a thin client of runtime/ (the library). One call of main() is
// one invocation; its IO says whose stdout, cwd and signals those are (the process's own, or a thin
// client's when the resident planner serves it), so the same code serves both. runtime/cli/entry.ts
// starts it as a program.
// Startup time is a goal: each command's module (and its heavy dependencies) loads only when called.
import path from 'node:path';
import { BerthError } from '../../lib/errors.js';
import { parseFlags, flagHelp, type FlagDef } from './args.js';
import { checkArgs, type Command, type GlobalOptions } from './command.js';
import { createLogger, type Logger } from './log.js';
import { DEFAULT_ROOT } from '../state.js';
import { openRuntime } from '../container/context.js';
import { VERSION } from './version.js';
import { NeedsLocalCli, type CliIO } from './io.js';

const GLOBAL_FLAGS: readonly FlagDef[] = [
  { name: 'root', type: 'string', default: DEFAULT_ROOT, help: 'root directory for storage of container state' },
  { name: 'log', type: 'string', help: 'log file (default: stderr)' },
  { name: 'log-format', type: 'string', default: 'text', help: 'log format: text or json' },
  { name: 'debug', type: 'bool', help: 'enable debug logging and stack traces' },
  { name: 'systemd-cgroup', type: 'bool', help: 'use the systemd cgroup driver (not supported: refused)' },
  { name: 'criu', type: 'string', help: 'path to criu (ignored: checkpointing is not supported)', ignored: true },
  { name: 'rootless', type: 'string', help: 'ignored (berth detects rootless by itself)', ignored: true },
  { name: 'help', aliases: ['h'], type: 'bool', help: 'show help' },
  { name: 'version', aliases: ['v'], type: 'bool', help: 'print the version' },
];

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  create: () => import('./commands/create.js'),
  delete: () => import('./commands/delete.js'),
  events: () => import('./commands/events.js'),
  exec: () => import('./commands/exec.js'),
  features: () => import('./commands/features.js'),
  kill: () => import('./commands/kill.js'),
  list: () => import('./commands/list.js'),
  pause: () => import('./commands/pause.js'),
  ps: () => import('./commands/ps.js'),
  resume: () => import('./commands/resume.js'),
  run: () => import('./commands/run.js'),
  spec: () => import('./commands/spec.js'),
  start: () => import('./commands/start.js'),
  state: () => import('./commands/state.js'),
  update: () => import('./commands/update.js'),
  planner: () => import('./commands/planner.js'),
};
const SUMMARIES: Record<string, string> = {
  create: 'create a container', delete: 'delete any resources held by the container', events: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
  exec: 'execute new process inside the container', features: 'show the enabled features', kill: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
  list: 'lists containers started by berth-runtime with the given root', pause: 'pause suspends all processes inside the container', ps: 'ps displays the processes running inside a container',
  resume: 'resumes all processes that have been previously paused', run: 'create and run a container', spec: 'create a new specification file',
  start: 'executes the user defined process in a created container', state: 'output the state of a container', update: 'update container resource constraints',
  planner: 'serve berth-runtime calls from this warm process (bin/berth-runtime is its thin client)',
};

// Flags naming files, resolved against the caller's cwd here, once: the planner serves callers in many
// directories at once and never changes its own.
const PATH_FLAGS = ['bundle', 'pid-file', 'console-socket', 'process', 'resources', 'socket'];

function usage(): string {
  return `berth-runtime ${VERSION}: an OCI runtime (runc-compatible command line)

USAGE: berth-runtime [global options] command [command options] [arguments...]

COMMANDS:
${Object.keys(COMMANDS).map((c) => `   ${c.padEnd(10)} ${SUMMARIES[c]}`).join('\n')}

GLOBAL OPTIONS:
${flagHelp(GLOBAL_FLAGS)}
`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  let logger: Logger = createLogger({ format: 'text', debug: argv.includes('--debug'), err: io.err });
  try {
    const g = parseFlags(argv, GLOBAL_FLAGS, 'berth-runtime');
    const logFormat = g.flags['log-format'] as string;
    if (logFormat !== 'text' && logFormat !== 'json') throw new BerthError('INVALID_ARGUMENT', `unknown log-format ${JSON.stringify(logFormat)}: use text or json`);
    const globals: GlobalOptions = {
      root: g.flags.root as string,
      debug: g.flags.debug as boolean,
      log: g.flags.log ? path.resolve(io.cwd, g.flags.log as string) : undefined,
      logFormat,
    };
    logger = createLogger({ file: globals.log, format: logFormat, debug: globals.debug, err: io.err });
    if (g.flags.version) {
      io.out(`berth-runtime version ${VERSION}\nspec: 1.2.0\n`);
      return 0;
    }
    const [name, ...rest] = g.rest;
    if (g.flags.help || !name || name === 'help') {
      if (name && name !== 'help' && COMMANDS[name]) return commandHelp(io, name, (await COMMANDS[name]()).command);
      io.out(usage());
      return 0;
    }
    if (g.flags['systemd-cgroup']) {
      throw new BerthError('UNIMPLEMENTED', '--systemd-cgroup: the systemd cgroup driver is not supported by berth-runtime; use cgroupfs paths (drop --systemd-cgroup)');
    }
    const load = COMMANDS[name];
    if (!load) {
      if (name === 'checkpoint' || name === 'restore') throw new BerthError('UNIMPLEMENTED', `${name}: checkpoint/restore (CRIU) is not supported by berth-runtime`);
      throw new BerthError('INVALID_ARGUMENT', `no such command: ${name} (see berth-runtime --help)`);
    }
    const { command } = await load();
    const p = parseFlags(rest, [...command.flags, { name: 'help', aliases: ['h'], type: 'bool', help: 'show help' }], name);
    if (p.flags.help) return commandHelp(io, name, command);
    checkArgs(name, command, p.rest);
    for (const f of PATH_FLAGS) {
      const v = p.flags[f];
      if (typeof v === 'string' && v !== '' && v !== '-') p.flags[f] = path.resolve(io.cwd, v);
    }
    if (command.flags.some((f) => f.name === 'bundle') && !p.flags.bundle) p.flags.bundle = io.cwd;
    const rt = openRuntime({ root: path.resolve(io.cwd, globals.root), warn: logger.warn, debug: logger.debug, host: io.host, env: io.env, err: io.err });
    return await command.run({ rt, flags: p.flags, args: p.rest, globals, logger, io });
  } catch (e) {
    if (e instanceof NeedsLocalCli) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    logger.error(msg);
    if (logger.debugEnabled && e instanceof Error && e.stack) io.err(e.stack + '\n');
    return 1;
  }
}

function commandHelp(io: CliIO, name: string, cmd: Command): number {
  io.out(`berth-runtime ${name}: ${cmd.summary}\n\nUSAGE: berth-runtime ${name} [command options] ${cmd.usage}\n\nOPTIONS:\n${flagHelp(cmd.flags)}\n`);
  return 0;
}
