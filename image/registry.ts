// Distribution-spec v2 client for one registry: the /v2/ probe, authentication on demand per
// repository scope, manifests, blobs (ranged GET, HEAD, chunkless upload, cross-repo mount).
import { BerthError, isBerthError, notFound, permissionDenied, unavailable, invalidArgument, failedPrecondition } from '../lib/errors.js';
import { lookupCredentials, type Credentials } from './auth-file.js';
import { basicHeader, parseChallenges, TokenCache, type Challenge } from './auth.js';
import { isLoopbackRegistry } from './reference.js';
import { httpRequest, isTransient, type HttpRequest } from './transport.js';
import { certificateProblem, notTls, registryTls, tlsFetcher, tlsMatters, type Fetcher, type TlsSettings } from './tls.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';
import type { Digest } from './digest.js';

export interface RegistryOptions {
  /** Explicit credentials win over the auth files. */
  credentials?: Credentials;
  /** Auth files to consult (see auth-file.ts authFilesForRead). */
  authFiles?: string[];
  /** Registries (host[:port]) spoken to over plain HTTP. */
  insecure?: string[];
  userAgent?: string;
  /** false: HTTPS without certificate checks, plain HTTP if the registry speaks no TLS (--tls-verify=false). */
  tlsVerify?: boolean;
  /** CA certificates (*.crt) and a client certificate (*.cert + *.key) for the registry (--cert-dir). */
  certDir?: string;
  /** Where per-registry certs directories are looked up (default /etc/containers/certs.d, /etc/docker/certs.d). */
  certsDirs?: string[];
}

type Action = 'pull' | 'push';

export class RegistryClient {
  private creds: Credentials | undefined;
  private challenge: Challenge | undefined | null = null; // null: not probed yet
  private tokens: TokenCache;
  private ua: string;

  base: string;
  private readonly tls: TlsSettings | undefined;
  private readonly fetcher: Fetcher | undefined;

  constructor(readonly registry: string, opts: RegistryOptions = {}) {
    this.tls = registryTls(registry, opts);
    // HTTPS unless the registry is loopback or marked insecure, and then still HTTPS when the user
    // gave it TLS settings (a certs dir, --tls-verify=false): a local registry may well serve TLS.
    const plain = (isLoopbackRegistry(registry) || (opts.insecure ?? []).includes(registry)) && !this.tls && opts.tlsVerify === undefined;
    // Docker Hub's API lives on registry-1.docker.io, not on docker.io.
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.base = `${plain ? 'http' : 'https'}://${host}`;
    this.fetcher = tlsMatters(this.tls) ? tlsFetcher(this.tls) : undefined;
    this.creds = opts.credentials ?? (opts.authFiles ? lookupCredentials(registry, opts.authFiles) : undefined);
    this.tokens = new TokenCache(this.creds, this.fetcher);
    this.ua = opts.userAgent ?? 'berth/0.1';
  }

  /** One exchange with the registry; a certificate it cannot verify is a clear, final error. */
  private async send(req: HttpRequest): Promise<Response> {
    try {
      return await httpRequest({ ...req, fetcher: this.fetcher });
    } catch (e) {
      if (notTls(e) && req.url.startsWith('https:')) {
        throw failedPrecondition(`registry ${this.registry} does not speak TLS (HTTPS): mark it --insecure-registry ${this.registry} for plain HTTP, or use --tls-verify=false`, e);
      }
      const problem = certificateProblem(e);
      if (!problem) throw e;
      const where = this.tls?.dirs.length ? ` (CAs read from ${this.tls.dirs.join(', ')})` : '';
      throw failedPrecondition(`registry ${this.registry}: its TLS certificate does not verify: ${problem}${where}. ` +
        `Trust its CA with --cert-dir DIR (DIR/ca.crt) or /etc/containers/certs.d/${this.registry}/ca.crt, or skip the check with --tls-verify=false`, e);
    }
  }

