// state: the runtime-spec state of one container.
import { ociState, validateId, type OciState } from '../state.js';
import type { Runtime } from './context.js';
import { loadContainer } from './load.js';

export async function containerState(rt: Runtime, id: string): Promise<OciState> {
  const { rec, status } = await loadContainer(rt, validateId(id));
  return ociState(rec, status);
}
