// OCI whiteouts (image-spec layer.md): `.wh.<name>` deletes <name> from the layers below,
// `.wh..wh..opq` hides everything below in its directory. Overlayfs spells the same things as a
// 0:0 character device and the trusted.overlay.opaque=y xattr.
import { invalidArgument } from '../lib/errors.js';

export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export type Whiteout = { kind: 'opaque' } | { kind: 'remove'; name: string } | undefined;

/** Classify a base name; throws on whiteouts that would name something outside their directory. */
export function parseWhiteout(base: string): Whiteout {
  if (!base.startsWith(WH_PREFIX)) return undefined;
  if (base === WH_OPAQUE) return { kind: 'opaque' };
  const name = base.slice(WH_PREFIX.length);
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw invalidArgument(`whiteout ${JSON.stringify(base)} names no valid entry: refused`);
  }
  if (name.startsWith(WH_PREFIX)) throw invalidArgument(`whiteout ${JSON.stringify(base)} names a whiteout: refused`);
  return { kind: 'remove', name };
}
