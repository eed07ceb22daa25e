// state: the runtime-spec state of one container.
import { validateId } from '../state.js';
import type { Runtime } from './context.js';
import { loadContainer } from './load.js';
import { summarize, type ContainerSummary } from './list.js';

export async function containerState(rt: Runtime, id: string): Promise<ContainerSummary> {
  const { rec, status } = await loadContainer(rt, validateId(id));
  return summarize(rec, status);
}
