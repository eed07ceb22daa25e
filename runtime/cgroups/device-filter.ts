// The cgroup v2 device controller is a BPF_PROG_TYPE_CGROUP_DEVICE program: this file turns the
// spec's ordered device rules into raw eBPF instructions (8 bytes each), like runc's devicefilter.
//
// The kernel calls the program with struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// where access_type = (access << 16) | type; type: 1 block, 2 char; access: 1 mknod, 2 read, 4 write.
// Returns 1 to allow, 0 to deny.
//
// Semantics: rules are matched last to first (the last matching rule decides), no match denies.
// An allow rule matches when every requested access bit is in the rule's access (so "r" does not allow
// O_RDWR); a deny rule matches when any requested bit is in it (so denying "w" does deny O_RDWR).
import { invalidArgument } from '../../lib/errors.js';
import type { LinuxDeviceCgroup } from '../spec/resources-schema.js';

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

// eBPF opcodes used (class | op | source).
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  MOV32_X: 0xbc, // BPF_ALU | BPF_MOV | BPF_X
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JNE_X: 0x5d, // BPF_JMP | BPF_JNE | BPF_X
  EXIT: 0x95, // BPF_JMP | BPF_EXIT
} as const;

export interface Insn { op: number; dst: number; src: number; off: number; imm: number }

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;
const ins = (op: number, dst: number, src: number, off: number, imm: number): Insn => ({ op, dst, src, off, imm });

export function accessBits(access: string | undefined): number {
  const a = access === undefined || access === '' ? 'rwm' : access;
  let bits = 0;
  for (const ch of a) {
    if (ch === 'r') bits |= BPF_DEVCG_ACC_READ;
    else if (ch === 'w') bits |= BPF_DEVCG_ACC_WRITE;
    else if (ch === 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    else throw invalidArgument(`cgroup: device access ${JSON.stringify(access)} may only contain r, w, m`);
  }
  return bits;
}

const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

function checkNum(n: number | undefined, what: string): number | undefined {
  if (n === undefined || n === -1) return undefined; // wildcard
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw invalidArgument(`cgroup: device ${what} ${n} is out of range`);
  return n;
}

/** The instructions of one rule: skip to the next rule on any mismatch, else return allow/deny. */
function ruleBlock(rule: LinuxDeviceCgroup): { insns: Insn[]; wildcard: boolean } {
  const type = rule.type ?? 'a';
  const bpfType = type === 'b' ? BPF_DEVCG_DEV_BLOCK : type === 'c' ? BPF_DEVCG_DEV_CHAR : undefined;
  if (type !== 'a' && bpfType === undefined) throw invalidArgument(`cgroup: device type ${JSON.stringify(type)} must be a, b or c`);
  const acc = accessBits(rule.access);
  const major = checkNum(rule.major, 'major');
  const minor = checkNum(rule.minor, 'minor');

  // Each check is a list of instructions whose last one jumps to the next block; `off` is filled later.
  const checks: Insn[][] = [];
  if (bpfType !== undefined) checks.push([ins(OP.JNE_K, R2, 0, 0, bpfType)]);
  if (acc !== ALL_ACCESS) {
    if (rule.allow) {
      // if ((access & acc) != access) skip: the request wants something this rule does not grant.
      checks.push([ins(OP.MOV32_X, R1, R3, 0, 0), ins(OP.AND32_K, R1, 0, 0, acc), ins(OP.JNE_X, R1, R3, 0, 0)]);
    } else {
      // if ((access & acc) == 0) skip: the request touches nothing this rule denies.
      checks.push([ins(OP.MOV32_X, R1, R3, 0, 0), ins(OP.AND32_K, R1, 0, 0, acc), ins(OP.JEQ_K, R1, 0, 0, 0)]);
    }
  }
  if (major !== undefined) checks.push([ins(OP.JNE_K, R4, 0, 0, major)]);
  if (minor !== undefined) checks.push([ins(OP.JNE_K, R5, 0, 0, minor)]);

  const verdict = [ins(OP.MOV32_K, R0, 0, 0, rule.allow ? 1 : 0), ins(OP.EXIT, 0, 0, 0, 0)];
  const flat = checks.flat();
  const total = flat.length + verdict.length;
  // A jump's offset counts instructions after it: to the first instruction past this block.
  flat.forEach((insn, i) => {
    if (insn.op === OP.JNE_K || insn.op === OP.JEQ_K || insn.op === OP.JNE_X) insn.off = total - i - 1;
  });
  return { insns: [...flat, ...verdict], wildcard: checks.length === 0 };
}

/**
 * Build the program. The prologue loads type (R2), access (R3), major (R4), minor (R5) from the
 * context in R1; then one block per rule, last rule first; a rule that matches everything ends the
 * program (nothing before it can be reached); otherwise the program ends denying.
 */
export function deviceFilterProgram(rules: readonly LinuxDeviceCgroup[]): Insn[] {
  const out: Insn[] = [
    ins(OP.LDXW, R2, R1, 0, 0),
    ins(OP.AND32_K, R2, 0, 0, 0xffff),
    ins(OP.LDXW, R3, R1, 0, 0),
    ins(OP.RSH32_K, R3, 0, 0, 16),
    ins(OP.LDXW, R4, R1, 4, 0),
    ins(OP.LDXW, R5, R1, 8, 0),
  ];
  for (let i = rules.length - 1; i >= 0; i--) {
    const b = ruleBlock(rules[i]!);
    out.push(...b.insns);
    if (b.wildcard) return out;
  }
  out.push(ins(OP.MOV32_K, R0, 0, 0, 0), ins(OP.EXIT, 0, 0, 0, 0));
  return out;
}

/** struct bpf_insn in memory: u8 code, u8 dst:4|src:4 (dst in the low nibble on little-endian), s16 off, s32 imm. */
export function encodeProgram(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    buf.writeUInt8(x.op, i * 8);
    buf.writeUInt8(((x.src & 0xf) << 4) | (x.dst & 0xf), i * 8 + 1);
    buf.writeInt16LE(x.off, i * 8 + 2);
    buf.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return buf;
}
