// Every libc / libseccomp call Node makes itself goes through this file, so the binding
// library (ffi-rs today, koffi as the known alternative) can be swapped in one place.
// Rule from DESIGN.md: Node never changes its own namespaces; nothing here may unshare/setns.
import { createRequire } from 'node:module';
import { BerthError, type ErrorCode } from '../lib/errors.js';

const require = createRequire(import.meta.url);
type FfiRs = typeof import('ffi-rs');
let ffiMod: FfiRs | undefined;
const opened = new Set<string>();

// ffi-rs's own index.js tells glibc from musl with process.report.getReport(), which costs ~25 ms,
// a tenth of a CLI call. On glibc x86-64 load its prebuilt binding directly and apply the one
// argument normalisation its wrapper adds (array parameters get their length); else use ffi-rs.
function loadFfi(): FfiRs {
  if (process.platform === 'linux' && process.arch === 'x64' && process.versions.uv && !process.env.BERTH_FFI_GENERIC) {
    try {
      const native = require('@yuuang/ffi-rs-linux-x64-gnu') as FfiRs & { load: (p: unknown) => unknown };
      const arrayTypes = new Set<number>([19, 3, 4, 5, 10, 13]); // I16Array I32Array StringArray DoubleArray U8Array FloatArray
      const FFI_ARRAY_TAG = (native as unknown as { FFITypeTag: { Array: number } }).FFITypeTag.Array;
      const withArrayLengths = (params: { paramsType?: unknown[]; paramsValue?: unknown[]; freeResultMemory?: boolean }) => {
        params.paramsType = params.paramsType?.map((t, i) =>
          typeof t === 'number' && arrayTypes.has(t) ? { ffiTypeTag: FFI_ARRAY_TAG, type: t, length: (params.paramsValue![i] as { length: number }).length } : t);
        params.freeResultMemory ??= false;
        return params;
      };
      return { ...native, load: (p: never) => native.load(withArrayLengths(p)) } as unknown as FfiRs;
    } catch {
      /* fall through to the generic loader */
    }
  }
  return require('ffi-rs') as FfiRs;
}

function ffi(): FfiRs {
  ffiMod ??= loadFfi();
  return ffiMod;
}

function lib(name: 'libc' | 'libseccomp'): string {
  if (!opened.has(name)) {
    const path = name === 'libc' ? 'libc.so.6' : 'libseccomp.so.2';
    ffi().open({ library: name, path });
    opened.add(name);
  }
  return name;
}

/** A failed syscall: carries errno name/number and the step that failed. */
export class SyscallError extends BerthError {
  constructor(readonly syscall: string, readonly errno: number, readonly errnoText: string, detail: string) {
    super(errnoCode(errno), `${syscall}${detail ? ' ' + detail : ''}: ${errnoText}`);
  }
}

function errnoCode(errno: number): ErrorCode {
  switch (errno) {
    case 1: case 13: return 'PERMISSION_DENIED'; // EPERM, EACCES
    case 2: case 3: return 'NOT_FOUND'; // ENOENT, ESRCH
    case 17: return 'ALREADY_EXISTS';
    case 22: return 'INVALID_ARGUMENT';
    case 11: case 16: return 'UNAVAILABLE'; // EAGAIN, EBUSY
    case 28: case 24: return 'RESOURCE_EXHAUSTED';
    default: return 'INTERNAL';
  }
}

export const T = {
  i32: 1 as const, i64: 8 as const, u64: 12 as const, str: 0 as const, buf: 10 as const,
  ext: 11 as const, void: 7 as const, u32: 20 as const,
};

/** Call a libc function and return its integer result, throwing SyscallError when it is < 0. */
export function call(fn: string, params: number[], values: unknown[], detail = '', libname: 'libc' | 'libseccomp' = 'libc', ret: number = T.i32): number {
  const r = ffi().load({
    library: lib(libname), funcName: fn, retType: ret, paramsType: params, paramsValue: values, errno: true,
  } as never) as unknown as { value: number; errnoCode: number; errnoMessage: string };
  // ffi-rs's errnoCode is stale on success: only read it when the call reports failure.
  if (r.value < 0) throw new SyscallError(fn, r.errnoCode, r.errnoMessage, detail);
  return r.value;
}

/** Raw access for modules with special needs (External pointers, buffers): libseccomp. */
export function rawLoad(libname: 'libc' | 'libseccomp', fn: string, retType: unknown, paramsType: unknown[], paramsValue: unknown[], errno = false): any {
  return ffi().load({ library: lib(libname), funcName: fn, retType, paramsType, paramsValue, errno } as never);
}

