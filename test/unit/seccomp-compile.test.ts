import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ajv } from 'ajv';
import { compileSeccomp } from '../../runtime/seccomp/compile.js';
import { seccompFeatures } from '../../runtime/seccomp/features.js';
import { linuxSeccompSchema, type LinuxSeccomp } from '../../runtime/spec/seccomp-schema.js';
import { isBerthError } from '../../lib/errors.js';
import { AUDIT_ARCH, RET, retAction, retData, runFilter, X32_SYSCALL_BIT } from '../lib/seccomp.js';

// x86_64 syscall numbers used below.
const NR = { write: 1, mkdir: 83, personality: 135, mount: 165, mkdirat: 258, getpid: 39, kill: 62, socket: 41 };
const I386 = { mkdir: 39 };

const onlyX86_64 = process.arch === 'x64';

function throwsCode(fn: () => unknown, code: string, re: RegExp) {
  try { fn(); } catch (e) {
    assert.ok(isBerthError(e), `expected BerthError, got ${e}`);
    assert.is((e as { code: string }).code, code);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected an error');
}

test('schema: ajv accepts a full runtime-spec 1.2 profile and rejects a bad action', () => {
  const validate = new Ajv({ allErrors: true }).compile(linuxSeccompSchema);
  const good: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'], listenerMetadata: 'x',
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 0, op: 'SCMP_CMP_EQ' }] }],
  };
  assert.ok(validate(good), JSON.stringify(validate.errors));
  assert.not.ok(validate({ defaultAction: 'SCMP_ACT_NOPE' }));
  assert.not.ok(validate({ syscalls: [] }), 'defaultAction is required');
  assert.not.ok(validate({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }));
});

test('program is whole sock_filter instructions and ends in a return', () => {
  const { filter, flags } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' });
  assert.ok(filter.length > 0 && filter.length % 8 === 0);
  assert.is(flags, 0);
  assert.is(filter.readUInt16LE(filter.length - 8) & 0x07, 0x06, 'last instruction is BPF_RET');
});

test('ERRNO defaults to EPERM, errnoRet overrides it, other syscalls follow defaultAction', () => {
  if (!onlyX86_64) return;
  const { filter } = compileSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
      { names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
    ],
  });
  const mk = runFilter(filter, { nr: NR.mkdir });
  assert.is(retAction(mk), RET.ERRNO);
  assert.is(retData(mk), 1);
  const mkat = runFilter(filter, { nr: NR.mkdirat });
  assert.is(retAction(mkat), RET.ERRNO);
  assert.is(retData(mkat), 28);
  assert.is(runFilter(filter, { nr: NR.write }), RET.ALLOW);
});

test('defaultErrnoRet applies to the default action', () => {
  if (!onlyX86_64) return;
  const { filter } = compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW' }] });
  assert.is(runFilter(filter, { nr: NR.write }), RET.ALLOW);
  assert.is(runFilter(filter, { nr: NR.mkdir }), (RET.ERRNO | 38) >>> 0);
});

test('every action maps to its SECCOMP_RET value', () => {
  if (!onlyX86_64) return;
  const cases: [LinuxSeccomp['defaultAction'], number][] = [
    ['SCMP_ACT_KILL', RET.KILL_THREAD], ['SCMP_ACT_KILL_THREAD', RET.KILL_THREAD],
    ['SCMP_ACT_KILL_PROCESS', RET.KILL_PROCESS], ['SCMP_ACT_TRAP', RET.TRAP], ['SCMP_ACT_LOG', RET.LOG],
    ['SCMP_ACT_TRACE', (RET.TRACE | 1) >>> 0], ['SCMP_ACT_ERRNO', (RET.ERRNO | 1) >>> 0],
  ];
  for (const [action, ret] of cases) {
    const { filter } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action }] });
    assert.is(runFilter(filter, { nr: NR.mkdir }) >>> 0, ret >>> 0, action);
  }
  const { filter } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_TRACE', errnoRet: 77 }] });
  assert.is(runFilter(filter, { nr: NR.mkdir }) >>> 0, (RET.TRACE | 77) >>> 0);
});

test('argument comparisons: every operator', () => {
  if (!onlyX86_64) return;
  const ops: [string, number, number, (x: number) => boolean][] = [
    ['SCMP_CMP_NE', 5, 0, (x) => x !== 5],
    ['SCMP_CMP_LT', 5, 0, (x) => x < 5],
    ['SCMP_CMP_LE', 5, 0, (x) => x <= 5],
    ['SCMP_CMP_EQ', 5, 0, (x) => x === 5],
    ['SCMP_CMP_GE', 5, 0, (x) => x >= 5],
    ['SCMP_CMP_GT', 5, 0, (x) => x > 5],
    ['SCMP_CMP_MASKED_EQ', 0x0f, 0x04, (x) => (x & 0x0f) === 0x04],
  ];
  for (const [op, value, valueTwo, expect] of ops) {
    const { filter } = compileSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value, valueTwo, op: op as 'SCMP_CMP_EQ' }] }],
    });
    for (const x of [0, 3, 4, 5, 6, 0x14, 0x15, 100]) {
      const denied = runFilter(filter, { nr: NR.personality, args: [x] }) !== RET.ALLOW;
      assert.is(denied, expect(x), `${op} ${value}/${valueTwo} with ${x}`);
    }
  }
});

test('64-bit argument values compare on both halves', () => {
  if (!onlyX86_64) return;
  const big = 2 ** 40 + 7;
  const { filter } = compileSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: big, op: 'SCMP_CMP_EQ' }] }],
  });
  assert.is(retAction(runFilter(filter, { nr: NR.personality, args: [big] })), RET.ERRNO);
  assert.is(runFilter(filter, { nr: NR.personality, args: [7] }), RET.ALLOW);
});

