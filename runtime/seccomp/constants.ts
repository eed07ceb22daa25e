// Numbers behind the OCI seccomp names: libseccomp's action/operator encodings (seccomp.h) and the
// kernel's SECCOMP_FILTER_FLAG_* bits (linux/seccomp.h).
import type { SeccompAction, SeccompFlag, SeccompOperator } from '../spec/seccomp-schema.js';

export const EPERM = 1;

/** SCMP_ACT_* base values; ERRNO and TRACE carry a 16-bit datum in the low bits. */
export const actionBase: Record<SeccompAction, number> = {
  SCMP_ACT_KILL: 0x00000000, // == KILL_THREAD (SECCOMP_RET_KILL)
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
};

/** enum scmp_compare. */
export const operatorValue: Record<SeccompOperator, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

export const flagValue: Record<SeccompFlag, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
};

export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3;

/** Syscall argument slots the kernel passes to a filter (seccomp_data.args[6]). */
export const MAX_SYSCALL_ARGS = 6;

/** sizeof(struct scmp_arg_cmp): unsigned arg, enum op, u64 datum_a, u64 datum_b. */
export const SCMP_ARG_CMP_SIZE = 24;
