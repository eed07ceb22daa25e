import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BerthError, fromErrno, isBerthError } from '../../lib/errors.js';
import { writeJsonAtomic, readJson } from '../../lib/atomic-write.js';
import { lockFile } from '../../lib/file-lock.js';
import { tmpDir } from '../lib/harness.js';

test('fromErrno maps ENOENT to NOT_FOUND and keeps the cause', () => {
  let err: unknown;
  try { fs.readFileSync('/nonexistent/berth'); } catch (e) { err = e; }
  const b = fromErrno(err, 'reading config');
  assert.ok(isBerthError(b, 'NOT_FOUND'));
  assert.match(b.message, /^reading config: ENOENT/);
  assert.is(b.cause, err);
});

test('writeJsonAtomic replaces the file whole and leaves no temp files', () => {
  const d = tmpDir();
  const f = path.join(d, 'state.json');
  writeJsonAtomic(f, { a: 1 });
  writeJsonAtomic(f, { a: 2 });
  assert.equal(readJson(f), { a: 2 });
  assert.equal(fs.readdirSync(d), ['state.json']);
  fs.rmSync(d, { recursive: true });
});

test('lockFile excludes another process until released', () => {
  const d = tmpDir();
  const f = path.join(d, 'lock');
  const l = lockFile(f);
  const probe = `import('${path.resolve('lib/file-lock.ts')}').then(m => { try { m.lockFile('${f}', { wait: false }); console.log('got'); } catch (e) { console.log(e.code); } })`;
  const r1 = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { encoding: 'utf8' });
  assert.is(r1.stdout.trim(), 'UNAVAILABLE');
  l.release();
  const r2 = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { encoding: 'utf8' });
  assert.is(r2.stdout.trim(), 'got');
  fs.rmSync(d, { recursive: true });
});

test('BerthError is an Error with a code', () => {
  const e = new BerthError('INVALID_ARGUMENT', 'bad');
  assert.instance(e, Error);
  assert.is(e.code, 'INVALID_ARGUMENT');
});

test.run();
