// OCI linux.seccomp -> classic BPF program (struct sock_filter[]) via libseccomp, plus the
// SECCOMP_FILTER_FLAG_* bits berth-init passes to seccomp(SECCOMP_SET_MODE_FILTER, flags, prog).
// Semantics follow runc (libcontainer/seccomp) so profiles behave the same under both runtimes.
import { closeSync, fstatSync, readSync } from 'node:fs';
import { invalidArgument, internal, unimplemented } from '../../lib/errors.js';
import {
  memfdCreate, seccompArchAdd, seccompArchResolveName, seccompExportBpf, seccompInit, seccompRelease,
  seccompRuleAddArray, seccompSyscallResolveName,
} from '../../native/ffi.js';
import type { LinuxSeccomp, SeccompAction } from '../spec/seccomp-schema.js';
import {
  actionBase, EPERM, flagValue, MAX_SYSCALL_ARGS, operatorValue, SCMP_ARG_CMP_SIZE,
} from './constants.js';
import { enosysStub } from './enosys-stub.js';

export interface CompiledSeccomp {
  /** Raw struct sock_filter[] (8 bytes per instruction), host endianness. */
  filter: Buffer;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2). */
  flags: number;
  /** Syscall names libseccomp does not know on this architecture; skipped as runc does. */
  skipped: string[];
}

const EEXIST = 17;
const MFD_CLOEXEC = 1;
const MAX_ERRNO_DATUM = 0xffff;
const BPF_MAXINSNS = 4096;
const where = 'linux.seccomp';

function errnoName(neg: number): string {
  const n = -neg;
  const names: Record<number, string> = { 1: 'EPERM', 13: 'EACCES', 14: 'EFAULT', 17: 'EEXIST', 22: 'EINVAL', 12: 'ENOMEM', 95: 'EOPNOTSUPP', 34: 'ERANGE' };
  return `${names[n] ?? 'errno'} (${n})`;
}

function checkUint(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalidArgument(`${field}: ${JSON.stringify(value)} is not an integer in 0..${max}`);
  }
  return value;
}

/** libseccomp's action word for an OCI action; errnoRet only applies to ERRNO and TRACE, as in runc. */
function actionValue(action: unknown, errnoRet: number | undefined, field: string, retField: string): number {
  if (typeof action !== 'string' || !(action in actionBase)) {
    throw invalidArgument(`${field}: unknown seccomp action ${JSON.stringify(action)} (expected one of ${Object.keys(actionBase).join(', ')})`);
  }
  const act = action as SeccompAction;
  if (act === 'SCMP_ACT_NOTIFY') {
    throw unimplemented(`${field}: SCMP_ACT_NOTIFY (seccomp user notification) is not supported by berth yet`);
  }
  if (errnoRet !== undefined && act !== 'SCMP_ACT_ERRNO' && act !== 'SCMP_ACT_TRACE') {
    throw invalidArgument(`${retField}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${act}`);
  }
  if (act === 'SCMP_ACT_ERRNO' || act === 'SCMP_ACT_TRACE') {
    const datum = errnoRet === undefined ? EPERM : checkUint(errnoRet, retField, MAX_ERRNO_DATUM);
    return (actionBase[act] | datum) >>> 0;
  }
  return actionBase[act] >>> 0;
}

function flagsValue(seccomp: LinuxSeccomp): number {
  let flags = 0;
  (seccomp.flags ?? []).forEach((f, i) => {
    const v = flagValue[f as keyof typeof flagValue];
    if (v === undefined) {
      throw invalidArgument(`${where}.flags[${i}]: unknown seccomp flag ${JSON.stringify(f)} (expected one of ${Object.keys(flagValue).join(', ')})`);
    }
    flags |= v;
  });
  // WAIT_KILLABLE_RECV only changes how a notification listener waits; without a listener
  // (NOTIFY is refused above) the kernel rejects it with EINVAL, so it has nothing to do here.
  flags &= ~flagValue.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  return flags;
}

function packArgs(args: { index: number; value: number; valueTwo?: number; op: string }[], field: string): Buffer {
  const buf = Buffer.alloc(Math.max(args.length, 1) * SCMP_ARG_CMP_SIZE);
  args.forEach((a, i) => {
    const f = `${field}[${i}]`;
    const index = checkUint(a.index, `${f}.index`, MAX_SYSCALL_ARGS - 1);
    const op = operatorValue[a.op as keyof typeof operatorValue];
    if (op === undefined) {
      throw invalidArgument(`${f}.op: unknown operator ${JSON.stringify(a.op)} (expected one of ${Object.keys(operatorValue).join(', ')})`);
    }
    const value = checkUint(a.value, `${f}.value`, Number.MAX_SAFE_INTEGER);
    const valueTwo = a.valueTwo === undefined ? 0 : checkUint(a.valueTwo, `${f}.valueTwo`, Number.MAX_SAFE_INTEGER);
    const o = i * SCMP_ARG_CMP_SIZE;
    buf.writeUInt32LE(index, o);
    buf.writeUInt32LE(op, o + 4);
    // SCMP_CMP_MASKED_EQ: datum_a is the mask, datum_b the value compared after masking.
    buf.writeBigUInt64LE(BigInt(value), o + 8);
    buf.writeBigUInt64LE(BigInt(valueTwo), o + 16);
  });
  return buf;
}

