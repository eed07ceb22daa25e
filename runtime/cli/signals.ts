// A foreground `run`/`exec` stands in for the container's process: signals sent to us go to it.
import { constants } from 'node:os';
import { kill } from '../../native/ffi.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

function killPid(pid: number): (sig: NodeJS.Signals) => void {
  return (sig) => {
    try {
      kill(pid, constants.signals[sig]);
    } catch {
      /* already gone */
    }
  };
}

/** Forward signals to `pid` (or through `send`); returns the function that stops forwarding. */
export function forwardSignals(pid: number, send: (sig: NodeJS.Signals) => void = killPid(pid)): () => void {
  const handlers = FORWARDED.map((sig) => {
    const h = () => send(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
