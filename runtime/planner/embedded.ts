// A planner inside a long-lived berth process (the engine: `berth serve`, or the `berth` CLI while it
// waits for a container): the runtime calls it makes through berth-monitor (`berth-runtime create`,
// `exec`) become thin-client calls served here instead of a cold Node start each (~100 ms).
import fs from 'node:fs';
import path from 'node:path';
import { Planner } from './server.js';

let embedded: Promise<string | undefined> | undefined;

/**
 * Serve a planner on <stateDir>/planner/<pid>.sock and point BERTH_RUNTIME_PLANNER of this process (so
 * of the monitors and runtimes it spawns) at it; once per process. A BERTH_RUNTIME_PLANNER the user
 * set (a path, or "off") is left alone. Resolves to the socket, or undefined when none was started.
 */
export function embedPlanner(stateDir: string, log?: (msg: string) => void): Promise<string | undefined> {
  embedded ??= start(stateDir, log).catch((e) => {
    log?.(`no embedded planner: ${(e as Error).message}`);
    return undefined;
  });
  return embedded;
}

async function start(stateDir: string, log?: (msg: string) => void): Promise<string | undefined> {
  if (process.env.BERTH_RUNTIME_PLANNER) return undefined;
  const dir = path.join(stateDir, 'planner');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  sweepDead(dir);
  const planner = await Planner.listen({ socket: path.join(dir, `${process.pid}.sock`), log });
  // Serving must not keep a CLI alive; the socket goes with the process.
  planner.unref();
  process.once('exit', () => { try { fs.unlinkSync(planner.socket); } catch { /* gone */ } });
  process.env.BERTH_RUNTIME_PLANNER = planner.socket;
  // Right after this the engine starts a monitor, whose runtime client connects ~10 ms later: time
  // enough to pay the first validation before the first create needs it.
  setImmediate(() => { void import('../container/bundle.js').then((m) => m.warmBundleReader()).catch(() => {}); });
  return planner.socket;
}

/** Sockets of processes that died without removing theirs (clients fall back, but keep the dir tidy). */
function sweepDead(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    const m = /^(\d+)\.sock$/.exec(f);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(dir, f), { force: true });
    }
  }
}
