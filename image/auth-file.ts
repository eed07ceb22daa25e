// Credentials in Docker's config.json format ({"auths": {"host": {"auth": base64(user:pass)}}}),
// the format podman, skopeo and docker all read. `berth login` writes <root>/auth.json unless
// $REGISTRY_AUTH_FILE names another file; lookups also fall back to ~/.docker/config.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeJsonAtomic } from '../lib/atomic-write.js';
import { withLock } from '../lib/file-lock.js';
import { invalidArgument } from '../lib/errors.js';

export interface Credentials { username: string; password: string }

interface AuthFile { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>; [k: string]: unknown }

/** The file `login` writes and `logout` edits. */
export function authFileForWrite(root: string, explicit?: string): string {
  return explicit ?? process.env.REGISTRY_AUTH_FILE ?? path.join(root, 'auth.json');
}

/** Files consulted for credentials, first match wins. */
export function authFilesForRead(root: string, explicit?: string): string[] {
  if (explicit) return [explicit];
  const files = [process.env.REGISTRY_AUTH_FILE, path.join(root, 'auth.json')];
  const dockerConfig = process.env.DOCKER_CONFIG ? path.join(process.env.DOCKER_CONFIG, 'config.json') : path.join(os.homedir(), '.docker', 'config.json');
  files.push(dockerConfig);
  return files.filter((f): f is string => Boolean(f));
}

// docker.io credentials are stored under Docker Hub's historical index URL.
const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

function keysFor(registry: string): string[] {
  return registry === 'docker.io' ? DOCKER_HUB_KEYS : [registry, `https://${registry}`, `http://${registry}`];
}

function normaliseKey(k: string): string {
  const s = k.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB_KEYS.includes(k) || DOCKER_HUB_KEYS.includes(s) ? 'docker.io' : s;
}

function readFile(file: string): AuthFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as AuthFile;
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch (e) {
    throw invalidArgument(`auth file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function decode(entry: { auth?: string; username?: string; password?: string }, file: string): Credentials | undefined {
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = plain.indexOf(':');
  if (i < 0) throw invalidArgument(`auth file ${file}: the "auth" entry is not base64(user:password)`);
  return { username: plain.slice(0, i), password: plain.slice(i + 1) };
}

export function lookupCredentials(registry: string, files: string[]): Credentials | undefined {
  for (const file of files) {
    const doc = readFile(file);
    if (!doc?.auths) continue;
    for (const [k, entry] of Object.entries(doc.auths)) {
      if (normaliseKey(k) === normaliseKey(registry) || keysFor(registry).includes(k)) {
        const c = decode(entry ?? {}, file);
        if (c) return c;
      }
    }
  }
  return undefined;
}

export function storeCredentials(file: string, registry: string, creds: Credentials): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  withLock(`${file}.lock`, () => {
    const doc = readFile(file) ?? {};
    doc.auths ??= {};
    for (const k of Object.keys(doc.auths)) if (normaliseKey(k) === normaliseKey(registry)) delete doc.auths[k];
    const key = registry === 'docker.io' ? DOCKER_HUB_KEYS[0] : registry;
    doc.auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
    writeJsonAtomic(file, doc, 0o600);
  });
}

/** Returns false when there was nothing stored for the registry. */
export function removeCredentials(file: string, registry: string): boolean {
  if (!fs.existsSync(file)) return false;
  return withLock(`${file}.lock`, () => {
    const doc = readFile(file);
    if (!doc?.auths) return false;
    let removed = false;
    for (const k of Object.keys(doc.auths)) {
      if (normaliseKey(k) === normaliseKey(registry)) { delete doc.auths[k]; removed = true; }
    }
    if (removed) writeJsonAtomic(file, doc, 0o600);
    return removed;
  });
}
