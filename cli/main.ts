// `berth`: the daemonless CLI. Each command lives in cli/commands/<name>.ts and registers itself here.
import { Command } from 'commander';
import { mark } from '../lib/timing.js';
import { resolveGlobals, type GlobalOptions } from './context.js';
import { reportError } from './report-error.js';
import { commandsFor } from './commands/index.js';

const program = new Command('berth')
  .description('berth: run OCI containers and manage images, daemonless')
  .option('--root <dir>', 'persistent storage root', undefined)
  .option('--state <dir>', 'runtime state directory', undefined)
  .option('--debug', 'print stack traces and debug output')
  .showHelpAfterError()
  .enablePositionalOptions();

mark('cli-loaded');
const globals = (): GlobalOptions => resolveGlobals(program.opts());
// The command's name: the first argument that is neither an option nor --root's or --state's value.
const command = process.argv.slice(2).find((a, i, all) => !a.startsWith('-') && !['--root', '--state'].includes(all[i - 1]));

// No top-level await: the bundle is CommonJS, which Node loads faster than ES modules.
commandsFor(command).then((registers) => {
  for (const register of registers) register(program, globals);
  mark('commands-loaded');
  return program.parseAsync(process.argv);
}).catch((e: unknown) => {
  process.exitCode = reportError(e, Boolean(program.opts().debug));
});
