import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileSeccomp } from '../../runtime/seccomp/compile.js';
import { compileSeccompCached } from '../../runtime/seccomp/cache.js';
import { defaultSeccompProfile } from '../../runtime/seccomp/default-profile.js';

const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-seccomp-cache-')); dirs.push(d); return d; };
const entries = (d: string) => fs.readdirSync(d).filter((n) => n.startsWith('seccomp-cache.'));
const profile = defaultSeccompProfile([]);

test.after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

test('a cached program is the compiled one, kept as one file', () => {
  const d = tmp();
  const fresh = compileSeccomp(profile);
  const cached = compileSeccompCached(profile, d);
  assert.ok(cached.filter.equals(fresh.filter));
  assert.is(cached.flags, fresh.flags);
  assert.equal(cached.skipped, fresh.skipped);
  assert.is(entries(d).length, 1);
  // another profile is another entry
  compileSeccompCached(defaultSeccompProfile(['CAP_SYS_ADMIN']), d);
  assert.is(entries(d).length, 2);
});

test('the file is what a later create uses; a damaged one is ignored and rewritten', () => {
  const a = tmp();
  compileSeccompCached(profile, a);
  const [name] = entries(a);
  const good = fs.readFileSync(path.join(a, name), 'utf8');
  const fresh = compileSeccomp(profile);

  // a consistent entry (a stand-in program) is taken as it is: the file is read, not recompiled
  const b = tmp();
  const stand = Buffer.alloc(16, 7);
  fs.writeFileSync(path.join(b, name), JSON.stringify({ ...JSON.parse(good), filter: stand.toString('base64'), sha256: createHash('sha256').update(stand).digest('hex') }));
  assert.ok(compileSeccompCached(profile, b).filter.equals(stand));

  // torn (empty), or a program that does not match its checksum: compiled again and replaced
  for (const damaged of ['', JSON.stringify({ ...JSON.parse(good), filter: stand.toString('base64') })]) {
    const c = tmp();
    fs.writeFileSync(path.join(c, name), damaged);
    assert.ok(compileSeccompCached(profile, c).filter.equals(fresh.filter));
    assert.is(fs.readFileSync(path.join(c, name), 'utf8'), good);
  }
});

test.run();
