// Image references parsed and normalised the way Docker does (distribution/reference):
// `busybox` -> docker.io/library/busybox:latest, `host:port/repo:tag`, `name@digest`, `name:tag@digest`.
import { invalidArgument } from '../lib/errors.js';
import { isDigest, type Digest } from './digest.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  registry: string;      // docker.io, localhost:5000, [::1]:5000
  repository: string;    // library/busybox
  tag?: string;          // latest (absent when only a digest was given)
  digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

function validDomain(d: string): boolean {
  let host = d;
  let port: string | undefined;
  if (d.startsWith('[')) {
    const end = d.indexOf(']');
    if (end < 0) return false;
    host = d.slice(1, end);
    const rest = d.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return false;
    return /^[0-9a-fA-F:.]+$/.test(host);
  }
  const colon = d.lastIndexOf(':');
  if (colon >= 0) { port = d.slice(colon + 1); host = d.slice(0, colon); }
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return false;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

export function parseReference(input: string): Reference {
  const bad = (why: string) => invalidArgument(`invalid image reference ${JSON.stringify(input)}: ${why}`);
  if (typeof input !== 'string' || input.length === 0) throw bad('empty');
  if (input.length > 1024) throw bad('longer than 1024 characters');
  if (/\s/.test(input)) throw bad('contains whitespace');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`digest ${JSON.stringify(d)} is not sha256:<64 lowercase hex>`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad(`tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (!rest) throw bad('no repository name');

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Docker's rule: the first component is a registry when it looks like a host.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      if (!validDomain(first)) throw bad(`registry ${JSON.stringify(first)} is not a valid host[:port]`);
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (path !== path.toLowerCase()) throw bad('repository names must be lowercase');
  const parts = path.split('/');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(`path component ${JSON.stringify(p)} must match [a-z0-9]+ separated by ., _, __ or -`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) path = `library/${path}`;
  if (registry.length + 1 + path.length > 255) throw bad('name longer than 255 characters');
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { registry, repository: path, tag, digest };
}

/** The repository with its registry: docker.io/library/busybox. */
export function repoName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

/** Fully qualified form; the digest wins over a tag when both are present only in formatting order. */
export function formatReference(r: Reference): string {
  return `${repoName(r)}${r.tag ? ':' + r.tag : ''}${r.digest ? '@' + r.digest : ''}`;
}

/** Short form the way `docker images` shows it: docker.io/library/ dropped. */
export function familiarName(r: Reference): string {
  if (r.registry !== DEFAULT_REGISTRY) return repoName(r);
  return r.repository.startsWith('library/') ? r.repository.slice('library/'.length) : `${r.repository}`;
}

/** What the registry is asked for: the digest if pinned, else the tag. */
export function manifestRef(r: Reference): string {
  return r.digest ?? r.tag ?? DEFAULT_TAG;
}

/** Registries the user did not mark insecure are spoken to over HTTPS, except loopback. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
