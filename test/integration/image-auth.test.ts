// Registry authentication against docker-registry: htpasswd Basic and token auth (token server
// written in test/lib/registry.ts), credentials from a docker-compatible auth file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { skip, tmpDir } from '../lib/harness.js';
import { rejects } from '../lib/image.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../lib/registry.js';
import { standardImage, tarDir, writeLayout, type BuiltImage } from '../lib/image-builder.js';
import { loadArchive } from '../../image/archive-load.js';
import { push } from '../../image/push.js';
import { pull } from '../../image/pull.js';
import { RegistryClient } from '../../image/registry.js';
import { storeCredentials, authFilesForRead, removeCredentials, lookupCredentials } from '../../image/auth-file.js';

const dirs: string[] = [];
const mk = (p: string) => { const d = tmpDir(p); dirs.push(d); return d; };

async function rootWith(img: BuiltImage, name: string): Promise<string> {
  const root = mk('berth-img-root-');
  const layout = mk('berth-layout-');
  writeLayout(layout, img.manifest, [img]);
  await loadArchive(root, tarDir(layout, path.join(layout, '..', path.basename(layout) + '.tar')), { name });
  dirs.push(path.join(layout, '..', path.basename(layout) + '.tar'));
  return root;
}

if (!haveRegistry() || !fs.existsSync('/usr/bin/htpasswd') || !fs.existsSync('/usr/bin/openssl')) {
  skip('image auth tests', 'needs docker-registry, htpasswd (apache2-utils) and openssl');
} else {
  const regs: TestRegistry[] = [];
  let img: BuiltImage;
  test.before(async () => { img = await standardImage({ marker: 'auth' }); });
  test.after(async () => {
    for (const r of regs) await r.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('htpasswd Basic: refused without credentials, works with the auth file', async () => {
    const reg = await startRegistry({ kind: 'basic', users: { alice: 's3cret' } });
    regs.push(reg);
    const root = await rootWith(img, 'localhost/a/b:1');
    await rejects(push(root, 'localhost/a/b:1', `${reg.host}/a/b:1`), (e) => e.code === 'PERMISSION_DENIED' && /login/.test(e.message));
    await rejects(push(root, 'localhost/a/b:1', `${reg.host}/a/b:1`, { credentials: { username: 'alice', password: 'wrong' } }), (e) => e.code === 'PERMISSION_DENIED' && /alice/.test(e.message));
    storeCredentials(path.join(root, 'auth.json'), reg.host, { username: 'alice', password: 's3cret' });
    assert.is((fs.statSync(path.join(root, 'auth.json')).mode & 0o777), 0o600);
    const files = authFilesForRead(root);
    await push(root, 'localhost/a/b:1', `${reg.host}/a/b:1`, { authFiles: files });
    const dst = mk('berth-img-root-');
    await rejects(pull(dst, `${reg.host}/a/b:1`), (e) => e.code === 'PERMISSION_DENIED');
    const r = await pull(dst, `${reg.host}/a/b:1`, { authFiles: files });
    assert.is(r.manifest.digest, img.manifest.digest);
    assert.ok(removeCredentials(path.join(root, 'auth.json'), reg.host));
    assert.is(lookupCredentials(reg.host, files), undefined);
  });

  test('token auth: anonymous pull, push needs credentials, scopes per repository', async () => {
    const reg = await startRegistry({ kind: 'token', users: { bob: 'pw' } });
    regs.push(reg);
    const root = await rootWith(img, 'localhost/t/img:1');
    await rejects(push(root, 'localhost/t/img:1', `${reg.host}/t/img:1`), (e) => e.code === 'PERMISSION_DENIED');
    await rejects(push(root, 'localhost/t/img:1', `${reg.host}/t/img:1`, { credentials: { username: 'bob', password: 'nope' } }), (e) => e.code === 'PERMISSION_DENIED' && /bob/.test(e.message));
    await push(root, 'localhost/t/img:1', `${reg.host}/t/img:1`, { credentials: { username: 'bob', password: 'pw' } });
    const seen = reg.tokenServer!.requests;
    assert.ok(seen.some((q) => q.user === 'bob' && q.scopes.includes('repository:t/img:pull,push')), JSON.stringify(seen));
    const dst = mk('berth-img-root-');
    const before = seen.length;
    const r = await pull(dst, `${reg.host}/t/img:1`);
    assert.is(r.manifest.digest, img.manifest.digest);
    assert.ok(seen.slice(before).every((q) => q.user === undefined && q.scopes.every((s) => s === 'repository:t/img:pull')), JSON.stringify(seen.slice(before)));
    // login: credentials checked against /v2/ through the token server
    await new RegistryClient(reg.host, { credentials: { username: 'bob', password: 'pw' } }).checkLogin();
    await rejects(new RegistryClient(reg.host, { credentials: { username: 'bob', password: 'x' } }).checkLogin(), (e) => e.code === 'PERMISSION_DENIED');
  });
}

test.run();
