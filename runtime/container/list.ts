// list: every container under the root, as runc's `list` shows them.
import { ociState, type ContainerRecord, type OciState, type Status } from '../state.js';
import type { Runtime } from './context.js';
import { loadContainer } from './load.js';

export interface ContainerSummary extends OciState {
  rootfs: string;
  created: string;
  owner: string;
}

export async function listContainers(rt: Runtime): Promise<ContainerSummary[]> {
  const out: ContainerSummary[] = [];
  for (const id of rt.store.ids()) {
    try {
      const { rec, status } = await loadContainer(rt, id);
      out.push(summarize(rec, status));
    } catch (e) {
      // Removed meanwhile, a stale leftover just cleaned, or being created right now: not listed.
      rt.debug(`list: ${id}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** The OCI state plus what runc's `state` and `list` also print (containerd's go-runc reads them). */
export function summarize(rec: ContainerRecord, status: Status): ContainerSummary {
  const root = rec.config.root?.path ?? 'rootfs';
  return {
    ...ociState(rec, status),
    rootfs: root.startsWith('/') ? root : `${rec.bundle}/${root}`,
    created: rec.created,
    owner: rec.owner,
  };
}
