// CRI records find the kubelet's retries by key (cri/records.ts): one record per key even when adds
// race, removal frees the key, a key a crash left is reclaimed, and records written before the key
// index existed get one. Id prefixes resolve from the directory listing alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../lib/harness.js';
import { CriRecords, sandboxKey, type SandboxRecord } from '../../cri/records.js';

let dir = '';
test.before(() => { dir = tmpDir('berth-cri-keys-'); });
test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

let n = 0;
function pod(name: string, attempt = 0, id = crypto.randomBytes(32).toString('hex')): SandboxRecord {
  return {
    id, metadata: { name, uid: 'u1', namespace: 'default', attempt }, createdAt: String(n++), hostname: 'h', labels: {}, annotations: {},
    cgroupParent: '/berth/x', namespaces: { network: 'pod', pid: 'container', ipc: 'pod' },
  };
}
const fresh = () => new CriRecords(path.join(dir, String(n++)));

test('racing adds of one key: exactly one record is kept, the others get its id', async () => {
  const recs = fresh();
  const pods = [pod('web'), pod('web'), pod('web')];
  const results = await Promise.all(pods.map((p) => recs.sandboxes.add(p)));
  const winners = pods.filter((_, i) => results[i] === undefined);
  assert.is(winners.length, 1);
  for (const r of results) if (r !== undefined) assert.is(r, winners[0].id);
  assert.equal(recs.sandboxes.list().map((r) => r.id), [winners[0].id]);
  assert.is(recs.sandboxes.byKey(sandboxKey(pod('web'))), winners[0].id);
  assert.is(await recs.sandboxes.add(pod('web', 1)), undefined, 'another attempt is another key');
  assert.is(recs.sandboxes.byKey(sandboxKey(pod('nosuch'))), undefined);
});

test('delete frees the key; a key whose record a crash removed is reclaimed', async () => {
  const recs = fresh();
  const a = pod('db');
  assert.is(await recs.sandboxes.add(a), undefined);
  recs.sandboxes.delete(a.id);
  assert.is(recs.sandboxes.byKey(sandboxKey(a)), undefined);
  const b = pod('db');
  assert.is(await recs.sandboxes.add(b), undefined);
  fs.rmSync(recs.sandboxes.file(b.id)); // the record went, the key entry stayed
  assert.is(recs.sandboxes.byKey(sandboxKey(b)), undefined);
  const c = pod('db');
  assert.is(await recs.sandboxes.add(c), undefined);
  assert.is(recs.sandboxes.byKey(sandboxKey(c)), c.id);
});

test('records written without the key index: it is built from them once', async () => {
  const root = path.join(dir, 'legacy');
  const old = pod('legacy');
  await new CriRecords(root).sandboxes.put(old);
  assert.not.ok(fs.existsSync(path.join(root, 'cri', 'sandboxes.keys')));
  const recs = new CriRecords(root);
  assert.is(recs.sandboxes.byKey(sandboxKey(old)), old.id);
  assert.is(await recs.sandboxes.add(pod('legacy')), old.id);
  assert.equal(recs.sandboxes.list().map((r) => r.id), [old.id]);
});

test('resolve: full id, unique prefix, ambiguous prefix, unknown', async () => {
  const recs = fresh();
  const a = pod('a', 0, 'ab' + '0'.repeat(62)), b = pod('b', 0, 'ab' + '1'.repeat(62)), c = pod('c', 0, 'cd' + '2'.repeat(62));
  for (const p of [a, b, c]) await recs.sandboxes.put(p);
  assert.is(recs.sandboxes.resolve(a.id), a.id);
  assert.is(recs.sandboxes.resolve('ab0'), a.id);
  assert.is(recs.sandboxes.resolve('c'), c.id);
  assert.throws(() => recs.sandboxes.resolve('ab'), /pod sandbox id prefix ab is ambiguous/);
  assert.throws(() => recs.sandboxes.resolve('ef'), /pod sandbox "ef" not found/);
  assert.throws(() => recs.sandboxes.resolve(''), /not found/);
});

test.run();
