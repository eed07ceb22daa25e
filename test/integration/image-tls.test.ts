// Registries over TLS: docker-registry serving HTTPS with a throwaway CA made here (openssl). The
// `berth` CLI must refuse a certificate it cannot verify with an error naming the registry and the
// problem, trust the CA from --cert-dir or /etc/containers/certs.d/<host:port>/, skip checks with
// --tls-verify=false, and speak HTTPS by default to a registry that is not on loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, makeTestCa, startRegistry, type TestCa, type TestRegistry } from '../lib/registry.js';
import { standardImage, tarDir, writeLayout, type BuiltImage } from '../lib/image-builder.js';

const dirs: string[] = [];
const mk = (p: string) => { const d = tmpDir(p); dirs.push(d); return d; };

function berth(root: string, args: string[]) {
  const bundle = path.join(REPO, 'dist', 'berth.cjs');
  const cmd = fs.existsSync(bundle) ? [bundle] : ['--import', 'tsx', path.join(REPO, 'cli', 'main.ts')];
  const r = run(process.execPath, [...cmd, '--root', root, '--state', path.join(root, 'state'), ...args], { cwd: REPO, timeout: 120_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
function ok(root: string, args: string[]): string {
  const r = berth(root, args);
  assert.is(r.status, 0, `berth ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

/** A certs dir holding only the CA certificate, as users lay them out. */
function certsDir(ca: TestCa): string {
  const d = mk('berth-certs-');
  fs.copyFileSync(ca.caFile, path.join(d, 'ca.crt'));
  return d;
}

/** An address of this host that is not loopback, for the "HTTPS by default" case. */
function externalIPv4(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

if (!haveRegistry()) {
  skip('image TLS tests', 'docker-registry is not installed');
} else {
  let reg: TestRegistry;
  let img: BuiltImage;
  let good: string;
  let wrong: string;
  let src: string;
  let ca: TestCa;
  test.before(async () => {
    ca = makeTestCa(mk('berth-ca-'));
    good = certsDir(ca);
    wrong = certsDir(makeTestCa(mk('berth-ca-other-')));
    reg = await startRegistry({ kind: 'none' }, { tls: ca });
    img = await standardImage({ marker: 'tls' });
    const layout = mk('berth-layout-');
    writeLayout(layout, img.manifest, [img]);
    src = mk('berth-tls-src-');
    ok(src, ['load', '-i', tarDir(layout, path.join(mk('berth-arch-'), 'img.tar')), '--name', 'localhost/t/tls']);
  });
  test.after(async () => {
    await reg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('push and pull over HTTPS with --cert-dir holding the CA', () => {
    ok(src, ['push', '--cert-dir', good, 'localhost/t/tls', `${reg.host}/t/tls:1`]);
    const root = mk('berth-tls-root-');
    assert.is(ok(root, ['pull', '-q', '--cert-dir', good, `${reg.host}/t/tls:1`]).trim(), img.manifest.digest);
    assert.match(ok(root, ['images']), `${reg.host}/t/tls`);
  });

  test('a CA that did not sign the certificate: a clear error naming the registry and the problem', () => {
    const r = berth(mk('berth-tls-root-'), ['pull', '--cert-dir', wrong, `${reg.host}/t/tls:1`]);
    assert.is.not(r.status, 0);
    assert.match(r.err, `registry ${reg.host}`);
    assert.match(r.err, /TLS certificate does not verify: .*certificate/);
    assert.match(r.err, /--cert-dir/);
    assert.match(r.err, /--tls-verify=false/);
  });

  test('a loopback registry gets plain HTTP unless given TLS settings: the error says so', () => {
    const r = berth(mk('berth-tls-root-'), ['pull', `${reg.host}/t/tls:1`]);
    assert.is.not(r.status, 0);
    assert.match(r.err, `${reg.host} refused plain HTTP`);
    assert.match(r.err, /--cert-dir/);
  });

  test('--tls-verify=false pulls from a registry whose CA is unknown', () => {
    const root = mk('berth-tls-root-');
    assert.is(ok(root, ['pull', '-q', '--tls-verify=false', `${reg.host}/t/tls:1`]).trim(), img.manifest.digest);
    // Unpacked too: the snapshot holds the image's marker file.
    assert.ok(fs.readdirSync(path.join(root, 'snapshots')).length > 0);
  });

  test('the CA from /etc/containers/certs.d/<host:port>/ca.crt is trusted without flags', () => {
    const base = '/etc/containers/certs.d';
    const created = ['/etc/containers', base].filter((d) => !fs.existsSync(d));
    const hostDir = path.join(base, reg.host);
    fs.mkdirSync(hostDir, { recursive: true });
    try {
      fs.copyFileSync(path.join(good, 'ca.crt'), path.join(hostDir, 'ca.crt'));
      const root = mk('berth-tls-root-');
      assert.is(ok(root, ['pull', '-q', `${reg.host}/t/tls:1`]).trim(), img.manifest.digest);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
      for (const d of created.reverse()) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('login over HTTPS: --cert-dir verifies the credentials; an unknown CA is refused naming the certificate problem; --tls-verify=false skips checks', async () => {
    const priv = await startRegistry({ kind: 'basic', users: { dora: 'pw-tls' } }, { tls: ca });
    try {
      const root = mk('berth-tls-root-');
      const authfile = path.join(root, 'auth.json');
      const login = (extra: string[], pw = 'pw-tls') => berth(root, ['login', '-u', 'dora', '-p', pw, '--authfile', authfile, ...extra, priv.host]);

      for (const extra of [['--tls-verify=true'], ['--cert-dir', wrong]]) {
        const r = login(extra);
        assert.is.not(r.status, 0, `login ${extra.join(' ')} should fail`);
        assert.match(r.err, `registry ${priv.host}`);
        assert.match(r.err, /TLS certificate does not verify: .*certificate/);
        assert.match(r.err, /--cert-dir/);
      }
      assert.not.ok(fs.existsSync(authfile), 'a failed login stores nothing');

      // The credentials really are checked over TLS, not just the handshake.
      const bad = login(['--cert-dir', good], 'wrong');
      assert.is.not(bad.status, 0);
      assert.match(bad.err, `${priv.host} refused the credentials of dora`);
      assert.not.ok(fs.existsSync(authfile));

      assert.match(login(['--cert-dir', good]).out, 'Login Succeeded');
      const stored = JSON.parse(fs.readFileSync(authfile, 'utf8')).auths[priv.host].auth;
      assert.is(Buffer.from(stored, 'base64').toString(), 'dora:pw-tls');

      fs.rmSync(authfile);
      const insecure = login(['--tls-verify=false']);
      assert.is(insecure.status, 0, insecure.err);
      assert.ok(fs.existsSync(authfile));
      // The stored login is what push uses against the same registry over TLS.
      ok(src, ['push', '--authfile', authfile, '--cert-dir', good, 'localhost/t/tls', `${priv.host}/t/tls:1`]);
    } finally {
      await priv.stop();
    }
  });

  const ip = externalIPv4();
  if (!ip) {
    skip('HTTPS by default for a registry off loopback', 'this host has no non-loopback IPv4 address');
  } else {
    test('a registry off loopback is spoken to over HTTPS; --insecure-registry or --tls-verify=false reach it over HTTP', async () => {
      const plain = await startRegistry({ kind: 'none' }, { addr: ip });
      try {
        ok(src, ['push', '--insecure-registry', plain.host, 'localhost/t/tls', `${plain.host}/t/tls:1`]);
        const r = berth(mk('berth-tls-root-'), ['pull', `${plain.host}/t/tls:1`]);
        assert.is.not(r.status, 0);
        assert.match(r.err, `registry ${plain.host} does not speak TLS`);
        assert.is(ok(mk('berth-tls-root-'), ['pull', '-q', '--tls-verify=false', `${plain.host}/t/tls:1`]).trim(), img.manifest.digest);
        assert.is(ok(mk('berth-tls-root-'), ['pull', '-q', '--insecure-registry', plain.host, `${plain.host}/t/tls:1`]).trim(), img.manifest.digest);
      } finally {
        await plain.stop();
      }
    });
  }
}

test.run();