  /** GET /v2/: learns how the registry wants to be authenticated. */
  async ping(): Promise<void> {
    let res: Response;
    try {
      res = await this.send({ method: 'GET', url: `${this.base}/v2/`, headers: { 'User-Agent': this.ua }, timeoutMs: 30_000 });
    } catch (e) {
      // --tls-verify=false also lets a registry that speaks no TLS be reached over HTTP (as podman does).
      if (!(this.tls && !this.tls.verify && this.base.startsWith('https:') && notTls(e))) throw e;
      this.base = this.base.replace(/^https:/, 'http:');
      return this.ping();
    }
    await res.body?.cancel().catch(() => {});
    if (res.status === 401) {
      const chs = parseChallenges(res.headers.get('www-authenticate'));
      this.challenge = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
      if (!this.challenge) throw unavailable(`${this.registry} requires authentication with an unsupported scheme: ${res.headers.get('www-authenticate')}`);
      return;
    }
    if (res.status === 200) { this.challenge = undefined; return; }
    if (res.status === 404) throw failedPrecondition(`${this.registry} does not speak the registry v2 API (GET /v2/ gave 404)`);
    if (res.status === 400 && this.base.startsWith('http:')) {
      // What Go's TLS server answers plain HTTP with: a loopback registry serving HTTPS.
      throw failedPrecondition(`${this.registry} refused plain HTTP (GET /v2/ gave 400): if it serves HTTPS, give its CA with --cert-dir DIR or use --tls-verify=false`);
    }
    throw unavailable(`${this.registry}: GET /v2/ answered HTTP ${res.status}`);
  }

  /** `berth login`: proves the credentials work against /v2/ (and the token server). */
  async checkLogin(): Promise<void> {
    await this.ping();
    const ch = this.challenge;
    if (!ch) return;
    let auth: string;
    if (ch.scheme === 'basic') {
      if (!this.creds) throw permissionDenied(`${this.registry} requires credentials`);
      auth = basicHeader(this.creds);
    } else {
      auth = `Bearer ${await this.tokens.token(ch, undefined)}`;
    }
    const res = await this.send({ method: 'GET', url: `${this.base}/v2/`, headers: { 'User-Agent': this.ua, Authorization: auth }, timeoutMs: 30_000 });
    await res.body?.cancel().catch(() => {});
    if (res.status === 401 || res.status === 403) throw permissionDenied(`${this.registry} refused the credentials${this.creds ? ` of ${this.creds.username}` : ''}`);
    if (!res.ok) throw unavailable(`${this.registry}: GET /v2/ answered HTTP ${res.status}`);
  }

