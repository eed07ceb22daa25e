// Standalone entry of the CRI server (tests, crictl/critest runs, the bench), the same server
// `berth serve` hosts:
//   node --import tsx cri/main.ts --socket S [--root DIR] [--state DIR] [--mirror reg=host:port]... [--cni-conf-dir D] [--debug]
import { startCriServer, DEFAULT_CRI_SOCKET } from './server.js';
import { loopbackConfList } from '../engine/network/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
function args(name: string): string[] {
  return process.argv.flatMap((a, i) => (a === `--${name}` && process.argv[i + 1] ? [process.argv[i + 1]] : []));
}

const mirrors = Object.fromEntries(args('mirror').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
const cri = await startCriServer({
  engine: { root: arg('root') ?? process.env.BERTH_ROOT ?? '/var/lib/berth', state: arg('state') ?? process.env.BERTH_STATE ?? '/run/berth', runtime: process.env.BERTH_RUNTIME_BIN },
  socket: arg('socket') ?? DEFAULT_CRI_SOCKET,
  mirrors,
  insecureRegistries: args('insecure-registry'),
  // --loopback-only: pods get a namespace with just lo (tests that must not add bridges)
  network: process.argv.includes('--loopback-only') ? { confList: loopbackConfList() } : arg('cni-conf-dir') ? { confDir: arg('cni-conf-dir') } : undefined,
  log: process.argv.includes('--debug') ? (m) => process.stderr.write(`cri: ${m}\n`) : undefined,
});
process.stdout.write(`listening on ${cri.socket}\n`);
const stop = () => { cri.close().then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
