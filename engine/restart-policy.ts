// Docker's restart policies as pure decisions (facts of dockerd's restart manager): whether an
// exit restarts, the back-off before it, and whether a container counts as "restarting" now.
import type { ExitStatus } from '../shim/index.js';
import type { ContainerRecord } from './container-record.js';
import type { RestartState } from './restart-state.js';

export type RestartPolicyName = NonNullable<ContainerRecord['restartPolicy']>;

export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** a run this long resets the back-off */
export const BACKOFF_RESET_AFTER_MS = 10_000;

export interface Policy { name: RestartPolicyName; maxRetries: number }

/** The policy a container was created with (MaximumRetryCount is kept in its options). */
export function policyOf(r: ContainerRecord): Policy {
  const max = (r.options as { restartMaxRetries?: unknown } | undefined)?.restartMaxRetries;
  return { name: r.restartPolicy ?? 'no', maxRetries: typeof max === 'number' && max > 0 ? max : 0 };
}

export function exitCodeOf(s: ExitStatus): number {
  return s.signal ? 128 + s.signal : s.exitCode;
}

/**
 * Whether this exit restarts. `count` is the restarts begun so far; a run stopped by the user never
 * restarts; a run that failed to start is not retried (dockerd leaves it stopped, and retrying a
 * start that fails at once would loop).
 */
export function shouldRestart(p: Policy, exit: ExitStatus, count: number, stoppedByUser: boolean): boolean {
  if (stoppedByUser || exit.reason === 'start-failed') return false;
  switch (p.name) {
    case 'always': case 'unless-stopped': return true;
    case 'on-failure': return exitCodeOf(exit) !== 0 && (p.maxRetries === 0 || count < p.maxRetries);
    default: return false;
  }
}

/** 100 ms, doubling up to a minute; back to 100 ms once a run lasted 10 s. */
export function nextBackoff(prevMs: number, ranMs: number): number {
  if (!prevMs || ranMs >= BACKOFF_RESET_AFTER_MS) return BACKOFF_INITIAL_MS;
  return Math.min(prevMs * 2, BACKOFF_MAX_MS);
}

export interface RunFacts {
  /** runKey of the container's current monitor, if it has one */
  run?: string;
  exit?: ExitStatus;
  /** the monitor of that run is still alive, i.e. still running its exit command */
  monitorAlive: boolean;
  /** the pending restart's process is alive */
  pendingAlive: boolean;
}

/**
 * Docker's State.Restarting: a policy restart is waiting or starting, or the exited run's exit
 * command has not decided yet but will restart it (so no reader sees "exited" in between).
 */
export function isRestarting(p: Policy, s: RestartState, f: RunFacts): boolean {
  if (p.name === 'no') return false;
  if (s.pending && f.pendingAlive) return true;
  if (!f.exit || !f.run || !f.monitorAlive || s.decidedRun === f.run) return false;
  return shouldRestart(p, f.exit, s.count, s.stoppedRun === f.run);
}
