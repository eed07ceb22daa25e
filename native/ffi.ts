// Every libc / libseccomp call Node makes itself goes through this file, so the binding
// library (ffi-rs today, koffi as the known alternative) can be swapped in one place.
// Rule from DESIGN.md: Node never changes its own namespaces; nothing here may unshare/setns.
import { createRequire } from 'node:module';
import { BerthError, type ErrorCode } from '../lib/errors.js';

const require = createRequire(import.meta.url);
type FfiRs = typeof import('ffi-rs');
let ffiMod: FfiRs | undefined;
const opened = new Set<string>();

function ffi(): FfiRs {
  ffiMod ??= require('ffi-rs') as FfiRs;
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
