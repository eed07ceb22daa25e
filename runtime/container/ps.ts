// ps: the processes of a container (its cgroup's members).
import { requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { loadContainer } from './load.js';

export async function containerPids(rt: Runtime, id: string): Promise<number[]> {
  const { rec, status } = await loadContainer(rt, id);
  requireStatus(id, status, ['created', 'running', 'paused'], 'list the processes of');
  return (await (await containerCgroup(rec)).pids()).sort((a, b) => a - b);
}
