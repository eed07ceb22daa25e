// kill: a signal to init, or with `all` to every process in the container's cgroup.
import { requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { withContainer } from './load.js';
import { parseSignal, signalInit } from './signal.js';

export async function killContainer(rt: Runtime, id: string, signal?: string | number, opts: { all?: boolean } = {}): Promise<void> {
  const sig = parseSignal(signal);
  await withContainer(rt, id, async ({ rec, status }) => {
    if (opts.all) {
      // runc allows kill --all on a stopped container whose other processes may still run.
      const cg = await containerCgroup(rec);
      await cg.killAll(sig);
      if (sig === 9 && status === 'paused') await cg.thaw();
      return;
    }
    requireStatus(id, status, ['created', 'running', 'paused'], 'kill');
    signalInit(rec, sig);
  });
}
