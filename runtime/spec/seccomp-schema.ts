// linux.seccomp of the OCI runtime-spec 1.2 (schema/config-linux.json + defs-linux.json), as one
// `as const` JSON Schema so ajv validates it and json-schema-to-ts derives the type from the same text.
import type { FromSchema } from 'json-schema-to-ts';

const uint32 = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
// JSON numbers above 2^53 lose precision in JS; the compiler rejects unsafe integers with a named field.
const uint64 = { type: 'integer', minimum: 0 } as const;

export const seccompArchValues = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64',
] as const;

export const seccompActionValues = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;

export const seccompOperatorValues = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;

export const seccompFlagValues = [
  'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;

export const seccompSyscallArgSchema = {
  type: 'object',
  properties: {
    index: uint32,
    value: uint64,
    valueTwo: uint64,
    op: { type: 'string', enum: seccompOperatorValues },
  },
  required: ['index', 'value', 'op'],
} as const;

export const seccompSyscallSchema = {
  type: 'object',
  properties: {
    names: { type: 'array', items: { type: 'string' }, minItems: 1 },
    action: { type: 'string', enum: seccompActionValues },
    errnoRet: uint32,
    args: { type: 'array', items: seccompSyscallArgSchema },
  },
  required: ['names', 'action'],
} as const;

export const linuxSeccompSchema = {
  type: 'object',
  properties: {
    defaultAction: { type: 'string', enum: seccompActionValues },
    defaultErrnoRet: uint32,
    flags: { type: 'array', items: { type: 'string', enum: seccompFlagValues } },
    listenerPath: { type: 'string' },
    listenerMetadata: { type: 'string' },
    architectures: { type: 'array', items: { type: 'string', enum: seccompArchValues } },
    syscalls: { type: 'array', items: seccompSyscallSchema },
  },
  required: ['defaultAction'],
} as const;

export type LinuxSeccomp = FromSchema<typeof linuxSeccompSchema>;
export type SeccompSyscall = FromSchema<typeof seccompSyscallSchema>;
export type SeccompSyscallArg = FromSchema<typeof seccompSyscallArgSchema>;
export type SeccompAction = (typeof seccompActionValues)[number];
export type SeccompOperator = (typeof seccompOperatorValues)[number];
export type SeccompFlag = (typeof seccompFlagValues)[number];
export type SeccompArch = (typeof seccompArchValues)[number];
