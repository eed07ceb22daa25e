import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deviceFilterProgram, encodeProgram } from '../../runtime/cgroups/device-filter.js';
import { runDeviceProgram } from '../lib/cgroups.js';
import { isBerthError } from '../../lib/errors.js';

const hex = (b: Buffer) => b.toString('hex').match(/.{16}/g)!;

// Prologue: r2 = ctx->access_type & 0xffff (type); r3 = ctx->access_type >> 16 (access);
// r4 = ctx->major; r5 = ctx->minor. Encoding: code, src<<4|dst, off (s16 LE), imm (s32 LE).
const PROLOGUE = [
  '6112000000000000', // ldxw r2, [r1+0]
  '54020000ffff0000', // and32 r2, 0xffff
  '6113000000000000', // ldxw r3, [r1+0]
  '7403000010000000', // rsh32 r3, 16
  '6114040000000000', // ldxw r4, [r1+4]
  '6115080000000000', // ldxw r5, [r1+8]
];

test('no rules: prologue then deny', () => {
  assert.equal(hex(encodeProgram(deviceFilterProgram([]))), [...PROLOGUE, 'b400000000000000', '9500000000000000']);
});

test('deny all, allow c 1:3 rwm: exact instruction bytes', () => {
  const prog = deviceFilterProgram([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
  assert.equal(hex(encodeProgram(prog)), [
    ...PROLOGUE,
    // rule 2 (checked first): type, major, minor; each mismatch jumps past this block's 5 insns
    '5502040002000000', // jne r2, 2 (char), +4
    '5504030001000000', // jne r4, 1, +3
    '5505020003000000', // jne r5, 3, +2
    'b400000001000000', // mov32 r0, 1
    '9500000000000000', // exit
    // rule 1 matches everything: it is the end of the program
    'b400000000000000', // mov32 r0, 0
    '9500000000000000', // exit
  ]);
});

test('allow with partial access: (access & acc) != access skips', () => {
  const prog = deviceFilterProgram([{ allow: true, type: 'b', major: 8, access: 'r' }]);
  assert.equal(hex(encodeProgram(prog)).slice(6), [
    '5502060001000000', // jne r2, 1 (block), +6
    'bc31000000000000', // mov32 r1, r3
    '5401000002000000', // and32 r1, 2 (read)
    '5d31030000000000', // jne r1, r3, +3
    '5504020008000000', // jne r4, 8, +2 (minor is a wildcard: no check)
    'b400000001000000',
    '9500000000000000',
    'b400000000000000', // no match: deny
    '9500000000000000',
  ]);
});

test('semantics: last matching rule wins; allow needs all bits, deny any', () => {
  const rules = [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' }, // /dev/null
    { allow: true, type: 'c' as const, major: 1, minor: 5, access: 'r' }, // /dev/zero read-only
    { allow: true, type: 'c' as const, major: 136, access: 'rw' }, // pts: any minor
    { allow: false, type: 'c' as const, major: 1, minor: 3, access: 'w' }, // later: no writing /dev/null
  ];
  const p = deviceFilterProgram(rules);
  const q = (type: 'b' | 'c', major: number, minor: number, access: string) => runDeviceProgram(p, { type, major, minor, access });
  assert.is(q('c', 1, 3, 'r'), 1);
  assert.is(q('c', 1, 3, 'w'), 0);
  assert.is(q('c', 1, 3, 'rw'), 0, 'deny w must also deny rw');
  assert.is(q('c', 1, 3, 'm'), 1);
  assert.is(q('c', 1, 5, 'r'), 1);
  assert.is(q('c', 1, 5, 'rw'), 0, 'allow r must not allow rw');
  assert.is(q('c', 136, 7, 'rw'), 1);
  assert.is(q('c', 136, 7, 'm'), 0);
  assert.is(q('b', 1, 3, 'r'), 0, 'type is checked');
  assert.is(q('b', 8, 0, 'r'), 0, 'default deny');
});

test('allow-all wildcard last makes everything allowed and ends the program', () => {
  const p = deviceFilterProgram([{ allow: false, type: 'c', major: 1, minor: 3 }, { allow: true }]);
  assert.is(p.length, 8);
  assert.is(runDeviceProgram(p, { type: 'c', major: 1, minor: 3, access: 'rw' }), 1);
  // ...but a deny after it still wins for what it names
  const p2 = deviceFilterProgram([{ allow: true }, { allow: false, type: 'c', major: 1, minor: 3 }]);
  assert.is(runDeviceProgram(p2, { type: 'c', major: 1, minor: 3, access: 'r' }), 0);
  assert.is(runDeviceProgram(p2, { type: 'b', major: 8, minor: 0, access: 'rw' }), 1);
});

test('invalid rules are refused', () => {
  for (const r of [{ allow: true, access: 'x' }, { allow: true, type: 'c' as const, major: 2 ** 40 }]) {
    try { deviceFilterProgram([r]); assert.unreachable(); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT'), String(e)); }
  }
});

test.run();
