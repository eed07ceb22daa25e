// Digests and chain IDs. Every digest is validated before it becomes part of a path.
import { createHash } from 'node:crypto';
import { invalidArgument } from '../lib/errors.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function assertDigest(d: string, what = 'digest'): string {
  if (typeof d !== 'string' || !SHA256.test(d)) throw invalidArgument(`${what} ${JSON.stringify(d)} is not a sha256:<64 hex> digest`);
  return d;
}

/** OCI image-spec chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    assertDigest(d, 'diff ID');
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex'));
  }
  return out;
}
