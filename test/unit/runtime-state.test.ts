import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { tmpDir } from '../lib/harness.js';
import { deriveStatus, ociState, procStat, StateStore, validateId, type ContainerRecord } from '../../runtime/state.js';
import { runHooks } from '../../runtime/hooks.js';
import { defaultSpec } from '../../runtime/container/spec.js';
import { validateSpec } from '../../runtime/spec/config-schema.js';

function record(store: StateStore, id: string, pid: number): ContainerRecord {
  return {
    ociVersion: '1.2.0', id, phase: 'created', pid, initStartTime: procStat(pid)?.startTime ?? '', bundle: '/b',
    annotations: { a: 'b' }, created: new Date().toISOString(), cgroupsPath: '', cgroupPaths: {}, rootless: false, owner: '',
    config: { ociVersion: '1.2.0' },
  };
}

test('ids: safe names only', () => {
  assert.is(validateId('abc-1.2_x+y'), 'abc-1.2_x+y');
  for (const bad of ['', '.', '..', 'a/b', 'a b', '../x']) assert.throws(() => validateId(bad), /container id/);
});

test('claim is exclusive; lock, read, write, remove', () => {
  const store = new StateStore(tmpDir());
  const l = store.claim('c1');
  assert.throws(() => store.claim('c1'), /already exists/);
  assert.is(store.tryLock('c1'), undefined, 'held by the claim');
  l.release();
  const l2 = store.tryLock('c1');
  assert.ok(l2);
  l2!.release();
  store.write(record(store, 'c1', process.pid));
  assert.is(store.read('c1')?.id, 'c1');
  assert.equal(store.ids(), ['c1']);
  store.remove('c1');
  assert.equal(store.ids(), []);
  assert.throws(() => store.lock('c1'), /does not exist/);
});

test('status is derived: created (fifo), running, stopped (gone or reused pid)', async () => {
  const store = new StateStore(tmpDir());
  const child = spawn('/bin/sleep', ['30']);
  await new Promise((r) => child.once('spawn', r));
  const l = store.claim('c');
  const rec = record(store, 'c', child.pid!);
  store.write(rec);
  fs.writeFileSync(store.file('c', 'exec.fifo'), '');
  assert.is(deriveStatus(store, rec), 'created');
  fs.rmSync(store.file('c', 'exec.fifo'));
  assert.is(deriveStatus(store, rec), 'running');
  assert.is(deriveStatus(store, { ...rec, initStartTime: '1' }), 'stopped', 'pid reused by another process');
  assert.is(deriveStatus(store, { ...rec, phase: 'creating' }), 'creating');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.is(deriveStatus(store, rec), 'stopped');
  const s = ociState(rec, 'stopped');
  assert.is(s.pid, undefined, 'no pid once stopped');
  assert.equal(s.annotations, { a: 'b' });
  l.release();
});

test('hooks: order, state on stdin, env, args; fatal vs warning; timeout', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out');
  const hook = (tag: string) => ({ path: '/bin/sh', args: ['sh', '-c', `read s; echo "${tag} $HOOKVAR $0 $s" >> ${out}`, tag], env: ['HOOKVAR=v'] });
  const state = { ociVersion: '1.2.0', id: 'x', status: 'creating' as const, bundle: '/b', pid: 1 };
  await runHooks('prestart', { prestart: [hook('one'), hook('two')] }, state);
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
  assert.is(lines.length, 2);
  assert.ok(lines[0].startsWith('one v one {'), lines[0]);
  assert.equal(JSON.parse(lines[1].slice('two v two '.length)), state);
  const failing = { path: '/bin/sh', args: ['sh', '-c', 'echo broken >&2; exit 3'] };
  try {
    await runHooks('createRuntime', { createRuntime: [failing] }, state);
    assert.unreachable('a failing createRuntime hook must reject');
  } catch (e) {
    assert.match((e as Error).message, /createRuntime hook #0 \(\/bin\/sh\) exited with status 3: broken/);
  }
  const warnings: string[] = [];
  await runHooks('poststop', { poststop: [failing, hook('after')] }, state, (m) => warnings.push(m));
  assert.is(warnings.length, 1);
  assert.match(fs.readFileSync(out, 'utf8'), /after v after/, 'later poststop hooks still run');
  const t0 = Date.now();
  try {
    await runHooks('prestart', { prestart: [{ path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }] }, state);
    assert.unreachable('timeout');
  } catch (e) {
    assert.match((e as Error).message, /timed out after 1s/);
  }
  assert.ok(Date.now() - t0 < 5000);
  try {
    await runHooks('prestart', { prestart: [{ path: '/nonexistent/hook' }] }, state);
    assert.unreachable('missing');
  } catch (e) {
    assert.match((e as Error).message, /could not be run/);
  }
});

test('spec: the generated config validates (plain and rootless)', () => {
  validateSpec(defaultSpec());
  const r = validateSpec(defaultSpec({ rootless: true }));
  assert.ok(r.linux?.namespaces?.some((n) => n.type === 'user'));
  assert.ok(!r.linux?.namespaces?.some((n) => n.type === 'network'));
});

test.run();
