// `berth`: the daemonless CLI. Each command lives in cli/commands/<name>.ts and registers itself here.
import { Command } from 'commander';
import { resolveGlobals, type GlobalOptions } from './context.js';
import { reportError } from './report-error.js';
import { commands } from './commands/index.js';

const program = new Command('berth')
  .description('berth: run OCI containers and manage images, daemonless')
  .option('--root <dir>', 'persistent storage root', undefined)
  .option('--state <dir>', 'runtime state directory', undefined)
  .option('--debug', 'print stack traces and debug output')
  .showHelpAfterError()
  .enablePositionalOptions();

const globals = (): GlobalOptions => resolveGlobals(program.opts());
for (const register of commands) register(program, globals);

// No top-level await: the bundle is CommonJS, which Node loads faster than ES modules.
program.parseAsync(process.argv).catch((e: unknown) => {
  process.exitCode = reportError(e, Boolean(program.opts().debug));
});