export function createExternalBuffer(ptr: unknown, len: number): Buffer {
  return ffi().createExternalBuffer(ptr as never, len);
}

// ---- mount(2) family -------------------------------------------------------------
export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, REMOUNT: 0x20, NOATIME: 0x400,
  NODIRATIME: 0x800, BIND: 0x1000, MOVE: 0x2000, REC: 0x4000, PRIVATE: 1 << 18,
  SLAVE: 1 << 19, SHARED: 1 << 20, UNBINDABLE: 1 << 17, RELATIME: 1 << 21, STRICTATIME: 1 << 24,
} as const;
export const MNT_DETACH = 2;

export function mount(source: string, target: string, fstype: string, flags: number, data = ''): void {
  call('mount', [T.str, T.str, T.str, T.u64, T.str], [source, target, fstype, flags, data], `${fstype || 'bind'} ${source} on ${target}`);
}

export function umount2(target: string, flags = 0): void {
  call('umount2', [T.str, T.i32], [target, flags], target);
}

// ---- process control --------------------------------------------------------------
const SYS_pidfd_open = 434;
const SYS_pidfd_send_signal = 424;
const SYS_openat2 = 437;

export function kill(pid: number, sig: number): void {
  call('kill', [T.i32, T.i32], [pid, sig], `pid ${pid} signal ${sig}`);
}

export function pidfdOpen(pid: number): number {
  return call('syscall', [T.i64, T.i32, T.u32], [SYS_pidfd_open, pid, 0], `pidfd_open ${pid}`);
}

export function pidfdSendSignal(pidfd: number, sig: number): void {
  call('syscall', [T.i64, T.i32, T.i32, T.i64, T.u32], [SYS_pidfd_send_signal, pidfd, sig, 0, 0], `pidfd_send_signal ${sig}`);
}

export function prctl(option: number, arg2: number, arg3 = 0, arg4 = 0, arg5 = 0): number {
  return call('prctl', [T.i32, T.u64, T.u64, T.u64, T.u64], [option, arg2, arg3, arg4, arg5], `prctl ${option}`);
}

// ---- files -----------------------------------------------------------------------
export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

export function flock(fd: number, op: number): void {
  call('flock', [T.i32, T.i32], [fd, op], `flock ${op}`);
}

export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;

/** openat2(2): open `path` relative to `dirfd` with RESOLVE_* confinement. Returns an fd. */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return call('syscall', [T.i64, T.i32, T.str, T.buf, T.u64], [SYS_openat2, dirfd, path, how, 24], `openat2 ${path}`);
}

export function closeFd(fd: number): void {
  call('close', [T.i32], [fd]);
}

// ---- libseccomp (seccomp owner) ----------------------------------------------------
// The runtime compiles OCI seccomp profiles to classic BPF here, in Node; berth-init only installs
// the bytes, so the C core needs no libseccomp. Return values are passed through raw because
// libseccomp reports failure as -errno and seccomp_syscall_resolve_name legitimately returns
// negative pseudo-syscall numbers for calls that exist only on other architectures.
const SYS_memfd_create = 319;
const SYS_seccomp = 317;

/** seccomp_init(def_action): an opaque filter context; null when libseccomp rejects the action. */
export function seccompInit(defAction: number): unknown {
  const ctx = rawLoad('libseccomp', 'seccomp_init', T.ext, [T.u32], [defAction >>> 0]);
  return ffi().isNullPointer(ctx as never) ? null : ctx;
}

export function seccompRelease(ctx: unknown): void {
  rawLoad('libseccomp', 'seccomp_release', T.void, [T.ext], [ctx]);
}

/** Token for an SCMP_ARCH_* name without the prefix (e.g. "x86_64"); 0 when unknown. */
export function seccompArchResolveName(name: string): number {
  return rawLoad('libseccomp', 'seccomp_arch_resolve_name', T.u32, [T.str], [name]) >>> 0;
}

export function seccompArchNative(): number {
  return rawLoad('libseccomp', 'seccomp_arch_native', T.u32, [], []) >>> 0;
}

/** 0, or -errno (-EEXIST when the architecture is already in the filter). */
export function seccompArchAdd(ctx: unknown, archToken: number): number {
  return rawLoad('libseccomp', 'seccomp_arch_add', T.i32, [T.ext, T.u32], [ctx, archToken >>> 0]);
}

/** Syscall number on the native arch, a negative pseudo-number, or -1 (__NR_SCMP_ERROR) when unknown. */
export function seccompSyscallResolveName(name: string): number {
  return rawLoad('libseccomp', 'seccomp_syscall_resolve_name', T.i32, [T.str], [name]);
}

