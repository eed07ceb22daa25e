// A BPF prologue that answers ENOSYS, instead of the profile's default action, for syscalls
// newer than any the profile names. Profiles are written against some kernel; a libc that
// tries a newer syscall (fchmodat2, clone3...) falls back to an older one on ENOSYS but treats
// EPERM as a hard failure. runc does the same patching (libcontainer/seccomp/patchbpf); like it,
// "newer" means a number above the largest one named in the profile for that architecture.
import { endianness } from 'node:os';
import { seccompArchNative, seccompSyscallResolveNameArch } from '../../native/ffi.js';
import type { LinuxSeccomp, SeccompAction } from '../spec/seccomp-schema.js';
import { actionBase } from './constants.js';

const ENOSYS = 38;
const X32_SYSCALL_BIT = 0x40000000;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const SCMP_ARCH_X32 = 0x4000003e;
const SCMP_ARCH_S390 = 0x00000016;
const SCMP_ARCH_S390X = 0x80000016;

// Classic BPF opcodes.
const LD_W_ABS = 0x20, JMP_JA = 0x05, JMP_JEQ_K = 0x15, JMP_JGT_K = 0x25, JMP_JSET_K = 0x45, RET_K = 0x06;
const OFF_NR = 0, OFF_ARCH = 4;

/** Defaults that let unknown syscalls through need no patching: there is nothing to fall back from. */
const permissive: ReadonlySet<SeccompAction> = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE']);

type Target = number | 'enosys' | 'filter' | `next${number}`;
interface Insn { code: number; jt?: Target; jf?: Target; k: number; label?: string }

/** Largest syscall number named in the profile for each libseccomp arch token present in the filter. */
function lastSyscalls(profile: LinuxSeccomp, archTokens: number[]): Map<number, number> {
  const names = new Set((profile.syscalls ?? []).flatMap((s) => s.names));
  const out = new Map<number, number>();
  for (const arch of new Set([seccompArchNative(), ...archTokens])) {
    let max = -1;
    for (const n of names) {
      const nr = seccompSyscallResolveNameArch(arch, n);
      if (nr > max) max = nr;
    }
    if (max > 0) out.set(arch, max);
  }
  return out;
}

/**
 * Instructions (struct sock_filter[]) to put in front of libseccomp's program, or an empty buffer
 * when the default action is permissive or nothing is known. Control falls through to the
 * original program for every syscall the stub does not answer.
 */
export function enosysStub(profile: LinuxSeccomp, archTokens: number[]): Buffer {
  if (permissive.has(profile.defaultAction as SeccompAction)) return Buffer.alloc(0);
  const last = lastSyscalls(profile, archTokens);
  // x32 runs under AUDIT_ARCH_X86_64 with bit 30 set in the syscall number: one native section.
  const byNative = new Map<number, Map<number, number>>();
  for (const [arch, max] of last) {
    const native = arch === SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch;
    if (!byNative.has(native)) byNative.set(native, new Map());
    byNative.get(native)!.set(arch, max);
  }
  if (byNative.size === 0) return Buffer.alloc(0);

  const prog: Insn[] = [{ code: LD_W_ABS, k: OFF_ARCH }];
  let section = 0;
  for (const [native, maxes] of byNative) {
    const next: Target = `next${section}`;
    prog.push({ code: JMP_JEQ_K, k: native >>> 0, jt: 0, jf: next });
    prog.push({ code: LD_W_ABS, k: OFF_NR });
    const s390 = maxes.has(SCMP_ARCH_S390) || maxes.has(SCMP_ARCH_S390X);
    // s390 multiplexes large syscall numbers through nr 0 and leaves it there when unknown.
    if (s390) prog.push({ code: JMP_JEQ_K, k: 0, jt: 'enosys', jf: 0 });
    if (native === AUDIT_ARCH_X86_64) {
      const x64 = maxes.get(AUDIT_ARCH_X86_64);
      const x32 = maxes.get(SCMP_ARCH_X32);
      // jset bit30 ? x32-check : x86_64-check; a missing ABI goes straight to the filter.
      prog.push({ code: JMP_JSET_K, k: X32_SYSCALL_BIT, jt: 1, jf: 0 });
      prog.push(x64 !== undefined ? { code: JMP_JGT_K, k: x64, jt: 'enosys', jf: 'filter' } : { code: JMP_JA, k: 0, jt: 'filter' });
      prog.push(x32 !== undefined ? { code: JMP_JGT_K, k: x32 >>> 0, jt: 'enosys', jf: 'filter' } : { code: JMP_JA, k: 0, jt: 'filter' });
    } else {
      const max = [...maxes.values()][0];
      prog.push({ code: JMP_JGT_K, k: max >>> 0, jt: 'enosys', jf: 'filter' });
    }
    prog.push({ code: LD_W_ABS, k: OFF_ARCH, label: next });
    section++;
  }
  prog.push({ code: JMP_JA, k: 0, jt: 'filter' });
  prog.push({ code: RET_K, k: (actionBase.SCMP_ACT_ERRNO | ENOSYS) >>> 0, label: 'enosys' });

  const labels = new Map<string, number>();
  prog.forEach((insn, i) => { if (insn.label) labels.set(insn.label, i); });
  labels.set('filter', prog.length);
  const resolve = (from: number, t: Target | undefined): number => {
    if (t === undefined || typeof t === 'number') return t ?? 0;
    const off = labels.get(t)! - (from + 1);
    if (off < 0) throw new Error(`enosys stub: backward jump to ${t}`);
    return off;
  };
  const buf = Buffer.alloc(prog.length * 8);
  const le = endianness() === 'LE';
  prog.forEach((insn, i) => {
    let { k } = insn;
    let jt = 0, jf = 0;
    if (insn.code === JMP_JA) k = resolve(i, insn.jt);
    else if ((insn.code & 0x07) === 0x05) {
      jt = resolve(i, insn.jt);
      jf = resolve(i, insn.jf);
      if (jt > 255 || jf > 255) throw new Error('enosys stub: conditional jump out of range');
    }
    // struct sock_filter is read by the kernel in host byte order, as libseccomp exports it.
    if (le) { buf.writeUInt16LE(insn.code, i * 8); buf.writeUInt32LE(k >>> 0, i * 8 + 4); }
    else { buf.writeUInt16BE(insn.code, i * 8); buf.writeUInt32BE(k >>> 0, i * 8 + 4); }
    buf[i * 8 + 2] = jt;
    buf[i * 8 + 3] = jf;
  });
  return buf;
}
