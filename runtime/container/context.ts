// What every lifecycle operation needs: where state lives and where warnings go.
import { DEFAULT_ROOT, StateStore } from '../state.js';

export interface RuntimeOptions {
  /** State directory (runc's --root). */
  root?: string;
  /** Non-fatal problems (poststart/poststop hook failures, cleanup leftovers). */
  warn?: (msg: string) => void;
  debug?: (msg: string) => void;
}

export interface Runtime {
  store: StateStore;
  warn(msg: string): void;
  debug(msg: string): void;
}

export function openRuntime(opts: RuntimeOptions = {}): Runtime {
  return {
    store: new StateStore(opts.root ?? DEFAULT_ROOT),
    warn: opts.warn ?? ((m) => process.stderr.write(`berth-runtime: warning: ${m}\n`)),
    debug: opts.debug ?? (() => {}),
  };
}
