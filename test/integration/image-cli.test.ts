// The image commands of the `berth` CLI end to end (bundle in bin/berth, or the sources through
// tsx when no bundle is built): load, push, pull (with unpack), images, tag, inspect, save in both
// formats cross-checked with skopeo, rmi and image prune, login/logout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../lib/registry.js';
import { standardImage, tarDir, writeLayout, type BuiltImage } from '../lib/image-builder.js';

const dirs: string[] = [];
const mk = (p: string) => { const d = tmpDir(p); dirs.push(d); return d; };

function berth(root: string, args: string[], input?: string) {
  const bundle = path.join(REPO, 'dist', 'berth.cjs');
  const cmd = fs.existsSync(bundle) ? [bundle] : ['--import', 'tsx', path.join(REPO, 'cli', 'main.ts')];
  const r = run(process.execPath, [...cmd, '--root', root, '--state', path.join(root, 'state'), ...args], { input, cwd: REPO, timeout: 120_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
function ok(root: string, args: string[], input?: string): string {
  const r = berth(root, args, input);
  assert.is(r.status, 0, `berth ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

if (!haveRegistry()) {
  skip('image CLI tests', 'docker-registry is not installed');
} else {
  let reg: TestRegistry;
  let img: BuiltImage;
  let dockerImg: BuiltImage;
  let archive: string;
  let root: string;
  test.before(async () => {
    reg = await startRegistry();
    img = await standardImage({ marker: 'cli' });
    dockerImg = await standardImage({ marker: 'docker', docker: true });
    const layout = mk('berth-layout-');
    writeLayout(layout, img.manifest, [img]);
    archive = tarDir(layout, path.join(mk('berth-arch-'), 'img.tar'));
    root = mk('berth-cli-root-');
  });
  test.after(async () => {
    await reg?.stop();
    for (const d of dirs) {
      // unpacked snapshots may hold overlay work dirs: make sure nothing is mounted below.
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('load, tag, push, images', () => {
    assert.match(ok(root, ['load', '-i', archive, '--name', 'localhost/t/cli']), 'Loaded image: localhost/t/cli:latest');
    ok(root, ['tag', 'localhost/t/cli', `${reg.host}/t/cli:v1`]);
    const out = ok(root, ['push', `${reg.host}/t/cli:v1`]);
    assert.match(out, img.manifest.digest);
    const list = ok(root, ['images']);
    assert.match(list, `${reg.host}/t/cli`);
    assert.match(list, img.config.digest.slice(7, 19));
    assert.is(ok(root, ['images', '-q']).trim(), img.config.digest.slice(7, 19));
  });

  test('pull into an empty root prints plain progress lines and unpacks', () => {
    const dst = mk('berth-cli-root-');
    const r = berth(dst, ['pull', ...(isRoot ? [] : ['--no-unpack']), `${reg.host}/t/cli:v1`]);
    assert.is(r.status, 0, r.err);
    assert.match(r.err, /Download complete/);
    assert.match(r.out, `Digest: ${img.manifest.digest}`);
    if (isRoot) {
      assert.match(r.err, /Unpacked to snapshot sha256:/);
      const chain = ok(dst, ['image', 'inspect', '-f', 'topChainId', `${reg.host}/t/cli:v1`]).trim();
      assert.match(r.err, chain);
    } else skip('pull unpack', 'not root');
    const q = berth(dst, ['pull', '-q', '--no-unpack', `${reg.host}/t/cli:v1`]);
    assert.is(q.out.trim(), img.manifest.digest);
    assert.is(q.err.trim(), '');
    const bad = berth(dst, ['pull', 'UPPER/case']);
    assert.is(bad.status, 125);
    assert.match(bad.err, /invalid image reference "UPPER\/case".*lowercase.*\(invalid_argument\)/);
  });

  test('inspect shows config, layers and sizes', () => {
    const d = JSON.parse(ok(root, ['image', 'inspect', `${reg.host}/t/cli:v1`]))[0];
    assert.is(d.id, img.config.digest);
    assert.is(d.layers.length, 3);
    assert.is(d.config.config.WorkingDir, '/data');
    assert.is(d.size, img.config.size + img.layers.reduce((a, l) => a + l.size, 0));
  });

  test('save as OCI archive and docker archive; skopeo copies both to the registry; load round-trips', () => {
    const out = mk('berth-save-');
    const oci = path.join(out, 'img-oci.tar');
    const dock = path.join(out, 'img-docker.tar');
    ok(root, ['save', '-o', oci, `${reg.host}/t/cli:v1`]);
    ok(root, ['save', '--format', 'docker-archive', '-o', dock, `${reg.host}/t/cli:v1`]);
    let r = run('skopeo', ['copy', '--dest-tls-verify=false', `oci-archive:${oci}:v1`, `docker://${reg.host}/skopeo/oci:v1`]);
    assert.is(r.status, 0, r.stderr);
    r = run('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${dock}`, `docker://${reg.host}/skopeo/docker:v1`]);
    assert.is(r.status, 0, r.stderr);
    const raw = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/skopeo/oci:v1`]).stdout);
    assert.equal(raw.layers.map((l: { digest: string }) => l.digest), img.layers.map((l) => l.digest));
    // berth pulls what skopeo pushed (skopeo recompresses the docker archive's plain layers)
    const dst = mk('berth-cli-root-');
    ok(dst, ['pull', '--no-unpack', `${reg.host}/skopeo/docker:v1`]);
    const d = JSON.parse(ok(dst, ['image', 'inspect', `${reg.host}/skopeo/docker:v1`]))[0];
    assert.is(d.config.rootfs.diff_ids.length, 3);
    assert.equal(d.config.rootfs.diff_ids, img.layers.map((l) => l.diffId));
    // docker archive loads back into berth by its RepoTags
    const back = mk('berth-cli-root-');
    assert.match(ok(back, ['load', '-i', dock]), `Loaded image: ${reg.host}/t/cli:v1`);
    const d2 = JSON.parse(ok(back, ['image', 'inspect', `${reg.host}/t/cli:v1`]))[0];
    assert.is(d2.id, img.config.digest);
    // skopeo's own docker-archive output loads too (a Docker schema2 image: docker archives hold no zstd)
    const dimg = path.join(mk('berth-layout-'), 'd.tar');
    const dl = mk('berth-layout-');
    writeLayout(dl, dockerImg.manifest, [dockerImg]);
    ok(back, ['load', '-i', tarDir(dl, dimg), '--name', 'localhost/t/docker:s2']);
    ok(back, ['push', 'localhost/t/docker:s2', `${reg.host}/t/docker:s2`]);
    const sk = path.join(out, 'skopeo-docker.tar');
    r = run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/t/docker:s2`, `docker-archive:${sk}:example.com/sk/img:2`]);
    assert.is(r.status, 0, r.stderr);
    assert.match(ok(back, ['load', '-i', sk]), 'Loaded image: example.com/sk/img:2');
    const d3 = JSON.parse(ok(back, ['image', 'inspect', 'example.com/sk/img:2']))[0];
    assert.is(d3.id, dockerImg.config.digest);
  });

  test('image mount shows the unpacked root filesystem read-only; unmount removes it', () => {
    if (!isRoot) { skip('image mount', 'needs root for mounts'); return; }
    const dir = ok(root, ['image', 'mount', `${reg.host}/t/cli:v1`]).trim();
    try {
      assert.is(fs.readFileSync(path.join(dir, 'etc/hello'), 'utf8'), 'hello cli\n');
      assert.is(fs.readFileSync(path.join(dir, 'zstd.txt'), 'utf8'), 'zstd layer cli\n');
      assert.not.ok(fs.existsSync(path.join(dir, 'etc/passwd')), 'whiteout applied');
      assert.ok(fs.statSync(path.join(dir, 'bin/busybox')).mode & 0o111);
      assert.throws(() => fs.writeFileSync(path.join(dir, 'new'), 'x'), /EROFS|read-only/);
      // prune keeps a mounted image's snapshots
      ok(root, ['image', 'prune']);
      assert.ok(fs.existsSync(path.join(dir, 'etc/hello')));
    } finally {
      ok(root, ['image', 'unmount', `${reg.host}/t/cli:v1`]);
    }
    assert.not.ok(fs.existsSync(dir));
    assert.not.match(fs.readFileSync('/proc/self/mountinfo', 'utf8'), dir);
  });

  test('rmi untags and deletes unreferenced blobs; image prune reclaims the rest', () => {
    const r2 = mk('berth-cli-root-');
    ok(r2, ['load', '-i', archive, '--name', 'localhost/t/a']);
    ok(r2, ['tag', 'localhost/t/a', 'localhost/t/b:2']);
    const multi = berth(r2, ['rmi', img.config.digest.slice(7, 19)]);
    assert.is(multi.status, 125);
    assert.match(multi.err, /referenced by 2 names/);
    let out = ok(r2, ['rmi', 'localhost/t/b:2']);
    assert.match(out, 'Untagged: localhost/t/b:2');
    assert.not.match(out, 'Deleted');
    out = ok(r2, ['rmi', 'localhost/t/a:latest']);
    assert.match(out, `Deleted: ${img.layers[0].digest}`);
    assert.is(fs.readdirSync(path.join(r2, 'content', 'blobs', 'sha256')).length, 0);
    const missing = berth(r2, ['rmi', 'localhost/t/a:latest']);
    assert.match(missing.err, /not_found/);
    fs.mkdirSync(path.join(r2, 'content', 'ingest', 'a'.repeat(64)), { recursive: true });
    out = ok(r2, ['image', 'prune']);
    assert.match(out, 'partial download');
    assert.equal(fs.readdirSync(path.join(r2, 'content', 'ingest')).filter((n) => !n.endsWith('.lock')), []);
  });

  test('login checks credentials and writes the auth file; logout removes them', async () => {
    const basic = await startRegistry({ kind: 'basic', users: { carol: 'pw1' } });
    try {
      const r = mk('berth-cli-root-');
      const bad = berth(r, ['login', '-u', 'carol', '--password-stdin', basic.host], 'wrong\n');
      assert.is(bad.status, 125);
      assert.match(bad.err, /refused the credentials of carol/);
      assert.match(ok(r, ['login', '-u', 'carol', '--password-stdin', basic.host], 'pw1\n'), 'Login Succeeded');
      const file = JSON.parse(fs.readFileSync(path.join(r, 'auth.json'), 'utf8'));
      assert.is(Buffer.from(file.auths[basic.host].auth, 'base64').toString(), 'carol:pw1');
      ok(r, ['load', '-i', archive, '--name', 'localhost/t/cli']);
      ok(r, ['push', 'localhost/t/cli', `${basic.host}/p/q:1`]);
      ok(r, ['logout', basic.host]);
      const denied = berth(r, ['push', 'localhost/t/cli', `${basic.host}/p/q:2`]);
      assert.match(denied.err, /permission_denied/);
    } finally {
      await basic.stop();
    }
  });
}

test.run();
