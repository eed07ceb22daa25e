// The launch plan wire format: what Node hands berth-init (native/berth-init.c) so C never parses JSON.
//
//   header   8 bytes magic "BRTHPLAN", u32 version (PLAN_VERSION), u32 record count
//   record   u32 tag, u32 payload length, payload          (all integers little-endian, no padding)
//
// Payload kinds: u32 / u64 / i32 numbers; `str` = raw bytes without NUL (C copies and terminates;
// the encoder refuses embedded NULs); `strs` = NUL-terminated strings back to back. A record may
// repeat (ENV, ARG, MOUNT, ...) and keeps its order. C rejects an unknown magic, version or tag and
// any record whose length does not match its kind, naming the tag. Tags are listed in `Tag` below
// and mirrored by `enum tag` in berth-init.c; a new tag means a new PLAN_VERSION.
import { invalidArgument } from '../../lib/errors.js';

export const PLAN_MAGIC = 'BRTHPLAN';
export const PLAN_VERSION = 1;

export const Tag = {
  MODE: 1,              // u32: 1 create, 2 exec
  ROOTFS: 2,            // str: absolute host path of the rootfs
  CLONE_FLAGS: 3,       // u64: CLONE_NEW* of the namespaces to create (never NEWCGROUP, see 4)
  UNSHARE_CGROUP: 4,    // empty: unshare(CLONE_NEWCGROUP) after Node placed the process in its cgroups
  SETNS: 5,             // u32 CLONE_NEW* type, str path: join an existing namespace
  UID_MAP: 6,           // str: /proc/<pid>/uid_map contents
  GID_MAP: 7,           // str
  SETGROUPS_DENY: 8,    // empty: write "deny" to /proc/<pid>/setgroups before gid_map
  TIME_OFFSETS: 9,      // str: /proc/self/timens_offsets contents
  MOUNT: 10,            // u32 kind (0 plain, 1 bind), u32 nprop, u64 flags, u64 prop[nprop], strs source,dest,type,data
  ROOTFS_PROPAGATION: 11, // u64
  READONLY_ROOT: 12,    // empty
  NO_PIVOT: 13,         // empty: MS_MOVE + chroot instead of pivot_root
  MASKED_PATH: 14,      // str
  READONLY_PATH: 15,    // str
  DEVICE: 16,           // u32 S_IF* type, u32 perm mode, u32 major, u32 minor, u32 uid, u32 gid, str path
  BIND_DEVICES: 17,     // empty: bind devices from the host (mknod is refused in a user namespace)
  DEV_SYMLINKS: 18,     // empty: create /dev/fd, /dev/std{in,out,err}, /dev/ptmx -> pts/ptmx
  HOSTNAME: 19,         // str
  DOMAINNAME: 20,       // str
  SYSCTL: 21,           // strs key, value (key with dots, as in the spec)
  RLIMIT: 22,           // u32 resource, u64 soft, u64 hard
  OOM_SCORE_ADJ: 23,    // i32
  CAPS: 24,             // u64 x5: bounding, effective, inheritable, permitted, ambient
  NO_NEW_PRIVS: 25,     // empty
  USER: 26,             // u32 uid, u32 gid
  ADDITIONAL_GIDS: 27,  // u32[]
  UMASK: 28,            // u32
  CWD: 29,              // str
  ENV: 30,              // str, repeated
  ARG: 31,              // str, repeated
  SECCOMP: 32,          // bytes: struct sock_filter[] (8 bytes each)
  SECCOMP_FLAGS: 33,    // u32 SECCOMP_FILTER_FLAG_*
  TERMINAL: 34,         // empty
  CONSOLE_SIZE: 35,     // u32 rows, u32 cols
  CONSOLE_SOCKET: 36,   // str
  EXEC_FIFO: 37,        // str
  HOOK_CREATE_CONTAINER: 38, // u32 timeout s (0: none), u32 nargs, u32 nenv, strs path, args..., env...
  HOOK_START_CONTAINER: 39,  // same
  PERSONALITY: 40,      // u32
  PRESERVE_FDS: 41,     // u32
  NEW_KEYRING: 42,      // empty: join a fresh session keyring
  JOIN_PID: 43,         // u32: exec: the container's init, whose /proc/<pid>/root becomes our root
  DETACH: 44,           // empty: exec: leave once the process started
  IOPRIO: 45,           // u32: ioprio_set value, class << 13 | level
  SCHEDULER: 46,        // u32 policy, u32 nice (i32), u32 priority, u64 flags, u64 runtime, u64 deadline, u64 period
  CPU_AFFINITY_INITIAL: 47, // u32[] cpus: exec: berth-init's own affinity before joining (inherited, then replaced)
  CPU_AFFINITY_FINAL: 48,   // u32[] cpus: the process's affinity right before execve
} as const;
export type TagName = keyof typeof Tag;