  private async authHeader(repo: string, actions: Action[], extraScope?: string): Promise<string | undefined> {
    if (this.challenge === null) await this.ping();
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!this.creds) throw permissionDenied(`${this.registry} requires a login (berth login ${this.registry})`);
      return basicHeader(this.creds);
    }
    const scope = `repository:${repo}:${actions.join(',')}${extraScope ? ' ' + extraScope : ''}`;
    return `Bearer ${await this.tokens.token(ch, scope)}`;
  }

  /** A request within a repository's scope, re-authenticating once if the registry says 401. */
  async request(repo: string, actions: Action[], req: Omit<HttpRequest, 'url'> & { path: string; url?: string; extraScope?: string }): Promise<Response> {
    for (let round = 0; round < 2; round++) {
      const headers: Record<string, string> = { 'User-Agent': this.ua, ...req.headers };
      const auth = await this.authHeader(repo, actions, req.extraScope);
      const url = req.url ?? `${this.base}/v2/${repo}${req.path}`; // after the ping, which may settle the scheme
      if (auth) headers.Authorization = auth;
      const res = await this.send({ ...req, url, headers });
      if (res.status !== 401 || round === 1) return res;
      await res.body?.cancel().catch(() => {});
      // The token may have expired or the scheme changed (first contact): learn it again.
      const chs = parseChallenges(res.headers.get('www-authenticate'));
      const ch = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
      if (!ch) throw permissionDenied(`${this.registry} refused access to ${repo} (HTTP 401)`);
      if (ch.scheme === 'bearer' && ch.params.error === 'insufficient_scope' && this.challenge?.scheme === 'bearer' && round === 0 && auth) {
        // A fresh token for the same scope will not help: say so rather than loop.
        throw permissionDenied(`${this.registry}: insufficient scope for ${actions.join(',')} on ${repo}`);
      }
      if (ch.scheme === 'basic' && this.challenge?.scheme === 'basic' && auth) {
        throw permissionDenied(`${this.registry} refused the credentials${this.creds ? ` of ${this.creds.username}` : ''} for ${repo}`);
      }
      this.challenge = ch;
      this.tokens = new TokenCache(this.creds); // a cached token was refused: never offer it again
    }
    throw permissionDenied(`${this.registry} refused access to ${repo}`);
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => '');
    let detail = text.slice(0, 300);
    try {
      const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      if (j.errors?.length) detail = j.errors.map((e) => `${e.code}: ${e.message}`).join('; ');
    } catch { /* not JSON */ }
    const msg = `${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`;
    if (res.status === 404) throw notFound(msg);
    if (res.status === 401 || res.status === 403) throw permissionDenied(msg);
    if (res.status === 400) throw invalidArgument(msg);
    throw unavailable(msg);
  }

  /** Fetches a manifest by tag or digest, bounded in size. */
  async getManifest(repo: string, ref: string): Promise<{ bytes: Buffer; mediaType: string | undefined; digest: string | undefined }> {
    const res = await this.request(repo, ['pull'], { method: 'GET', path: `/manifests/${ref}`, headers: { Accept: MANIFEST_ACCEPT } });
    if (!res.ok) await this.fail(res, `manifest ${this.registry}/${repo}:${ref}`);
    const len = Number(res.headers.get('content-length') ?? NaN);
    if (len > MAX_MANIFEST_BYTES) {
      await res.body?.cancel().catch(() => {});
      throw invalidArgument(`manifest ${this.registry}/${repo}:${ref} is ${len} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES, `manifest ${this.registry}/${repo}:${ref}`);
    return { bytes, mediaType: res.headers.get('content-type') ?? undefined, digest: res.headers.get('docker-content-digest') ?? undefined };
  }

  /** GET a blob from `offset` on. The response body is the caller's to consume. */
  async getBlob(repo: string, digest: Digest, offset = 0): Promise<{ res: Response; offset: number }> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const res = await this.request(repo, ['pull'], { method: 'GET', path: `/blobs/${digest}`, headers });
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel().catch(() => {});
      return this.getBlob(repo, digest, 0);
    }
    if (!res.ok) await this.fail(res, `blob ${digest} of ${this.registry}/${repo}`);
    // A server that ignores Range answers 200 with the whole blob: the caller restarts from 0.
    return { res, offset: res.status === 206 ? offset : 0 };
  }

  /** A whole small blob (an image config) in memory, at most `max` bytes; the caller verifies it. */
  async getBlobBytes(repo: string, digest: Digest, max: number): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const { res } = await this.getBlob(repo, digest);
      try {
        return await readBounded(res, max, `blob ${digest} of ${this.registry}/${repo}`);
      } catch (e) {
        // A body cut off mid-way: fetch it again, as content-store downloads do.
        if (isBerthError(e) || attempt >= 2 || !isTransient(e)) throw e;
      }
    }
  }

  async hasBlob(repo: string, digest: Digest, actions: Action[] = ['pull']): Promise<boolean> {
    const res = await this.request(repo, actions, { method: 'HEAD', path: `/blobs/${digest}` });
    await res.body?.cancel().catch(() => {});
    if (res.ok) return true;
    if (res.status === 404) return false;
    return this.fail(res, `HEAD blob ${digest} of ${this.registry}/${repo}`);
  }

  /**
   * Uploads a blob: tries a cross-repository mount first when `mountFrom` names a repository of
   * the same registry, then a single PUT after POST (the "monolithic" upload).
   */
  async pushBlob(repo: string, digest: Digest, size: number, body: () => BodyInit, mountFrom?: string): Promise<'mounted' | 'uploaded'> {
    const actions: Action[] = ['pull', 'push'];
    const qs = mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
    // A mount needs a token that covers pulling from the source repository too.
    const extraScope = mountFrom ? `repository:${mountFrom}:pull` : undefined;
    let res = await this.request(repo, actions, { method: 'POST', path: `/blobs/uploads/${qs}`, headers: { 'Content-Length': '0' }, extraScope });
    if (res.status === 201) { await res.body?.cancel().catch(() => {}); return 'mounted'; }
    if (res.status !== 202) await this.fail(res, `starting upload of ${digest} to ${this.registry}/${repo}`);
    await res.body?.cancel().catch(() => {});
    const loc = res.headers.get('location');
    if (!loc) throw unavailable(`${this.registry} started an upload without a Location header`);
    const url = new URL(loc, this.base);
    url.searchParams.set('digest', digest);
    res = await this.request(repo, actions, {
      method: 'PUT', path: '', url: url.toString(), body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
    });
    if (res.status !== 201) await this.fail(res, `uploading ${digest} to ${this.registry}/${repo}`);
    await res.body?.cancel().catch(() => {});
    return 'uploaded';
  }

  async putManifest(repo: string, ref: string, bytes: Uint8Array, mediaType: string): Promise<string | undefined> {
    const res = await this.request(repo, ['pull', 'push'], {
      method: 'PUT', path: `/manifests/${ref}`, body: () => bytes as BodyInit,
      headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) await this.fail(res, `pushing manifest ${this.registry}/${repo}:${ref}`);
    await res.body?.cancel().catch(() => {});
    return res.headers.get('docker-content-digest') ?? undefined;
  }
}

async function readBounded(res: Response, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > max) {
      await res.body.cancel().catch(() => {});
      throw invalidArgument(`${what} exceeds the ${max}-byte limit`);
    }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
}

export function isNotFound(e: unknown): boolean {
  return e instanceof BerthError && e.code === 'NOT_FOUND';
}
