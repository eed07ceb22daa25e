// Standalone entry: serve the Docker API for a --root/--state (tests and the bench start this; `berth
// serve` hosts the same startDockerApi next to the CRI socket).
//   node --import tsx dockerapi/main.ts --socket /run/berth/docker.sock [--root DIR] [--state DIR] [--debug]
import { ContainerService } from '../engine/service.js';
import { startDockerApi } from './server.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const engine = new ContainerService({
  root: arg('root') ?? process.env.BERTH_ROOT ?? '/var/lib/berth',
  state: arg('state') ?? process.env.BERTH_STATE ?? '/run/berth',
  runtime: process.env.BERTH_RUNTIME_BIN,
});
const api = await startDockerApi({ socketPath: arg('socket') ?? '/run/berth/docker.sock', engine, debug: process.argv.includes('--debug') });
process.stdout.write(`listening on ${api.socketPath}\n`);
const stop = () => { api.close().then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
