// Platform selection from an index: os/architecture[/variant], default the host's (like containerd's
// platforms.Default with its arm variant fallbacks).
import { invalidArgument, notFound } from '../lib/errors.js';
import type { Descriptor, Platform } from './schemas.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw invalidArgument(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const p: Platform = { os: parts[0].toLowerCase(), architecture: normaliseArch(parts[1].toLowerCase()) };
  if (parts[2]) p.variant = parts[2].toLowerCase();
  return p;
}

function normaliseArch(a: string): string {
  return ({ x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', i386: '386' } as Record<string, string>)[a] ?? a;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

function variantOk(want: Platform, have: Platform): boolean {
  if (!want.variant) return true;
  const hv = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  if (!hv) return want.architecture === 'arm64'; // arm64 without a variant is v8
  if (want.architecture === 'arm') {
    // An armv7 host runs v6 and v5 images too.
    const n = (v: string) => Number(v.replace(/^v/, ''));
    return n(hv) <= n(want.variant);
  }
  return hv === want.variant;
}

export function matchesPlatform(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  return have.os === want.os && normaliseArch(have.architecture) === want.architecture && variantOk(want, have);
}

/** Pick the best manifest of an index for `want`; an exact variant beats a compatible one. */
export function selectManifest(manifests: readonly Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter((m) => matchesPlatform(want, m.platform));
  if (!candidates.length) {
    const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
    throw notFound(`no image for platform ${formatPlatform(want)} (the index offers: ${offered || 'nothing'})`);
  }
  const exact = candidates.find((m) => m.platform?.variant === want.variant);
  return exact ?? candidates[0];
}
