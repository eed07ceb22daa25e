// fstab-style mount options of the OCI spec -> mount(2) flags, propagation flags and the data
// string, following the table runc and crun use. Options the kernel flags do not know go to data.
import { invalidArgument } from '../../lib/errors.js';

export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20, MANDLOCK: 0x40,
  DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800, BIND: 0x1000, MOVE: 0x2000,
  REC: 0x4000, SILENT: 0x8000, UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20,
  RELATIME: 1 << 21, IVERSION: 1 << 23, STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
} as const;

// [set, clear]: "rw" clears RDONLY, "suid" clears NOSUID, and so on.
const FLAGS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, false], rw: [MS.RDONLY, true],
  nosuid: [MS.NOSUID, false], suid: [MS.NOSUID, true],
  nodev: [MS.NODEV, false], dev: [MS.NODEV, true],
  noexec: [MS.NOEXEC, false], exec: [MS.NOEXEC, true],
  sync: [MS.SYNCHRONOUS, false], async: [MS.SYNCHRONOUS, true],
  dirsync: [MS.DIRSYNC, false],
  remount: [MS.REMOUNT, false],
  mand: [MS.MANDLOCK, false], nomand: [MS.MANDLOCK, true],
  noatime: [MS.NOATIME, false], atime: [MS.NOATIME, true],
  nodiratime: [MS.NODIRATIME, false], diratime: [MS.NODIRATIME, true],
  relatime: [MS.RELATIME, false], norelatime: [MS.RELATIME, true],
  strictatime: [MS.STRICTATIME, false], nostrictatime: [MS.STRICTATIME, true],
  bind: [MS.BIND, false], rbind: [MS.BIND | MS.REC, false],
  silent: [MS.SILENT, false], loud: [MS.SILENT, true],
  iversion: [MS.IVERSION, false], noiversion: [MS.IVERSION, true],
  lazytime: [MS.LAZYTIME, false], nolazytime: [MS.LAZYTIME, true],
  nosymfollow: [MS.NOSYMFOLLOW, false], symfollow: [MS.NOSYMFOLLOW, true],
  defaults: [0, false],
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

// Options runc understands that need mount_setattr or idmapped mounts: refused clearly, never
// silently passed to the filesystem as data.
const UNSUPPORTED = new Set(['rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec',
  'rnodiratime', 'rdiratime', 'rrelatime', 'rnorelatime', 'rnoatime', 'ratime', 'rstrictatime',
  'rnostrictatime', 'rnosymfollow', 'rsymfollow', 'idmap', 'ridmap', 'tmpcopyup']);

export interface ParsedMountOptions { flags: number; propagation: number[]; data: string }

export function parseMountOptions(options: readonly string[] | undefined, where = 'mount'): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const o of options ?? []) {
    const f = FLAGS[o];
    if (f) { flags = f[1] ? flags & ~f[0] : flags | f[0]; continue; }
    const p = PROPAGATION[o];
    if (p !== undefined) { propagation.push(p); continue; }
    if (UNSUPPORTED.has(o)) throw invalidArgument(`${where}: mount option ${JSON.stringify(o)} is not supported by berth`);
    data.push(o);
  }
  return { flags, propagation, data: data.join(',') };
}

export function propagationFlags(name: string, where: string): number {
  const p = PROPAGATION[name];
  if (p === undefined) throw invalidArgument(`${where}: unknown propagation ${JSON.stringify(name)}`);
  return p;
}
