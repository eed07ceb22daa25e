// The linux.seccomp part of `berth-runtime features` (runtime-spec features.md).
import { seccompFlagsSupported, seccompArchResolveName, seccompVersion } from '../../native/ffi.js';
import { seccompActionValues, seccompArchValues, seccompOperatorValues } from '../spec/seccomp-schema.js';
import { flagValue, SECCOMP_FILTER_FLAG_NEW_LISTENER } from './constants.js';

export interface SeccompFeatures {
  enabled: boolean;
  actions: string[];
  operators: string[];
  archs: string[];
  knownFlags: string[];
  supportedFlags: string[];
}

let cached: SeccompFeatures | undefined;

export function seccompFeatures(): SeccompFeatures {
  if (cached) return cached;
  let archs: string[] = [];
  let enabled = true;
  try {
    seccompVersion();
    archs = seccompArchValues.filter((a) => seccompArchResolveName(a.slice('SCMP_ARCH_'.length).toLowerCase()) !== 0);
  } catch {
    enabled = false; // libseccomp.so.2 missing: berth cannot compile profiles
  }
  const knownFlags = Object.keys(flagValue);
  // WAIT_KILLABLE_RECV is only accepted together with a notification listener.
  const supportedFlags = enabled ? knownFlags.filter((f) => {
    const bit = flagValue[f as keyof typeof flagValue];
    return seccompFlagsSupported(f === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' ? bit | SECCOMP_FILTER_FLAG_NEW_LISTENER : bit);
  }) : [];
  cached = {
    enabled,
    // NOTIFY is refused by the compiler until user notification is implemented.
    actions: seccompActionValues.filter((a) => a !== 'SCMP_ACT_NOTIFY'),
    operators: [...seccompOperatorValues],
    archs,
    knownFlags,
    supportedFlags,
  };
  return cached;
}
