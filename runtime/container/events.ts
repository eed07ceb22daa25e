// events: resource statistics of a container, once or every interval until it stops.
import { requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { loadContainer } from './load.js';
import { sleep } from './destroy.js';

export interface ContainerEvent {
  type: 'stats';
  id: string;
  data: unknown;
}

export async function containerStats(rt: Runtime, id: string): Promise<ContainerEvent> {
  const { rec, status } = await loadContainer(rt, id);
  requireStatus(id, status, ['created', 'running', 'paused'], 'read the stats of');
  return { type: 'stats', id, data: await (await containerCgroup(rec)).stats() };
}

/** Stats every `intervalMs` while the container exists and is not stopped. */
export async function* containerEvents(rt: Runtime, id: string, intervalMs: number, signal?: AbortSignal): AsyncGenerator<ContainerEvent> {
  while (!signal?.aborted) {
    let ev: ContainerEvent;
    try {
      ev = await containerStats(rt, id);
    } catch (e) {
      // The container stopped or was deleted: the stream ends, as runc's does.
      if ((e as { code?: string }).code === 'FAILED_PRECONDITION' || (e as { code?: string }).code === 'NOT_FOUND') return;
      throw e;
    }
    yield ev;
    await sleep(intervalMs);
  }
}