/** Syscall number of `name` on the given SCMP_ARCH_* token (x32 numbers carry bit 30); negative when unknown there. */
export function seccompSyscallResolveNameArch(archToken: number, name: string): number {
  return rawLoad('libseccomp', 'seccomp_syscall_resolve_name_arch', T.i32, [T.u32, T.str], [archToken >>> 0, name]);
}

/** seccomp_rule_add_array; `args` is argCount packed struct scmp_arg_cmp (24 bytes each). 0 or -errno. */
export function seccompRuleAddArray(ctx: unknown, action: number, syscall: number, argCount: number, args: Buffer): number {
  return rawLoad('libseccomp', 'seccomp_rule_add_array', T.i32, [T.ext, T.u32, T.i32, T.u32, T.buf],
    [ctx, action >>> 0, syscall, argCount, argCount > 0 ? args : Buffer.alloc(24)]);
}

/** seccomp_attr_set(ctx, attr, value): 0 or -errno. */
export function seccompAttrSet(ctx: unknown, attr: number, value: number): number {
  return rawLoad('libseccomp', 'seccomp_attr_set', T.i32, [T.ext, T.i32, T.u32], [ctx, attr, value >>> 0]);
}

/** Writes the filter's BPF program to fd: 0 or -errno. */
export function seccompExportBpf(ctx: unknown, fd: number): number {
  return rawLoad('libseccomp', 'seccomp_export_bpf', T.i32, [T.ext, T.i32], [ctx, fd]);
}

/** libseccomp's own version as [major, minor, micro]. */
export function seccompVersion(): [number, number, number] {
  const v = rawLoad('libseccomp', 'seccomp_version', T.ext, [], []);
  const b = createExternalBuffer(v, 12);
  return [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8)];
}

export function memfdCreate(name: string, flags: number): number {
  return call('syscall', [T.i64, T.str, T.u32], [SYS_memfd_create, name, flags], `memfd_create ${name}`);
}

/**
 * Whether the kernel accepts SECCOMP_SET_MODE_FILTER with these flags: called with a NULL program,
 * so nothing is ever installed; a kernel that knows the flags fails copying the program (EFAULT),
 * one that does not rejects the flags first (EINVAL).
 */
export function seccompFlagsSupported(flags: number): boolean {
  const r = ffi().load({
    library: lib('libc'), funcName: 'syscall', retType: T.i64, paramsType: [T.i64, T.u32, T.u32, T.u64],
    paramsValue: [SYS_seccomp, 1, flags >>> 0, 0], errno: true,
  } as never) as unknown as { value: number; errnoCode: number };
  return r.value < 0 && r.errnoCode === 14;
}

// ---- snapshotter: device nodes, xattrs, new mount API ------------------------------------
// Node's fs has no mknod and no xattrs; the layer applier needs both (devices, fifos, overlay
// whiteouts, security.capability). The new mount API (fsopen/fsconfig) lets overlay take its
// lower dirs one by one ("lowerdir+", kernel >= 6.8), so long layer chains are not bounded by
// the one-page limit of mount(2)'s data string.
const SYS_move_mount = 429;
const SYS_fsopen = 430;
const SYS_fsconfig = 431;
const SYS_fsmount = 432;
export const AT_FDCWD = -100;

/** makedev(3) for Linux's dev_t encoding. */
export function makedev(major: number, minor: number): number {
  return (((major & 0xfffff000) * 2 ** 32) + ((major & 0xfff) << 8) + ((minor & 0xffffff00) * 2 ** 12) + (minor & 0xff));
}

/** mknodat(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknodat(dirfd: number, name: string, mode: number, dev: number): void {
  call('mknodat', [T.i32, T.str, T.u32, T.u64], [dirfd, name, mode, dev], `${name}`);
}

/** lsetxattr(2): never follows a final symlink. */
export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  call('lsetxattr', [T.str, T.str, T.buf, T.u64, T.i32], [path, name, value, value.length, flags], `${name} on ${path}`);
}

function xattrRead(fn: 'lgetxattr' | 'llistxattr', path: string, name: string | undefined): Buffer {
  // ffi-rs copies U8Array arguments in, not out: give libc malloc'd memory and read it back.
  for (let size = 256; ; size *= 4) {
    const ptr = rawLoad('libc', 'malloc', T.ext, [T.u64], [size]);
    try {
      const n = name === undefined
        ? call(fn, [T.str, T.ext, T.u64], [path, ptr, size], path)
        : call(fn, [T.str, T.str, T.ext, T.u64], [path, name, ptr, size], `${name} on ${path}`);
      return Buffer.from(createExternalBuffer(ptr, n));
    } catch (e) {
      if (e instanceof SyscallError && e.errno === 34 && size < 1 << 20) continue; // ERANGE: grow
      throw e;
    } finally {
      rawLoad('libc', 'free', T.void, [T.ext], [ptr]);
    }
  }
}

