// The exit status a monitor leaves in <dir>/exit.json, and waiting for it without hanging on a
// monitor that died (kill -9, OOM): then the container is reported stopped with reason "monitor died".
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { BerthError } from '../lib/errors.js';
import { monitorAlive } from './monitor-process.js';
import { parseExitStatus, type ExitStatus } from './session.js';

export const EXIT_FILE = 'exit.json';
export const MONITOR_DIED = 'monitor died';

export function readExit(dir: string): ExitStatus | undefined {
  const f = path.join(dir, EXIT_FILE);
  let text: string;
  try {
    text = fs.readFileSync(f, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseExitStatus(text, f);
}

export interface WaitTarget { dir: string; monitorPid: number; monitorStartTime: string }

/**
 * The exit status once the monitor has one; if the monitor is gone without writing it, a
 * synthesized status (reason "monitor died", exit code 255) that is also written to exit.json
 * so every later reader agrees.
 */
export function waitExit(t: WaitTarget, opts: { signal?: AbortSignal; pollMs?: number } = {}): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    let watcher: fs.FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const stop = () => {
      finished = true;
      watcher?.close();
      if (timer) clearInterval(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => { stop(); reject(new BerthError('CANCELLED', `waiting for ${t.dir}/exit.json was cancelled`)); };
    const check = () => {
      if (finished) return;
      try {
        const st = readExit(t.dir);
        if (st) { stop(); return resolve(st); }
        if (!monitorAlive(t.monitorPid, t.monitorStartTime)) {
          // The monitor writes exit.json before it exits: look once more before declaring it dead.
          const late = readExit(t.dir);
          stop();
          return resolve(late ?? recordMonitorDied(t.dir));
        }
      } catch (e) {
        stop();
        reject(e);
      }
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort);
    try {
      // fs.watch wakes us on the rename that publishes exit.json; the interval catches a dead monitor.
      watcher = fs.watch(t.dir, (_ev, name) => { if (name === EXIT_FILE) check(); });
      watcher.on('error', () => {});
    } catch {
      // The directory vanished: the poll below reports what it finds.
    }
    // Without a watcher the poll is all there is: then it must be short enough for normal exits too.
    const pollMs = opts.pollMs ?? 200;
    timer = setInterval(check, watcher ? pollMs : Math.min(pollMs, 200));
    check();
  });
}

function recordMonitorDied(dir: string): ExitStatus {
  const st: ExitStatus = { exitCode: 255, signal: null, exitedAt: new Date().toISOString(), reason: MONITOR_DIED, oomKilled: false };
  try {
    if (!fs.existsSync(path.join(dir, EXIT_FILE))) writeJsonAtomic(path.join(dir, EXIT_FILE), st);
  } catch {
    // Reporting matters more than recording: the dir may be gone already.
  }
  return st;
}
