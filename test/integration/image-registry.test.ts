// Pull and push against Debian's docker-registry on 127.0.0.1: anonymous, htpasswd Basic and token
// auth; images built here from busybox-static (whiteouts, a hardlink, a zstd layer, two platforms).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { skip, tmpDir, run } from '../lib/harness.js';
import { rejects } from '../lib/image.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../lib/registry.js';
import { makeIndex, standardImage, tarDir, writeLayout, type BuiltImage } from '../lib/image-builder.js';
import { loadArchive } from '../../image/archive-load.js';
import { push } from '../../image/push.js';
import { pull, type PullEvent } from '../../image/pull.js';
import { ContentStore } from '../../image/content-store.js';
import { ImageStore } from '../../image/image-store.js';

const cleanup: (() => Promise<void> | void)[] = [];
const later = (f: () => Promise<void> | void) => cleanup.push(f);

async function storeWith(img: BuiltImage | { top: ReturnType<typeof makeIndex>; images: BuiltImage[] }, name: string): Promise<string> {
  const root = tmpDir('berth-img-root-');
  later(() => fs.rmSync(root, { recursive: true, force: true }));
  const layout = tmpDir('berth-layout-');
  later(() => fs.rmSync(layout, { recursive: true, force: true }));
  if ('top' in img) writeLayout(layout, img.top, img.images);
  else writeLayout(layout, img.manifest, [img]);
  const archive = tarDir(layout, `${layout}.tar`);
  later(() => fs.rmSync(archive, { force: true }));
  await loadArchive(root, archive, { name });
  return root;
}

function freshRoot(): string {
  const root = tmpDir('berth-img-root-');
  later(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

if (!haveRegistry()) {
  skip('image registry tests', 'docker-registry is not installed');
} else {
  let reg: TestRegistry;
  let img: BuiltImage;
  test.before(async () => {
    reg = await startRegistry();
    img = await standardImage({ marker: 'anon' });
  });
  test.after(async () => {
    await reg?.stop();
    for (const f of cleanup.reverse()) await f();
  });

  test('push a loaded image, pull it into an empty store, byte-identical', async () => {
    const src = await storeWith(img, 'localhost/test/img:v1');
    const pushed = await push(src, 'localhost/test/img:v1', `${reg.host}/test/img:v1`);
    assert.is(pushed.digest, img.manifest.digest);
    const dst = freshRoot();
    const events: PullEvent[] = [];
    const res = await pull(dst, `${reg.host}/test/img:v1`, { onEvent: (e) => events.push(e) });
    assert.is(res.manifest.digest, img.manifest.digest);
    assert.is(res.imageId, img.config.digest);
    assert.equal(res.config.config?.Env, ['PATH=/bin', 'MARKER=anon']);
    const cs = new ContentStore(dst);
    for (const l of img.layers) assert.ok(cs.has(l.digest, l.size), `layer ${l.digest} present`);
    assert.equal(await cs.verify(), []);
    assert.ok(events.some((e) => e.type === 'layer' && e.status === 'verified'));
    assert.ok(new ImageStore(dst).get(`${reg.host}/test/img:v1`));
    // a second pull downloads nothing
    const again: PullEvent[] = [];
    await pull(dst, `${reg.host}/test/img:v1`, { onEvent: (e) => again.push(e) });
    assert.ok(again.filter((e) => e.type === 'layer' && e.status !== 'waiting').every((e) => e.type === 'layer' && e.status === 'exists'));
  });

  test('skopeo reads what berth pushed', () => {
    const r = run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/test/img:v1`]);
    assert.is(r.status, 0, r.stderr);
    assert.is(JSON.parse(r.stdout).layers.length, 3);
  });

  test('two-platform index: pull picks the asked platform; push sends the whole index', async () => {
    const amd = await standardImage({ architecture: 'amd64', marker: 'amd' });
    const arm = await standardImage({ architecture: 'arm64', marker: 'arm' });
    const top = makeIndex([amd, arm]);
    const src = await storeWith({ top, images: [amd, arm] }, 'localhost/test/multi:v1');
    const pushed = await push(src, 'localhost/test/multi:v1', `${reg.host}/test/multi:v1`);
    assert.is(pushed.digest, top.digest);
    const dst = freshRoot();
    const a = await pull(dst, `${reg.host}/test/multi:v1`, { platform: { os: 'linux', architecture: 'arm64' } });
    assert.is(a.manifest.digest, arm.manifest.digest);
    assert.is(a.target.digest, top.digest);
    assert.equal(a.config.config?.Env, ['PATH=/bin', 'MARKER=arm']);
    await rejects(pull(freshRoot(), `${reg.host}/test/multi:v1`, { platform: { os: 'linux', architecture: 's390x' } }), /no image for platform linux\/s390x/);
  });

  test('Docker schema2 manifest list and manifests round-trip', async () => {
    const amd = await standardImage({ architecture: 'amd64', marker: 'd-amd', docker: true });
    const arm = await standardImage({ architecture: 'arm64', marker: 'd-arm', docker: true });
    const top = makeIndex([amd, arm], true);
    const src = await storeWith({ top, images: [amd, arm] }, 'localhost/test/dlist:v1');
    await push(src, 'localhost/test/dlist:v1', `${reg.host}/test/dlist:v1`);
    const raw = run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/test/dlist:v1`]);
    assert.is(JSON.parse(raw.stdout).mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const r = await pull(freshRoot(), `${reg.host}/test/dlist:v1`, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.is(r.manifest.digest, amd.manifest.digest);
    assert.is(r.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  });

  test('pull by digest and name:tag@digest; unknown tag is NOT_FOUND', async () => {
    const dst = freshRoot();
    const r = await pull(dst, `${reg.host}/test/img@${img.manifest.digest}`);
    assert.is(r.manifest.digest, img.manifest.digest);
    const r2 = await pull(dst, `${reg.host}/test/img:v1@${img.manifest.digest}`);
    assert.is(r2.manifest.digest, img.manifest.digest);
    await rejects(pull(dst, `${reg.host}/test/img:nope`), (e: { code?: string; message: string }) => e.code === 'NOT_FOUND' && /manifest/.test(e.message));
  });

  test('cross-repository mount is used for blobs of another local repository', async () => {
    const src = await storeWith(img, 'localhost/test/img:v1');
    // Make berth believe the blobs came from reg/test/img by pulling them from there.
    await pull(src, `${reg.host}/test/img:v1`);
    const statuses: string[] = [];
    await push(src, `${reg.host}/test/img:v1`, `${reg.host}/other/copy:v1`, { onEvent: (e) => { if (e.type === 'blob') statuses.push(e.status); } });
    assert.ok(statuses.includes('mounted'), `statuses: ${statuses.join(',')}`);
  });
}

test.run();
