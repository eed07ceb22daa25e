import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2, cpuMax } from '../../runtime/cgroups/convert.js';
import { isBerthError } from '../../lib/errors.js';

test('cpu shares -> weight follows runc (1024 -> 100, ends of range, monotonic)', () => {
  assert.is(cpuSharesToWeight(0), 0);
  assert.is(cpuSharesToWeight(2), 1);
  assert.is(cpuSharesToWeight(1024), 100);
  assert.is(cpuSharesToWeight(262144), 10000);
  assert.is(cpuSharesToWeight(1 << 20), 10000);
  assert.is(cpuSharesToWeight(512), 59);
  assert.is(cpuSharesToWeight(2048), 174);
  let prev = 0;
  for (let s = 2; s <= 262144; s *= 2) { const w = cpuSharesToWeight(s); assert.ok(w >= prev, `not monotonic at ${s}`); prev = w; }
});

test('blkio weight -> io.weight (linear, like runc)', () => {
  assert.is(blkioWeightToIoWeight(0), 0);
  assert.is(blkioWeightToIoWeight(10), 1);
  assert.is(blkioWeightToIoWeight(1000), 10000);
  assert.is(blkioWeightToIoWeight(500), 1 + Math.floor((490 * 9999) / 990));
});

test('swap: spec memory+swap -> v2 swap only', () => {
  assert.is(memorySwapToV2(0, 0), 0);
  assert.is(memorySwapToV2(0, -1), -1); // memory unlimited, swap unset: both unlimited
  assert.is(memorySwapToV2(-1, 100), -1);
  assert.is(memorySwapToV2(300, 100), 200);
  assert.is(memorySwapToV2(100, 100), 0);
  for (const [s, m] of [[50, 100], [100, 0], [100, -1]] as const) {
    try { memorySwapToV2(s, m); assert.unreachable(`${s},${m}`); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT'), String(e)); }
  }
});

test('cpu.max string', () => {
  assert.is(cpuMax(undefined, undefined), undefined);
  assert.is(cpuMax(50000, 100000), '50000 100000');
  assert.is(cpuMax(-1, 100000), 'max 100000');
  assert.is(cpuMax(20000, undefined), '20000 100000');
});

test.run();
