// Reference parsing and normalisation (Docker's rules), digest validation, platform selection,
// WWW-Authenticate parsing, manifest checks, chain IDs: pure functions, no root, no network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseReference, formatReference, familiarName, isLoopbackRegistry } from '../../image/reference.js';
import { checkDigest, isDigest } from '../../image/digest.js';
import { parsePlatform, selectManifest, hostPlatform } from '../../image/platform.js';
import { parseChallenges } from '../../image/auth.js';
import { parseManifest, MAX_MANIFEST_BYTES } from '../../image/manifest.js';
import { chainIds } from '../../image/chain-id.js';
import { containerConfig, checkUser } from '../../image/container-config.js';
import { validateImageConfig } from '../../image/schemas.js';

const D = 'sha256:' + 'a'.repeat(64);
const norm = (s: string) => formatReference(parseReference(s));

test('references normalise like Docker', () => {
  assert.is(norm('busybox'), 'docker.io/library/busybox:latest');
  assert.is(norm('library/busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.is(norm('user/app'), 'docker.io/user/app:latest');
  assert.is(norm('index.docker.io/user/app'), 'docker.io/user/app:latest');
  assert.is(norm('localhost/app'), 'localhost/app:latest');
  assert.is(norm('localhost:5000/a/b/c:t'), 'localhost:5000/a/b/c:t');
  assert.is(norm('127.0.0.1:5000/app'), '127.0.0.1:5000/app:latest');
  assert.is(norm('[::1]:5000/app:x'), '[::1]:5000/app:x');
  assert.is(norm(`busybox@${D}`), `docker.io/library/busybox@${D}`);
  assert.is(norm(`busybox:1@${D}`), `docker.io/library/busybox:1@${D}`);
  assert.is(norm('quay.io/a_b/c__d-e.f:1.0-x_y'), 'quay.io/a_b/c__d-e.f:1.0-x_y');
  const r = parseReference(`ghcr.io/o/r:v@${D}`);
  assert.equal(r, { registry: 'ghcr.io', repository: 'o/r', tag: 'v', digest: D });
  assert.is(familiarName(parseReference('busybox')), 'busybox');
  assert.is(familiarName(parseReference('user/app')), 'user/app');
});

test('bad references are refused with the reason', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/], ['Busybox', /lowercase/], ['busybox:', /tag/], ['busybox@sha256:abc', /digest/],
    [`busybox@sha512:${'a'.repeat(128)}`, /digest/], ['a//b', /path component/], ['a/-b', /path component/],
    ['busy box', /whitespace/], ['host:99999999/x', /registry/], [':tag', /repository|component/], ['x:' + 't'.repeat(200), /tag/],
  ];
  for (const [s, re] of bad) {
    try { parseReference(s); assert.unreachable(`accepted ${s}`); } catch (e) {
      assert.is((e as { code: string }).code, 'INVALID_ARGUMENT', s);
      assert.match((e as Error).message, re, s);
    }
  }
});

test('loopback registries speak plain HTTP', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1:1', '127.9.9.9', '[::1]:80']) assert.ok(isLoopbackRegistry(h), h);
  for (const h of ['docker.io', '10.0.0.1:5000', 'localhost.evil.com', '128.0.0.1']) assert.not.ok(isLoopbackRegistry(h), h);
});

test('digests are validated before any path is built', () => {
  assert.ok(isDigest(D));
  for (const d of ['sha256:' + 'A'.repeat(64), 'sha256:../../etc/passwd', 'sha256:' + 'a'.repeat(63), 'md5:abc', D + '\n']) {
    assert.throws(() => checkDigest(d), /invalid digest/);
  }
});

