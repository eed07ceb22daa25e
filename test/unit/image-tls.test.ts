// Registry TLS settings: certs directories read the podman/docker way (*.crt CAs, <name>.cert +
// <name>.key client pairs), and which scheme a registry is spoken to with.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registryTls, tlsMatters, certificateProblem, notTls } from '../../image/tls.js';
import { RegistryClient } from '../../image/registry.js';

const roots: string[] = [];
function certsRoot(files: Record<string, Record<string, string>>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-certsd-'));
  roots.push(root);
  for (const [host, entries] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, host), { recursive: true });
    for (const [n, text] of Object.entries(entries)) fs.writeFileSync(path.join(root, host, n), text);
  }
  return root;
}
test.after(() => { for (const r of roots) fs.rmSync(r, { recursive: true, force: true }); });

test('per-host dirs: CAs from every root, a client pair, nothing when no dir exists', () => {
  const a = certsRoot({ 'reg.example:5000': { 'ca.crt': 'CA-A', 'client.cert': 'CERT', 'client.key': 'KEY' } });
  const b = certsRoot({ 'reg.example:5000': { 'extra.crt': 'CA-B' }, 'other:1': { 'ca.crt': 'CA-OTHER' } });
  const t = registryTls('reg.example:5000', { certsDirs: [a, b] })!;
  assert.equal(t.ca, ['CA-A', 'CA-B']);
  assert.is(t.cert, 'CERT');
  assert.is(t.key, 'KEY');
  assert.is(t.verify, true);
  assert.equal(t.dirs, [path.join(a, 'reg.example:5000'), path.join(b, 'reg.example:5000')]);
  assert.ok(tlsMatters(t));
  assert.is(registryTls('nothing.example', { certsDirs: [a, b] }), undefined);
  assert.is(tlsMatters(registryTls('nothing.example', { certsDirs: [a] })), false);
});

test('--cert-dir replaces the lookup; a missing one or a lone key is an error', () => {
  const a = certsRoot({ mine: { 'ca.crt': 'MINE' }, lone: { 'client.key': 'KEY' } });
  assert.equal(registryTls('reg.example', { certDir: path.join(a, 'mine'), certsDirs: [a] })!.ca, ['MINE']);
  assert.throws(() => registryTls('reg.example', { certDir: path.join(a, 'absent') }), /does not exist/);
  assert.throws(() => registryTls('reg.example', { certDir: path.join(a, 'lone') }), /no client certificate/);
});

test('--tls-verify=false alone matters', () => {
  const t = registryTls('reg.example', { tlsVerify: false, certsDirs: [] });
  assert.ok(t && !t.verify && tlsMatters(t));
});

test('scheme: HTTPS unless loopback or insecure; TLS settings bring HTTPS back', () => {
  const base = (r: string, o = {}) => new RegistryClient(r, { certsDirs: [], ...o }).base;
  assert.is(base('reg.example:5000'), 'https://reg.example:5000');
  assert.is(base('docker.io'), 'https://registry-1.docker.io');
  assert.is(base('127.0.0.1:5000'), 'http://127.0.0.1:5000');
  assert.is(base('localhost:5000'), 'http://localhost:5000');
  assert.is(base('reg.example:5000', { insecure: ['reg.example:5000'] }), 'http://reg.example:5000');
  assert.is(base('127.0.0.1:5000', { tlsVerify: false }), 'https://127.0.0.1:5000');
  const dir = certsRoot({ '127.0.0.1:5000': { 'ca.crt': 'CA' } });
  assert.is(base('127.0.0.1:5000', { certsDirs: [dir] }), 'https://127.0.0.1:5000');
});

test('errors told apart: certificate problems and servers without TLS, through cause chains', () => {
  const cert = new TypeError('fetch failed', { cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) });
  assert.is(certificateProblem(new Error('wrapped', { cause: cert })), 'self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)');
  assert.is(certificateProblem(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined);
  assert.ok(notTls(new TypeError('fetch failed', { cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }) })));
  assert.not.ok(notTls(cert));
});

test.run();
