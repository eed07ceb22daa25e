// Signals: names and numbers as runc accepts them, and delivery to init without pid-reuse races.
import os from 'node:os';
import { closeSync } from 'node:fs';
import { invalidArgument, notFound } from '../../lib/errors.js';
import { pidfdOpen, pidfdSendSignal } from '../../native/ffi.js';
import { procStat, type ContainerRecord } from '../state.js';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** "9", "KILL", "SIGKILL", "sigkill", "SIGRTMIN+3" -> number. Default SIGTERM like runc. */
export function parseSignal(s: string | number | undefined): number {
  if (s === undefined || s === '') return 15;
  if (typeof s === 'number' || /^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > SIGRTMAX) throw invalidArgument(`invalid signal ${s}`);
    return n;
  }
  let name = s.toUpperCase();
  if (!name.startsWith('SIG')) name = 'SIG' + name;
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
    if (n < SIGRTMIN || n > SIGRTMAX) throw invalidArgument(`invalid signal ${s}`);
    return n;
  }
  const n = (os.constants.signals as Record<string, number>)[name];
  if (n === undefined) throw invalidArgument(`unknown signal ${JSON.stringify(s)}`);
  return n;
}

/**
 * Signal init through a pidfd opened only after checking /proc/<pid>/stat's start time: once the pidfd
 * is open it names that process, so a pid recycled between check and kill cannot be hit.
 */
export function signalInit(rec: Pick<ContainerRecord, 'id' | 'pid' | 'initStartTime'>, sig: number): void {
  // ffi.ts loads the ffi-rs addon only on its first call, so importing it costs `state`/`list` nothing.
  const fd = pidfdOpen(rec.pid);
  try {
    const st = procStat(rec.pid);
    if (!st || st.startTime !== rec.initStartTime) throw notFound(`container ${rec.id}'s init (pid ${rec.pid}) is gone`);
    pidfdSendSignal(fd, sig);
  } finally {
    closeSync(fd);
  }
}