test('platforms: parse, host default, select with variants', () => {
  assert.equal(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux'), /os\/arch/);
  assert.is(hostPlatform().os, 'linux');
  const m = (architecture: string, variant?: string) => ({ mediaType: 'x', digest: D, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
  const list = [m('amd64'), m('arm', 'v6'), m('arm', 'v7'), m('arm64')];
  assert.is(selectManifest(list, { os: 'linux', architecture: 'arm', variant: 'v7' }), list[2]);
  assert.is(selectManifest([m('arm', 'v6')], { os: 'linux', architecture: 'arm', variant: 'v7' }).platform?.variant, 'v6');
  assert.is(selectManifest(list, { os: 'linux', architecture: 'arm64', variant: 'v8' }), list[3]);
  assert.throws(() => selectManifest(list, { os: 'windows', architecture: 'amd64' }), /no image for platform windows\/amd64.*linux\/amd64/);
});

test('WWW-Authenticate challenges', () => {
  const c = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
  assert.equal(c, [{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } }]);
  assert.equal(parseChallenges('Basic realm="x y"'), [{ scheme: 'basic', params: { realm: 'x y' } }]);
  const two = parseChallenges('Basic realm=a, Bearer realm="r",error="insufficient_scope"');
  assert.is(two.length, 2);
  assert.is(two[1].params.error, 'insufficient_scope');
  assert.equal(parseChallenges(null), []);
});

test('manifests: schema1 refused, limits, media types', () => {
  const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }));
  assert.throws(() => parseManifest(s1), /schema 1 is deprecated and not supported/);
  assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32)), /exceeds the 4194304-byte limit/);
  assert.throws(() => parseManifest(Buffer.from('{nope')), /not valid JSON/);
  const man = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'c', digest: D, size: 2 }, layers: [{ mediaType: 'l', digest: 'sha256:../../x', size: 1 }] };
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify(man))), /\/layers\/0\/digest/);
  man.layers[0].digest = D;
  assert.is(parseManifest(Buffer.from(JSON.stringify(man))).kind, 'manifest');
  const { mediaType: _mt, ...noType } = man;
  assert.is(parseManifest(Buffer.from(JSON.stringify(noType))).kind, 'manifest');
  assert.is(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }))).kind, 'index');
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify(man)), 'application/vnd.docker.distribution.manifest.v2+json'), /but was served as/);
});

test('chain IDs follow the image spec', () => {
  const a = 'sha256:' + '1'.repeat(64), b = 'sha256:' + '2'.repeat(64);
  const c = chainIds([a, b]);
  assert.is(c[0], a);
  assert.is(c[1], 'sha256:' + require_sha(`${a} ${b}`));
});

import crypto from 'node:crypto';
function require_sha(s: string) { return crypto.createHash('sha256').update(s).digest('hex'); }

test('container config from an image is checked as hostile input', () => {
  const base = { rootfs: { type: 'layers', diff_ids: [] } };
  const cc = containerConfig(validateImageConfig({ ...base, config: { Env: ['A=1'], Cmd: ['sh'], ExposedPorts: { '80': {}, '53/udp': {} }, Volumes: { '/data': {} }, User: '1000:1000', WorkingDir: '/w', StopSignal: 'SIGQUIT', Labels: { a: 'b' } } }));
  assert.equal(cc.exposedPorts, ['80/tcp', '53/udp']);
  assert.equal(cc.volumes, ['/data']);
  assert.is(cc.workingDir, '/w');
  assert.is(containerConfig(validateImageConfig(base)).workingDir, '/');
  assert.throws(() => containerConfig(validateImageConfig({ ...base, config: { Volumes: { '/a/../../etc': {} } } })), /volume/);
  assert.throws(() => containerConfig(validateImageConfig({ ...base, config: { Env: ['NOEQUALS'] } })), /KEY=value/);
  assert.throws(() => containerConfig(validateImageConfig({ ...base, config: { ExposedPorts: { '99999/tcp': {} } } })), /port/);
  assert.throws(() => checkUser('4294967295'), /out of range/);
  assert.throws(() => checkUser('a:b:c'), /user\[:group\]/);
  assert.is(checkUser('nobody:nogroup'), 'nobody:nogroup');
});

test.run();
