// features: what this runtime implements, as runtime-spec features.md describes it.
import { OCI_VERSION } from '../state.js';

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: Record<string, unknown>;
  annotations: Record<string, string>;
}

// The option names runc documents; berth lists those its mount-option parser takes as flags.
const CANDIDATE_MOUNT_OPTIONS = [
  'acl', 'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'iversion', 'lazytime', 'loud',
  'mand', 'noacl', 'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand', 'norelatime',
  'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'ratime', 'rbind', 'rdev', 'rdiratime', 'relatime', 'remount',
  'rexec', 'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec', 'rnorelatime', 'rnostrictatime', 'rnosuid', 'rnosymfollow',
  'ro', 'rprivate', 'rrelatime', 'rro', 'rrw', 'rshared', 'rslave', 'rstrictatime', 'rsuid', 'rsymfollow',
  'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime', 'suid', 'symfollow', 'sync', 'tmpcopyup', 'unbindable',
];

export async function runtimeFeatures(version: string): Promise<Features> {
  const [{ namespaceTypes }, { CAPABILITIES }, { parseMountOptions }, { seccompFeatures }] = await Promise.all([
    import('../spec/config-schema.js'),
    import('../caps.js'),
    import('../plan/mount-options.js'),
    import('../seccomp/index.js'),
  ]);
  const mountOptions = CANDIDATE_MOUNT_OPTIONS.filter((o) => {
    try {
      return parseMountOptions([o]).data === '';
    } catch {
      return false; // refused by berth (idmap, recursive attrs...)
    }
  });
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions,
    linux: {
      namespaces: [...namespaceTypes],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: seccompFeatures(),
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { 'org.berth.runtime.version': version },
  };
}
