// Where one berth-runtime invocation reads and writes: the process itself (the Node CLI), or a thin
// client served by a resident planner (runtime/planner), which runs many invocations at once in one
// process. Commands therefore never touch process.stdout/stderr/cwd/signals directly.
import fs from 'node:fs';
import type { ProcessHost } from '../host.js';

export type Forwarded = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2' | 'SIGWINCH' | 'SIGCONT';

export interface CliIO {
  /** The caller's working directory: relative paths on the command line are relative to it. */
  cwd: string;
  /** The caller's file-creation mask (the planner's own umask is not the caller's). */
  umask: number;
  /** The caller's environment: what OCI hooks without an `env` of their own run with, as in runc. */
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  /** Call `handler` for each of `sigs` the caller receives; returns the function that stops it. */
  onSignal(sigs: readonly Forwarded[], handler: (sig: Forwarded) => void): () => void;
  /** The caller's standard input, whole (`update -r -`). */
  readStdin(): string;
  /** Where berth-init runs and who reaps the container; undefined: this process (runtime/host.ts). */
  host?: ProcessHost;
}

/** Thrown where a command needs the calling process itself (its stdin): the caller runs the Node CLI. */
export class NeedsLocalCli extends Error {}

/** The plain CLI: this process is the caller. */
export function processIO(): CliIO {
  return {
    cwd: process.cwd(),
    env: process.env,
    get umask() { return process.umask(); },
    out: (t) => { process.stdout.write(t); },
    err: (t) => { process.stderr.write(t); },
    onSignal(sigs, handler) {
      const hs = sigs.map((s) => [s, () => handler(s)] as const);
      for (const [s, h] of hs) process.on(s, h);
      return () => { for (const [s, h] of hs) process.off(s, h); };
    },
    readStdin: () => fs.readFileSync(0, 'utf8'),
  };
}
