// What a monitor leaves on disk so any later process (CLI, daemon after a restart) can find it:
// <dir>/session.json (written by shim/), plus the monitor's own monitor.pid, container.pid,
// exit.json, attach and ctl sockets, and the CRI log.
import fs from 'node:fs';
import path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator } from '../lib/schema-validator.js';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { BerthError, fromErrno } from '../lib/errors.js';

export const sessionSchema = {
  type: 'object',
  properties: {
    version: { const: 1 },
    kind: { type: 'string', enum: ['container', 'exec'] },
    id: { type: 'string', minLength: 1 },
    execId: { type: 'string' },
    runtime: { type: 'string', minLength: 1 },
    runtimeArgs: { type: 'array', items: { type: 'string' } },
    bundle: { type: 'string' },
    dir: { type: 'string', minLength: 1 },
    logPath: { type: 'string' },
    tty: { type: 'boolean' },
    stdin: { type: 'boolean' },
    stdinOnce: { type: 'boolean' },
    pid: { type: 'integer', minimum: 1 },
    monitorPid: { type: 'integer', minimum: 1 },
    // /proc/<pid>/stat start time: tells the monitor apart from a later process reusing its pid.
    monitorStartTime: { type: 'string' },
    createdAt: { type: 'string' },
  },
  // pid, monitorPid and monitorStartTime are added once the monitor reports; a caller killed
  // before that leaves them out, and loading reads them from monitor.pid / container.pid instead.
  required: ['version', 'kind', 'id', 'runtime', 'runtimeArgs', 'dir', 'tty', 'stdin', 'stdinOnce', 'createdAt'],
} as const;
export type Session = FromSchema<typeof sessionSchema>;

export const exitStatusSchema = {
  type: 'object',
  properties: {
    exitCode: { type: 'integer' },
    signal: { type: ['integer', 'null'] },
    exitedAt: { type: 'string' },
    // exited | signaled | oom-killed | start-failed (from the monitor) | monitor died (from shim/)
    reason: { type: 'string' },
    oomKilled: { type: 'boolean' },
    pid: { type: 'integer' },
    error: { type: 'string' },
  },
  required: ['exitCode', 'signal', 'exitedAt', 'reason'],
} as const;
export type ExitStatus = FromSchema<typeof exitStatusSchema>;

function validate<T>(schema: object, value: unknown, what: string): T {
  const v = schemaValidator(schema === sessionSchema ? 'shim.session' : 'shim.exit-status', schema);
  if (!v(value)) {
    const e = v.errors?.[0];
    throw new BerthError('DATA_LOSS', `${what} is invalid: ${e?.instancePath || '/'} ${e?.message ?? ''}`.trim());
  }
  return value as T;
}

export const SESSION_FILE = 'session.json';

/**
 * Renamed into place without fsync: a session describes a live monitor process, and none survives an
 * OS crash, while a killed caller or monitor loses nothing (the page cache keeps the file). What must
 * outlive a crash, the exit status, the monitor writes durably itself (exit.json).
 */
export function saveSession(s: Session): void {
  writeJsonAtomic(path.join(s.dir, SESSION_FILE), s, 0o600, { durable: false });
}

export function loadSession(dir: string): Session {
  const f = path.join(dir, SESSION_FILE);
  let raw: string;
  try {
    raw = fs.readFileSync(f, 'utf8');
  } catch (e) {
    throw fromErrno(e, `no monitor session in ${dir}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new BerthError('DATA_LOSS', `${f} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  return validate<Session>(sessionSchema, value, f);
}

export function parseExitStatus(text: string, file: string): ExitStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BerthError('DATA_LOSS', `${file} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  return validate<ExitStatus>(exitStatusSchema, value, file);
}
