import type { Command } from '../command.js';
import { str } from '../command.js';
import { failedPrecondition } from '../../../lib/errors.js';
import { DEFAULT_SOCKET } from '../../planner/protocol.js';

export const command: Command = {
  usage: '',
  summary: 'serve berth-runtime calls from this warm process; bin/berth-runtime is its thin client (BERTH_RUNTIME_PLANNER=PATH picks the socket)',
  flags: [{ name: 'socket', type: 'string', default: DEFAULT_SOCKET, help: 'unix socket to listen on (made 0600)' }],
  args: 0,
  async run({ flags, io, logger }) {
    if (io.host) throw failedPrecondition('planner: already talking to a planner (run it with BERTH_RUNTIME_PLANNER=off)');
    const { Planner } = await import('../../planner/server.js');
    const planner = await Planner.listen({ socket: str(flags.socket)!, log: (m) => logger.warn(`planner: ${m}`) });
    io.err(`berth-runtime planner: listening on ${planner.socket}\n`);
    // Serves until told to stop; then the socket goes, and clients fall back to the Node CLI.
    await new Promise<void>((resolve) => {
      const stop = io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP'], () => { stop(); resolve(); });
    });
    await planner.close();
    return 0;
  },
};
