// Global options every `berth` command sees (--root, --state, --debug), resolved once.
import path from 'node:path';

export interface GlobalOptions {
  root: string;   // persistent data: content, images, snapshots, containers
  state: string;  // runtime state: sockets, per-container runtime dirs
  debug: boolean;
}

export function resolveGlobals(opts: { root?: string; state?: string; debug?: boolean }): GlobalOptions {
  return {
    root: path.resolve(opts.root ?? process.env.BERTH_ROOT ?? '/var/lib/berth'),
    state: path.resolve(opts.state ?? process.env.BERTH_STATE ?? '/run/berth'),
    debug: Boolean(opts.debug ?? process.env.BERTH_DEBUG),
  };
}
