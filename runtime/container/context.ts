// What every lifecycle operation needs: where state lives and where warnings go.
import { DEFAULT_ROOT, StateStore } from '../state.js';
import type { ProcessHost } from '../host.js';

export interface RuntimeOptions {
  /** State directory (runc's --root). */
  root?: string;
  /** Non-fatal problems (poststart/poststop hook failures, cleanup leftovers). */
  warn?: (msg: string) => void;
  debug?: (msg: string) => void;
  /** Who runs berth-init and reaps a foreground container (default: this process). */
  host?: ProcessHost;
  /** The caller's environment, for hooks without `env` (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** The caller's stderr, for BERTH_TIMING lines (default: this process's). */
  err?: (text: string) => void;
}

export interface Runtime {
  store: StateStore;
  warn(msg: string): void;
  debug(msg: string): void;
  host?: ProcessHost;
  env: NodeJS.ProcessEnv;
  err(text: string): void;
}

export function openRuntime(opts: RuntimeOptions = {}): Runtime {
  return {
    store: new StateStore(opts.root ?? DEFAULT_ROOT),
    warn: opts.warn ?? ((m) => process.stderr.write(`berth-runtime: warning: ${m}\n`)),
    debug: opts.debug ?? (() => {}),
    host: opts.host,
    env: opts.env ?? process.env,
    err: opts.err ?? ((t) => { process.stderr.write(t); }),
  };
}
