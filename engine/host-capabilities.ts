// The capabilities a container can be given here: the known ones that are also in this process's
// bounding set. `--privileged` means "everything berth itself has" (as podman does): asking the
// runtime for a capability the caller lacks (CAP_SYS_RESOURCE in a restricted VM) fails capset.
import fs from 'node:fs';
import { CAPABILITIES, capabilityNames } from '../runtime/caps.js';

let cached: readonly string[] | undefined;

export function hostCapabilities(): readonly string[] {
  if (cached) return cached;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) {
      const own = new Set<string>(capabilityNames(BigInt(`0x${m[1]}`)));
      cached = CAPABILITIES.filter((c) => own.has(c));
      return cached;
    }
  } catch { /* no /proc: assume every known capability */ }
  cached = CAPABILITIES;
  return cached;
}
