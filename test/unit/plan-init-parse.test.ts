// berth-init refuses plans it does not understand with one clear line, before doing anything.
// Needs no root: the plan is parsed before any privileged step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { skip } from '../lib/harness.js';
import { PlanWriter, Tag } from '../../runtime/plan/encode.js';
import { REPO_ROOT } from '../../lib/paths.js';

const bin = `${REPO_ROOT}/native/build/berth-init`;

function frame(type: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32LE(payload.length + 1, 0);
  h[4] = type.charCodeAt(0);
  return Buffer.concat([h, payload]);
}

/** The first frame other than 'I' (a create's berth-init announces its pid first), as "<type> <text>". */
function reply(got: Buffer): string {
  for (let off = 0; got.length - off > 5; off += 4 + got.readUInt32LE(off)) {
    const type = String.fromCharCode(got[off + 4]);
    if (type !== 'I') return `${type} ${got.subarray(off + 5, off + 4 + got.readUInt32LE(off)).toString()}`;
  }
  return '';
}

/** Send one plan to `berth-init <mode> 3`; resolve with its reply frame text and exit code. */
function feed(mode: string, plan: Buffer): Promise<{ reply: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(bin, [mode, '3'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    const sock = child.stdio[3] as Socket;
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
    sock.write(frame('L', plan));
    child.on('exit', (code) => {
      sock.destroy();
      resolve({ reply: reply(got), code });
    });
  });
}

if (!fs.existsSync(bin)) {
  skip('plan-init-parse', `${bin} is not built (make -C native)`);
} else {
  test('bad magic', async () => {
    assert.equal(await feed('create', Buffer.from('not a plan at all')), { reply: 'E berth-init: launch plan: bad magic (not a berth launch plan)', code: 1 });
  });

  test('wrong version', async () => {
    const p = new PlanWriter().u32(Tag.MODE, 1).finish();
    p.writeUInt32LE(99, 8);
    assert.equal(await feed('create', p), { reply: 'E berth-init: launch plan: version 99, this berth-init reads version 1 (rebuild native/)', code: 1 });
  });

  test('unknown tag, truncated record, wrong length, wrong mode', async () => {
    const unknown = new PlanWriter().u32(Tag.MODE, 1).u32(999, 1).finish();
    assert.match((await feed('create', unknown)).reply, /^E berth-init: launch plan: unknown record tag 999/);
    const short = new PlanWriter().u32(Tag.MODE, 1).str(Tag.CWD, '/').finish();
    assert.match((await feed('create', short.subarray(0, short.length - 1))).reply, /^E berth-init: launch plan: record 29 overruns the plan$/);
    const badLen = new PlanWriter().bytes(Tag.MODE, Buffer.alloc(2)).finish();
    assert.match((await feed('create', badLen)).reply, /^E berth-init: launch plan: record 1 is truncated$/);
    const exec = new PlanWriter().u32(Tag.MODE, 2).str(Tag.ARG, 'x').str(Tag.CWD, '/').finish();
    assert.equal(await feed('create', exec), { reply: 'E berth-init: launch plan: not a create plan', code: 1 });
  });

  test('usage errors without a sync fd', async () => {
    const r = await new Promise<number | null>((resolve) => spawn(bin, ['create', '9'], { stdio: 'ignore' }).on('exit', resolve));
    assert.is(r, 2);
  });
}

test.run();