/** lgetxattr(2); throws SyscallError (errno 61 ENODATA) when the attribute is absent. */
export function lgetxattr(path: string, name: string): Buffer {
  return xattrRead('lgetxattr', path, name);
}

/** llistxattr(2): the attribute names of `path` (not following a final symlink). */
export function llistxattr(path: string): string[] {
  return xattrRead('llistxattr', path, undefined).toString('latin1').split('\0').filter(Boolean);
}

export const FSCONFIG = { SET_FLAG: 0, SET_STRING: 1, CMD_CREATE: 6 } as const;
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;

export function fsopen(fstype: string): number {
  return call('syscall', [T.i64, T.str, T.u32], [SYS_fsopen, fstype, 1 /* FSOPEN_CLOEXEC */], `fsopen ${fstype}`);
}

export function fsconfigString(fd: number, key: string, value: string): void {
  call('syscall', [T.i64, T.i32, T.u32, T.str, T.str, T.i32], [SYS_fsconfig, fd, FSCONFIG.SET_STRING, key, value, 0], `fsconfig ${key}=${value}`);
}

export function fsconfigFlag(fd: number, key: string): void {
  call('syscall', [T.i64, T.i32, T.u32, T.str, T.i64, T.i32], [SYS_fsconfig, fd, FSCONFIG.SET_FLAG, key, 0, 0], `fsconfig ${key}`);
}

export function fsconfigCreate(fd: number): void {
  call('syscall', [T.i64, T.i32, T.u32, T.i64, T.i64, T.i32], [SYS_fsconfig, fd, FSCONFIG.CMD_CREATE, 0, 0, 0], 'fsconfig create');
}

/** fsmount(2): returns a detached mount fd; `attrs` are MOUNT_ATTR_* bits. */
export function fsmount(fd: number, attrs: number): number {
  return call('syscall', [T.i64, T.i32, T.u32, T.u32], [SYS_fsmount, fd, 1 /* FSMOUNT_CLOEXEC */, attrs], 'fsmount');
}

/** move_mount(2) of a detached mount fd onto `target`. */
export function moveMountFd(mfd: number, target: string): void {
  call('syscall', [T.i64, T.i32, T.str, T.i32, T.str, T.u32], [SYS_move_mount, mfd, '', AT_FDCWD, target, 4 /* MOVE_MOUNT_F_EMPTY_PATH */], `move_mount to ${target}`);
}

// ---- bpf(2) and native memory (added for the cgroup v2 device filter, runtime/cgroups) ----------
// bpf(2) attributes hold pointers to other buffers (instructions, license, log), so those must live at
// stable native addresses: NativeMem is calloc'd memory seen from JS as a Buffer, with its address.
const SYS_bpf = 321; // x86_64

export interface NativeMem { buf: Buffer; addr: number; free(): void }

export function nativeAlloc(len: number): NativeMem {
  const ext = rawLoad('libc', 'calloc', T.ext, [T.u64, T.u64], [1, len]);
  if (ffi().isNullPointer(ext)) throw new SyscallError('calloc', 12, 'Cannot allocate memory', `${len} bytes`);
  // memmove(p, p, 0) returns p: the cheapest way to learn the address behind an External.
  const addr = rawLoad('libc', 'memmove', T.u64, [T.ext, T.ext, T.u64], [ext, ext, 0]) as number;
  const buf = createExternalBuffer(ext, len);
  let freed = false;
  return {
    buf, addr,
    free() { if (!freed) { freed = true; rawLoad('libc', 'free', T.void, [T.ext], [ext]); } },
  };
}

/** bpf(cmd, attr, size) with attr at a native address; returns the syscall result (an fd for loads). */
export function bpf(cmd: number, attrAddr: number, size: number, detail = ''): number {
  return call('syscall', [T.i64, T.i32, T.u64, T.u32], [SYS_bpf, cmd, attrAddr, size], `bpf cmd ${cmd}${detail ? ' ' + detail : ''}`);
}

// ---- reaping adopted children (added for the foreground `run`, runtime/container/run.ts) ---------
// berth-init's parent exits after create, so a container's init is re-parented to the nearest
// subreaper: a foreground `run` makes itself one and then collects init's exit status with waitid on
// a pidfd (never waitpid(-1), which would race libuv's own reaper).
export const PR_SET_CHILD_SUBREAPER = 36;
const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;

