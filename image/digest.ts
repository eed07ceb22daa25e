// Digests are the only names berth trusts for content. A digest is validated before it is ever
// turned into a path, so a hostile manifest cannot point a blob path outside the store.
import crypto from 'node:crypto';
import { invalidArgument } from '../lib/errors.js';

export type Digest = `sha256:${string}`;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Throws INVALID_ARGUMENT unless `s` is `sha256:` followed by 64 lowercase hex digits. */
export function checkDigest(s: unknown, what = 'digest'): Digest {
  if (!isDigest(s)) {
    const shown = typeof s === 'string' ? JSON.stringify(s.length > 100 ? s.slice(0, 100) + '...' : s) : String(s);
    throw invalidArgument(`invalid ${what} ${shown}: only sha256:<64 lowercase hex digits> is accepted`);
  }
  return s;
}

export function hexOf(d: Digest): string {
  return checkDigest(d).slice('sha256:'.length);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}