test('several args in one rule are ANDed; repeated index is split into ORed rules like runc', () => {
  if (!onlyX86_64) return;
  const and = compileSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] }],
  }).filter;
  assert.is(retAction(runFilter(and, { nr: NR.kill, args: [1, 9] })), RET.ERRNO);
  assert.is(runFilter(and, { nr: NR.kill, args: [1, 15] }), RET.ALLOW);
  assert.is(runFilter(and, { nr: NR.kill, args: [2, 9] }), RET.ALLOW);
  const or = compileSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }, { index: 1, value: 15, op: 'SCMP_CMP_EQ' }] }],
  }).filter;
  assert.is(retAction(runFilter(or, { nr: NR.kill, args: [1, 9] })), RET.ERRNO);
  assert.is(retAction(runFilter(or, { nr: NR.kill, args: [1, 15] })), RET.ERRNO);
  assert.is(runFilter(or, { nr: NR.kill, args: [1, 2] }), RET.ALLOW);
});

test('architectures: added arches get their own syscall numbers; others are killed', () => {
  if (!onlyX86_64) return;
  const prof: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  const native = compileSeccomp(prof).filter;
  assert.is(runFilter(native, { nr: I386.mkdir, arch: AUDIT_ARCH.I386 }), RET.KILL_THREAD, 'foreign arch hits the bad-arch action');
  const multi = compileSeccomp({ ...prof, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }).filter;
  assert.is(retAction(runFilter(multi, { nr: I386.mkdir, arch: AUDIT_ARCH.I386 })), RET.ERRNO);
  assert.is(runFilter(multi, { nr: NR.mkdir, arch: AUDIT_ARCH.I386 }), RET.ALLOW, 'i386 nr 83 is not mkdir');
  assert.is(retAction(runFilter(multi, { nr: NR.mkdir | X32_SYSCALL_BIT, arch: AUDIT_ARCH.X86_64 })), RET.ERRNO);
  assert.is(retAction(runFilter(multi, { nr: NR.mkdir })), RET.ERRNO);
});

test('unknown syscall names are skipped and reported; rules equal to the default are dropped', () => {
  const r = compileSeccomp({
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['no_such_syscall_berth', 'write'], action: 'SCMP_ACT_ALLOW' }, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
  });
  assert.equal(r.skipped, ['no_such_syscall_berth']);
  if (onlyX86_64) assert.is(runFilter(r.filter, { nr: NR.write }), RET.ALLOW);
});

test('flags become SECCOMP_FILTER_FLAG_* bits', () => {
  assert.is(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC'] }).flags, 1);
  assert.is(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }).flags, 6);
});

test('errors name the bad field', () => {
  const base = { defaultAction: 'SCMP_ACT_ALLOW' } as const;
  throwsCode(() => compileSeccomp({ defaultAction: 'SCMP_ACT_BOGUS' } as never), 'INVALID_ARGUMENT', /linux\.seccomp\.defaultAction: unknown seccomp action "SCMP_ACT_BOGUS"/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['x'], action: 'SCMP_ACT_NOPE' as never }] }), 'INVALID_ARGUMENT', /syscalls\[1\]\.action/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }] }), 'INVALID_ARGUMENT', /syscalls\[0\]\.args\[0\]\.index: 6 is not an integer in 0\.\.5/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 0, op: 'SCMP_CMP_LIKE' as never }] }] }), 'INVALID_ARGUMENT', /args\[0\]\.op: unknown operator "SCMP_CMP_LIKE"/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }), 'INVALID_ARGUMENT', /args\[0\]\.value/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', errnoRet: 5 }] }), 'INVALID_ARGUMENT', /syscalls\[0\]\.errnoRet: errnoRet is only valid with SCMP_ACT_ERRNO/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: [], action: 'SCMP_ACT_KILL' }] as never }), 'INVALID_ARGUMENT', /syscalls\[0\]\.names/);
  throwsCode(() => compileSeccomp({ ...base, architectures: ['SCMP_ARCH_VAX' as never] }), 'INVALID_ARGUMENT', /architectures\[0\]/);
  throwsCode(() => compileSeccomp({ ...base, flags: ['SECCOMP_FILTER_FLAG_BOGUS' as never] }), 'INVALID_ARGUMENT', /flags\[0\]/);
  throwsCode(() => compileSeccomp({ ...base, defaultErrnoRet: 70000 }), 'INVALID_ARGUMENT', /defaultErrnoRet/);
  throwsCode(() => compileSeccomp({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }), 'UNIMPLEMENTED', /syscalls\[0\]\.action: SCMP_ACT_NOTIFY/);
  throwsCode(() => compileSeccomp({ ...base, listenerPath: '/run/x.sock' }), 'UNIMPLEMENTED', /listenerPath/);
});

test('features: operators, actions, known and kernel-supported flags', () => {
  const f = seccompFeatures();
  assert.ok(f.enabled);
  assert.equal(f.operators.length, 7);
  assert.ok(f.actions.includes('SCMP_ACT_KILL_PROCESS') && !f.actions.includes('SCMP_ACT_NOTIFY'));
  if (onlyX86_64) assert.ok(f.archs.includes('SCMP_ARCH_X86_64') && f.archs.includes('SCMP_ARCH_X86'));
  assert.ok(f.knownFlags.includes('SECCOMP_FILTER_FLAG_TSYNC'));
  assert.ok(f.supportedFlags.includes('SECCOMP_FILTER_FLAG_TSYNC'), 'every kernel since 3.17 has TSYNC');
  assert.ok(f.supportedFlags.every((x) => f.knownFlags.includes(x)));
});

test.run();