function archToken(name: unknown, field: string): number {
  if (typeof name !== 'string' || !name.startsWith('SCMP_ARCH_')) {
    throw invalidArgument(`${field}: ${JSON.stringify(name)} is not an SCMP_ARCH_* name`);
  }
  const token = seccompArchResolveName(name.slice('SCMP_ARCH_'.length).toLowerCase());
  if (token === 0) throw invalidArgument(`${field}: architecture ${name} is not supported by this libseccomp`);
  return token;
}

function exportBpf(ctx: unknown): Buffer {
  const fd = memfdCreate('berth-seccomp', MFD_CLOEXEC);
  try {
    const rc = seccompExportBpf(ctx, fd);
    if (rc < 0) throw internal(`seccomp_export_bpf failed: ${errnoName(rc)}`);
    const size = fstatSync(fd).size;
    const out = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, out, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off !== size || size % 8 !== 0) throw internal(`seccomp_export_bpf wrote a truncated program (${off}/${size} bytes)`);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Compile an OCI seccomp profile to a BPF program. Throws INVALID_ARGUMENT naming the bad field. */
export function compileSeccomp(seccomp: LinuxSeccomp): CompiledSeccomp {
  if (seccomp === null || typeof seccomp !== 'object') throw invalidArgument(`${where}: must be an object`);
  if (seccomp.listenerPath) {
    throw unimplemented(`${where}.listenerPath: seccomp user notification is not supported by berth yet`);
  }
  if (seccomp.defaultErrnoRet !== undefined) checkUint(seccomp.defaultErrnoRet, `${where}.defaultErrnoRet`, MAX_ERRNO_DATUM);
  const defaultAction = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet, `${where}.defaultAction`, `${where}.defaultErrnoRet`);
  const flags = flagsValue(seccomp);
  const archs = (seccomp.architectures ?? []).map((a, i) => archToken(a, `${where}.architectures[${i}]`));
  const syscalls = seccomp.syscalls ?? [];
  if (!Array.isArray(syscalls)) throw invalidArgument(`${where}.syscalls: must be an array`);

  const ctx = seccompInit(defaultAction);
  if (!ctx) throw internal(`seccomp_init refused default action ${seccomp.defaultAction}`);
  const skipped: string[] = [];
  try {
    archs.forEach((token, i) => {
      const rc = seccompArchAdd(ctx, token);
      if (rc < 0 && rc !== -EEXIST) throw invalidArgument(`${where}.architectures[${i}]: seccomp_arch_add ${seccomp.architectures![i]}: ${errnoName(rc)}`);
    });
    syscalls.forEach((sc, i) => {
      const field = `${where}.syscalls[${i}]`;
      if (!sc || typeof sc !== 'object') throw invalidArgument(`${field}: must be an object`);
      if (!Array.isArray(sc.names) || sc.names.length === 0) throw invalidArgument(`${field}.names: must list at least one syscall name`);
      const action = actionValue(sc.action, sc.errnoRet, `${field}.action`, `${field}.errnoRet`);
      const args = sc.args ?? [];
      const packed = packArgs(args, `${field}.args`);
      // libseccomp refuses rules that repeat the default action; they change nothing, so skip them.
      if (action === defaultAction) return;
      // libseccomp cannot AND two comparisons of the same argument; runc then adds one rule per
      // comparison (an OR), and so do we, to match its behaviour on the same profile.
      const perIndex = new Map<number, number>();
      for (const a of args) perIndex.set(a.index, (perIndex.get(a.index) ?? 0) + 1);
      const split = [...perIndex.values()].some((n) => n > 1);
      sc.names.forEach((name, j) => {
        if (typeof name !== 'string' || name === '') throw invalidArgument(`${field}.names[${j}]: must be a non-empty string`);
        const nr = seccompSyscallResolveName(name);
        if (nr === -1) { skipped.push(name); return; }
        const add = (count: number, buf: Buffer) => {
          const rc = seccompRuleAddArray(ctx, action, nr, count, buf);
          if (rc < 0) throw invalidArgument(`${field}: cannot add rule for syscall ${name}${count ? ` with ${count} argument condition(s)` : ''}: ${errnoName(rc)}`);
        };
        if (!split) add(args.length, packed);
        else args.forEach((_, k) => add(1, packed.subarray(k * SCMP_ARG_CMP_SIZE, (k + 1) * SCMP_ARG_CMP_SIZE)));
      });
    });
    const filter = Buffer.concat([enosysStub(seccomp, archs), exportBpf(ctx)]);
    if (filter.length / 8 > BPF_MAXINSNS) {
      throw invalidArgument(`${where}: the profile compiles to ${filter.length / 8} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}`);
    }
    return { filter, flags, skipped };
  } finally {
    seccompRelease(ctx);
  }
}
