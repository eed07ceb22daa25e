// Test helpers for seccomp: a classic-BPF interpreter that runs a compiled filter over a
// struct seccomp_data the way the kernel does, so unit tests check what a filter decides
// without installing it, and a C loader that really installs one for integration tests.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './harness.js';

export const AUDIT_ARCH = { X86_64: 0xc000003e, I386: 0x40000003, AARCH64: 0xc00000b7 } as const;
export const X32_SYSCALL_BIT = 0x40000000;

export const RET = {
  KILL_PROCESS: 0x80000000, KILL_THREAD: 0, TRAP: 0x00030000, ERRNO: 0x00050000, TRACE: 0x7ff00000,
  LOG: 0x7ffc0000, ALLOW: 0x7fff0000,
} as const;

export interface SeccompData { nr: number; arch?: number; ip?: bigint; args?: (number | bigint)[] }

/** Run the filter program over the data; returns the 32-bit SECCOMP_RET_* value. */
export function runFilter(filter: Buffer, data: SeccompData): number {
  const d = Buffer.alloc(64);
  d.writeInt32LE(data.nr, 0);
  d.writeUInt32LE(data.arch ?? AUDIT_ARCH.X86_64, 4);
  d.writeBigUInt64LE(data.ip ?? 0n, 8);
  (data.args ?? []).forEach((a, i) => d.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  const n = filter.length / 8;
  let A = 0, X = 0;
  const M = new Array<number>(16).fill(0);
  for (let pc = 0, steps = 0; pc < n; steps++) {
    if (steps > 100000) throw new Error('BPF program does not terminate');
    const o = pc * 8;
    const code = filter.readUInt16LE(o), jt = filter[o + 2], jf = filter[o + 3], k = filter.readUInt32LE(o + 4);
    pc++;
    const cls = code & 0x07;
    switch (cls) {
      case 0x00: { // LD
        const mode = code & 0xe0;
        if (mode === 0x20) { if (k + 4 > 64 || k % 4) throw new Error(`bad load offset ${k}`); A = d.readUInt32LE(k); }
        else if (mode === 0x00) A = k; // IMM
        else if (mode === 0x60) A = M[k]; // MEM
        else if (mode === 0x80) A = 64; // LEN
        else throw new Error(`unsupported LD mode 0x${code.toString(16)}`);
        break;
      }
      case 0x01: { // LDX
        const mode = code & 0xe0;
        if (mode === 0x00) X = k; else if (mode === 0x60) X = M[k]; else if (mode === 0x80) X = 64;
        else throw new Error(`unsupported LDX 0x${code.toString(16)}`);
        break;
      }
      case 0x02: M[k] = A; break; // ST
      case 0x03: M[k] = X; break; // STX
      case 0x04: { // ALU
        const src = code & 0x08 ? X : k;
        switch (code & 0xf0) {
          case 0x00: A = (A + src) >>> 0; break;
          case 0x10: A = (A - src) >>> 0; break;
          case 0x20: A = Number((BigInt(A) * BigInt(src)) & 0xffffffffn); break;
          case 0x30: A = src ? Math.floor(A / src) >>> 0 : 0; break;
          case 0x40: A = (A | src) >>> 0; break;
          case 0x50: A = (A & src) >>> 0; break;
          case 0x60: A = src >= 32 ? 0 : (A << src) >>> 0; break;
          case 0x70: A = src >= 32 ? 0 : A >>> src; break;
          case 0x80: A = (-A) >>> 0; break;
          case 0xa0: A = (A ^ src) >>> 0; break;
          default: throw new Error(`unsupported ALU 0x${code.toString(16)}`);
        }
        break;
      }
      case 0x05: { // JMP
        const src = code & 0x08 ? X : k;
        const op = code & 0xf0;
        if (op === 0x00) { pc += k; break; }
        let cond: boolean;
        if (op === 0x10) cond = A === src;
        else if (op === 0x20) cond = A > src;
        else if (op === 0x30) cond = A >= src;
        else if (op === 0x40) cond = (A & src) !== 0;
        else throw new Error(`unsupported JMP 0x${code.toString(16)}`);
        pc += cond ? jt : jf;
        break;
      }
      case 0x06: return (code & 0x18) === 0x10 ? A : k; // RET A / RET K
      case 0x07: if (code & 0x80) A = X; else X = A; break; // MISC TXA/TAX
    }
  }
  throw new Error('BPF program fell off its end');
}

export const retAction = (r: number) => (r & 0xffff0000) >>> 0 === RET.KILL_PROCESS ? RET.KILL_PROCESS : (r & 0x7fff0000) >>> 0;
export const retData = (r: number) => r & 0xffff;

// Installs a BPF program read from a file (argv[1]) with seccomp(SECCOMP_SET_MODE_FILTER, flags=argv[2]),
// after PR_SET_NO_NEW_PRIVS, then execs argv[3...]: what berth-init does, without the rest of it.
const LOADER_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: loader BPF FLAGS CMD...\\n"); return 125; }
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) { perror("loader: open"); return 125; }
  struct sock_filter *prog = malloc(st.st_size);
  if (read(fd, prog, st.st_size) != st.st_size) { perror("loader: read"); return 125; }
  struct sock_fprog fprog = { .len = (unsigned short)(st.st_size / sizeof(struct sock_filter)), .filter = prog };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) { perror("loader: prctl"); return 125; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)strtoul(argv[2], 0, 0), &fprog) < 0) { perror("loader: seccomp"); return 125; }
  execvp(argv[3], argv + 3);
  fprintf(stderr, "loader: exec %s: %s\\n", argv[3], strerror(errno));
  return 126;
}
`;

/** Compile the loader into dir; returns its path, or throws with gcc's output. */
export function buildSeccompLoader(dir: string): string {
  const src = path.join(dir, 'loader.c');
  const bin = path.join(dir, 'loader');
  fs.writeFileSync(src, LOADER_C);
  const r = run('gcc', ['-O1', '-o', bin, src]);
  if (r.status !== 0) throw new Error(`gcc failed building the seccomp loader: ${r.stderr}`);
  return bin;
}

// Makes one raw syscall (number argv[1], all arguments -1/0) and prints its errno, so a test can
// probe syscalls no shell applet makes (e.g. ones newer than a profile).
const RAWSYS_C = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  long r = syscall(strtol(argv[1], 0, 0), -1L, 0L, 0L, 0L, 0L, 0L);
  printf("%ld %d\\n", r, r < 0 ? errno : 0);
  return 0;
}
`;

/** Compile the raw-syscall prober into dir; returns its path. */
export function buildRawSyscall(dir: string): string {
  const src = path.join(dir, 'rawsys.c');
  const bin = path.join(dir, 'rawsys');
  fs.writeFileSync(src, RAWSYS_C);
  const r = run('gcc', ['-O1', '-static', '-o', bin, src]);
  if (r.status !== 0) throw new Error(`gcc failed building rawsys: ${r.stderr}`);
  return bin;
}
