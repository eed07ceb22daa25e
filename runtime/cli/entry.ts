// The Node CLI as a program (bin/berth-runtime-node, or bin/berth-runtime without a planner): this
// process is the caller. Kept apart from main.ts so the planner can import main() without running it.
import { main } from './main.js';
import { processIO } from './io.js';
import { mark } from '../../lib/timing.js';

mark('node-start');

// A reader that went away (`events | head`) ends us quietly, as it would a Go program.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// No top-level await: the bundle is CommonJS, which Node loads faster than ES modules.
void main(process.argv.slice(2), processIO()).then((code) => {
  // Exit once stdout has drained (pipes are asynchronous in Node); nothing else may keep us alive.
  process.stdout.write('', () => process.exit(code));
});
