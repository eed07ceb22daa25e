// A foreground `run`/`exec` stands in for the container's process: signals sent to us go to it.
import { constants } from 'node:os';
import { kill } from '../../native/ffi.js';
import type { CliIO, Forwarded } from './io.js';

const FORWARDED: readonly Forwarded[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

/** Forward the caller's signals to `pid`; returns the function that stops forwarding. */
export function forwardSignals(io: CliIO, pid: number): () => void {
  return io.onSignal(FORWARDED, (sig) => {
    try {
      kill(pid, constants.signals[sig]);
    } catch {
      /* already gone */
    }
  });
}
