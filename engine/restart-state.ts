// What a restart policy remembers between runs, in <root>/containers/<id>/restart.json, and the
// per-container lock under which a policy restart, a user's stop and a removal take turns.
// The state lives on disk because the deciding process is a fresh `berth container cleanup`
// started by the exiting run's monitor, not a daemon.
import fs from 'node:fs';
import path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator } from '../lib/schema-validator.js';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { lockFilePolled, type FileLock } from '../lib/file-lock.js';
import { dataLoss, notFound } from '../lib/errors.js';

export const restartStateSchema = {
  type: 'object',
  properties: {
    // restarts the policy has begun (Docker's RestartCount: counted when the restart is decided)
    count: { type: 'integer', minimum: 0 },
    // the delay before the last policy restart (Docker: 100 ms, doubling, reset after 10 s of running)
    backoffMs: { type: 'integer', minimum: 0 },
    // the run (see runKey) whose exit has been decided, either way
    decidedRun: { type: 'string' },
    // the run a user stopped: its exit is never restarted; 'restart' when the user restarts it
    // (then neither the policy nor auto-remove acts on that exit: the user's start follows)
    stoppedRun: { type: 'string' },
    stopKind: { type: 'string', enum: ['stop', 'restart'] },
    // a policy restart waiting out its back-off in process pid (dead pid: abandoned)
    pending: {
      type: 'object',
      properties: {
        since: { type: 'string' },
        delayMs: { type: 'integer', minimum: 0 },
        pid: { type: 'integer', minimum: 1 },
        pidStartTime: { type: 'string' },
      },
      required: ['since', 'delayMs', 'pid', 'pidStartTime'],
    },
  },
  required: ['count', 'backoffMs'],
} as const;

export type RestartState = FromSchema<typeof restartStateSchema>;

const FILE = 'restart.json';
// The same lock file removal takes (ContainerService.remove): an rm waits for a policy start in flight.
const LOCK = '.remove.lock';

export function readRestartState(containerDir: string): RestartState {
  const f = path.join(containerDir, FILE);
  let raw: unknown;
  try { raw = JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { count: 0, backoffMs: 0 };
    throw dataLoss(`${f} cannot be read: ${(e as Error).message}`);
  }
  const validate = schemaValidator('engine.restart-state', restartStateSchema);
  if (!validate(raw)) throw dataLoss(`${f} is damaged: ${validate.errors?.[0]?.instancePath || '/'} ${validate.errors?.[0]?.message ?? ''}`.trim());
  return raw as RestartState;
}

export function writeRestartState(containerDir: string, s: RestartState): void {
  writeJsonAtomic(path.join(containerDir, FILE), s);
}

/**
 * Runs `fn` holding the container's lifecycle lock. Polls instead of blocking in flock(2): the
 * daemon calls this too, and a blocking flock would freeze its event loop while a policy start runs.
 * NOT_FOUND once the container directory is gone (removed meanwhile).
 */
export async function withContainerLock<T>(containerDir: string, fn: () => Promise<T> | T): Promise<T> {
  let lock: FileLock;
  try {
    lock = await lockFilePolled(path.join(containerDir, LOCK), { delayMs: 2, maxDelayMs: 50 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such container: ${path.basename(containerDir)}`);
    throw e;
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
