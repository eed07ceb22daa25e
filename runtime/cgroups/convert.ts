// Unit conversions between the spec (cgroup v1 vocabulary) and cgroup v2 files, matching runc's so a
// config behaves the same under either runtime.
import { invalidArgument } from '../../lib/errors.js';

/**
 * cpu.shares [2, 262144] -> cpu.weight [1, 10000]. runc's current mapping is a quadratic in log2
 * space chosen so the defaults line up (1024 -> 100), not the old linear one (1024 -> 39).
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(Math.pow(10, exponent));
}

/** blkio.weight [10, 1000] -> io.weight [1, 10000], linear like runc (integer arithmetic). */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * The spec's memory.swap is memory+swap (v1 memsw); v2's memory.swap.max is swap alone.
 * Returns -1 for "max", 0 for "leave unset", else the swap-only byte count.
 */
export function memorySwapToV2(swap: number, memory: number): number {
  // memory unlimited and swap unset: v1 would make both unlimited, so do the same.
  if (memory === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (memory === 0 || memory === -1) throw invalidArgument('cgroup: memory.swap needs a memory.limit (swap is memory+swap in the spec)');
  if (memory < 0) throw invalidArgument(`cgroup: invalid memory.limit ${memory}`);
  if (swap < memory) throw invalidArgument(`cgroup: memory.swap (${swap}, memory+swap) must be >= memory.limit (${memory})`);
  return swap - memory;
}

/** cpu.max "quota period": quota <= 0 means max; the kernel's default period is 100000 us. */
export function cpuMax(quota: number | undefined, period: number | undefined): string | undefined {
  const q = quota ?? 0, p = period ?? 0;
  if (q === 0 && p === 0) return undefined;
  return `${q > 0 ? q : 'max'} ${p !== 0 ? p : 100000}`;
}

/** "max" for negative limits (unlimited), the number otherwise. */
export function maxOr(n: number): string {
  return n < 0 ? 'max' : String(n);
}
