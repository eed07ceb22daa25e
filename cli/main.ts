// `berth`: the daemonless CLI. Each command lives in cli/commands/<name>.ts and registers itself here.
// A process runs one call: started for it (bin/berth-node), or pre-warmed and handed it (cli/warm-serve.ts).
import { Command } from 'commander';
import { mark } from '../lib/timing.js';
import { resolveGlobals, type GlobalOptions } from './context.js';
import { reportError } from './report-error.js';
import { commandsFor } from './commands/index.js';
import { serveWarm, warmMode } from './warm-serve.js';
import pkg from '../package.json' with { type: 'json' };

const program = new Command('berth')
  .description('berth: run OCI containers and manage images, daemonless')
  .version(pkg.version, '-v, --version', 'print the version')
  .option('--root <dir>', 'persistent storage root', undefined)
  .option('--state <dir>', 'runtime state directory', undefined)
  .option('--debug', 'print stack traces and debug output')
  .showHelpAfterError()
  .enablePositionalOptions();

mark('cli-loaded');
const globals = (): GlobalOptions => resolveGlobals(program.opts());

async function main(argv: string[]): Promise<void> {
  // The command's name: the first argument that is neither an option nor --root's or --state's value.
  const command = argv.slice(2).find((a, i, all) => !a.startsWith('-') && !['--root', '--state'].includes(all[i - 1]));
  for (const register of await commandsFor(command)) register(program, globals);
  mark('commands-loaded');
  await program.parseAsync(argv);
}

// No top-level await: the bundle is CommonJS, which Node loads faster than ES modules.
// A warm process loads every command's module (and more: cli/warm-preload.ts) before it waits for its call.
const ready = warmMode() ? serveWarm(() => import('./warm-preload.js').then((m) => m.preload())) : Promise.resolve();
ready.then(() => main(process.argv)).catch((e: unknown) => {
  process.exitCode = reportError(e, Boolean(program.opts().debug));
});
