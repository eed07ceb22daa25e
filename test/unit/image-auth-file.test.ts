// The docker-compatible auth file: where `login` writes, the order lookups read in, Docker Hub's
// historical key, mode 0600, logout of one registry leaving others.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../lib/harness.js';
import { authFileForWrite, authFilesForRead, lookupCredentials, removeCredentials, storeCredentials } from '../../image/auth-file.js';

const dir = tmpDir('berth-authfile-');
const saved = { REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE, DOCKER_CONFIG: process.env.DOCKER_CONFIG };
test.after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
});

test('login writes <root>/auth.json (or $REGISTRY_AUTH_FILE) with mode 0600', () => {
  delete process.env.REGISTRY_AUTH_FILE;
  const root = path.join(dir, 'root');
  assert.is(authFileForWrite(root), path.join(root, 'auth.json'));
  assert.is(authFileForWrite(root, '/x/y.json'), '/x/y.json');
  process.env.REGISTRY_AUTH_FILE = path.join(dir, 'env.json');
  assert.is(authFileForWrite(root), path.join(dir, 'env.json'));
  delete process.env.REGISTRY_AUTH_FILE;
  storeCredentials(authFileForWrite(root), 'docker.io', { username: 'u', password: 'p:with:colons' });
  storeCredentials(authFileForWrite(root), 'reg.example:5000', { username: 'v', password: 'q' });
  const file = path.join(root, 'auth.json');
  assert.is(fs.statSync(file).mode & 0o777, 0o600);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(doc.auths['https://index.docker.io/v1/'], 'Docker Hub under its historical key');
  assert.equal(lookupCredentials('docker.io', [file]), { username: 'u', password: 'p:with:colons' });
  assert.ok(removeCredentials(file, 'docker.io'));
  assert.not.ok(removeCredentials(file, 'docker.io'));
  assert.equal(lookupCredentials('reg.example:5000', [file]), { username: 'v', password: 'q' });
});

test('lookups: explicit file, then $REGISTRY_AUTH_FILE, <root>/auth.json, docker config.json', () => {
  const root = path.join(dir, 'root2');
  fs.mkdirSync(root, { recursive: true });
  const docker = path.join(dir, 'docker');
  fs.mkdirSync(docker);
  process.env.DOCKER_CONFIG = docker;
  fs.writeFileSync(path.join(docker, 'config.json'), JSON.stringify({ auths: { 'https://ghcr.io': { auth: Buffer.from('d:1').toString('base64') }, 'quay.io': { auth: Buffer.from('d:2').toString('base64') } } }));
  fs.writeFileSync(path.join(root, 'auth.json'), JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('r:2').toString('base64') } } }));
  const files = authFilesForRead(root);
  assert.equal(files, [path.join(root, 'auth.json'), path.join(docker, 'config.json')]);
  assert.equal(lookupCredentials('ghcr.io', files), { username: 'd', password: '1' });
  assert.equal(lookupCredentials('quay.io', files), { username: 'r', password: '2' });
  assert.is(lookupCredentials('other.io', files), undefined);
  fs.writeFileSync(path.join(dir, 'broken.json'), '{');
  assert.throws(() => lookupCredentials('x.io', [path.join(dir, 'broken.json')]), /not valid JSON/);
});

test.run();