export const MountKind = { PLAIN: 0, BIND: 1 } as const;

function str(s: string, what: string): Buffer {
  if (s.includes('\0')) throw invalidArgument(`${what} contains a NUL byte`);
  return Buffer.from(s, 'utf8');
}

export class PlanWriter {
  private parts: Buffer[] = [];
  private count = 0;

  private rec(tag: number, payload: Buffer): this {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(tag, 0);
    h.writeUInt32LE(payload.length, 4);
    this.parts.push(h, payload);
    this.count++;
    return this;
  }
  flag(tag: number): this { return this.rec(tag, Buffer.alloc(0)); }
  u32(tag: number, v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return this.rec(tag, b); }
  i32(tag: number, v: number): this { const b = Buffer.alloc(4); b.writeInt32LE(v); return this.rec(tag, b); }
  u64(tag: number, v: bigint | number): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return this.rec(tag, b); }
  str(tag: number, s: string, what = `plan record ${tag}`): this { return this.rec(tag, str(s, what)); }
  bytes(tag: number, b: Buffer): this { return this.rec(tag, b); }
  /** Fixed-width numbers then NUL-terminated strings: the layout of composite records. */
  composite(tag: number, nums: Array<['u32', number] | ['u64', bigint | number]>, strings: string[], what: string): this {
    const parts: Buffer[] = [];
    for (const [k, v] of nums) {
      const b = Buffer.alloc(k === 'u32' ? 4 : 8);
      if (k === 'u32') b.writeUInt32LE((v as number) >>> 0); else b.writeBigUInt64LE(BigInt(v));
      parts.push(b);
    }
    for (const s of strings) parts.push(str(s, what), Buffer.from([0]));
    return this.rec(tag, Buffer.concat(parts));
  }
  finish(): Buffer {
    const h = Buffer.alloc(16);
    h.write(PLAN_MAGIC, 0, 'latin1');
    h.writeUInt32LE(PLAN_VERSION, 8);
    h.writeUInt32LE(this.count, 12);
    return Buffer.concat([h, ...this.parts]);
  }
}

export interface PlanRecord { tag: number; name: string; payload: Buffer }

/** Decode a plan back into records (tests, debugging): the inverse of PlanWriter. */
export function decodePlan(buf: Buffer): PlanRecord[] {
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== PLAN_MAGIC) throw invalidArgument('launch plan: bad magic');
  if (buf.readUInt32LE(8) !== PLAN_VERSION) throw invalidArgument(`launch plan: version ${buf.readUInt32LE(8)} is not ${PLAN_VERSION}`);
  const names = new Map<number, string>(Object.entries(Tag).map(([k, v]) => [v, k]));
  const out: PlanRecord[] = [];
  let off = 16;
  while (off < buf.length) {
    if (off + 8 > buf.length) throw invalidArgument('launch plan: truncated record header');
    const tag = buf.readUInt32LE(off), len = buf.readUInt32LE(off + 4);
    if (off + 8 + len > buf.length) throw invalidArgument(`launch plan: record ${tag} overruns the plan`);
    out.push({ tag, name: names.get(tag) ?? `TAG_${tag}`, payload: buf.subarray(off + 8, off + 8 + len) });
    off += 8 + len;
  }
  if (out.length !== buf.readUInt32LE(12)) throw invalidArgument('launch plan: record count mismatch');
  return out;
}
