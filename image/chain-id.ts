// Chain IDs name a stack of layers (image-spec config.md): chain(0)=diff(0),
// chain(n)=sha256(chain(n-1) + " " + diff(n)). Snapshots are keyed by them.
import { sha256, type Digest } from './digest.js';

export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? (d as Digest) : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