/**
 * waitid(P_PIDFD, pidfd, WEXITED|WNOHANG): the exit status of a child that has exited (128+signal when
 * killed by one), or undefined while it still runs. Only for our own (or adopted) children.
 */
export function waitidPidfdNoHang(pidfd: number): number | undefined {
  // The kernel writes siginfo_t there: native memory, read back through its Buffer view.
  const mem = nativeAlloc(128);
  try {
    call('waitid', [T.i32, T.i32, T.u64, T.i32], [P_PIDFD, pidfd, mem.addr, WEXITED | WNOHANG], `waitid pidfd ${pidfd}`);
    const info = mem.buf;
    if (info.readInt32LE(16) === 0) return undefined; // si_pid (x86_64 offset 16) 0: WNOHANG and nothing to report yet
    const code = info.readInt32LE(8); // si_code: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
    const status = info.readInt32LE(24); // si_status
    return code === 1 ? status : 128 + status;
  } finally {
    mem.free();
  }
}

// ---- runtime-init: exec.fifo ---------------------------------------------------------
// Node's fs has no mkfifo; create blocks the container's init on this fifo until start.
export function mkfifo(path: string, mode: number): void {
  call('mkfifo', [T.str, T.u32], [path, mode], path);
}

// ---- binding residency (snapshotter apply workers) ------------------------------------
// ffi-rs crashes the process (SIGSEGV) when a worker thread that loaded it exits while the main
// thread never loaded it: the addon is unloaded under its own cleanup hooks. Loading it here first,
// in the main thread, keeps it resident for the life of the process.
export function loadBinding(): void {
  lib('libc');
}

// ---- peer credentials (added for the resident planner, runtime/planner/server.ts) -------------------
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** SO_PEERCRED of a connected unix socket: who connected (pid as seen in our pid namespace, 0 if none). */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } {
  const mem = nativeAlloc(16); // struct ucred (12 bytes), then its socklen_t
  try {
    mem.buf.writeUInt32LE(12, 12);
    call('getsockopt', [T.i32, T.i32, T.i32, T.u64, T.u64], [fd, SOL_SOCKET, SO_PEERCRED, mem.addr, mem.addr + 12], 'SO_PEERCRED');
    return { pid: mem.buf.readInt32LE(0), uid: mem.buf.readUInt32LE(4), gid: mem.buf.readUInt32LE(8) };
  } finally {
    mem.free();
  }
}

// ---- warm berth handoff (added for the pre-warmed CLI process, cli/warm-serve.ts) -------------------
// Node cannot receive fds (SCM_RIGHTS), so waiting, accepting and taking over the caller's stdio, cwd,
// umask and rlimits is one call into native/warm-handoff.c (build/libberth-warm-handoff.so).
const WARM_LIB = 'berth-warm-handoff';

function warmLib(): string {
  if (!opened.has(WARM_LIB)) {
    const file = new URL('../native/build/libberth-warm-handoff.so', import.meta.url).pathname;
    ffi().open({ library: WARM_LIB, path: file });
    opened.add(WARM_LIB);
  }
  return WARM_LIB;
}

function warmCall(fn: string, params: number[], values: unknown[], detail: string): number {
  const r = ffi().load({ library: warmLib(), funcName: fn, retType: T.i32, paramsType: params, paramsValue: values } as never) as unknown as number;
  if (r < 0) throw new SyscallError(fn, -r, `errno ${-r}`, detail);
  return r;
}

/** A listening unix socket at `path` (an old one there is removed first: the caller holds the key's lock). */
export function warmListen(path: string): number {
  return warmCall('berth_warm_listen', [T.str], [path], path);
}

/**
 * Waits up to timeoutMs for one call on `listenFd`. 0: none yet. Else the call is this process's: fds 0-2,
 * cwd, umask and rlimits are the caller's, `listenFd` and `lockFd` are closed, and the request's payload
 * (that many bytes) is in `out` (native memory at outAddr, cap bytes).
 */
export function warmAccept(listenFd: number, lockFd: number, timeoutMs: number, outAddr: number, cap: number): number {
  return warmCall('berth_warm_accept', [T.i32, T.i32, T.i32, T.u64, T.u32], [listenFd, lockFd, timeoutMs, outAddr, cap], 'warm call');
}

/** The accepted call's connection: its exit code goes there. */
export function warmConn(): number {
  return warmCall('berth_warm_conn', [], [], '');
}
