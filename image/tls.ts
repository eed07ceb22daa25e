// TLS settings for one registry, the way podman and docker read them: a certs directory per
// registry (explicit --cert-dir, else /etc/containers/certs.d/<host:port>/ and
// /etc/docker/certs.d/<host:port>/) whose *.crt files are CAs trusted on top of the system's, and
// whose <name>.cert + <name>.key pairs are client certificates; --tls-verify=false skips checks.
// Requests with such settings go through undici's own fetch with an Agent carrying them (Node's
// global fetch takes no TLS options); it is loaded only then.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { invalidArgument } from '../lib/errors.js';

export const DEFAULT_CERTS_DIRS = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

export interface TlsSettings {
  /** false: no certificate or host name check (--tls-verify=false). */
  verify: boolean;
  /** Extra CAs (PEM), trusted along with the system roots. */
  ca: string[];
  cert?: string;
  key?: string;
  /** Directories the settings came from, for error messages. */
  dirs: string[];
}

export interface TlsOptions {
  /** false: no verification; true or undefined: verify (default). */
  tlsVerify?: boolean;
  /** One certs directory for this registry, used instead of the per-host lookup. */
  certDir?: string;
  /** Roots of per-host certs directories (default DEFAULT_CERTS_DIRS). */
  certsDirs?: string[];
}

function readDir(dir: string, out: TlsSettings): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw invalidArgument(`certs directory ${dir}: ${(e as Error).message}`, e);
  }
  out.dirs.push(dir);
  for (const n of names) {
    const p = path.join(dir, n);
    if (n.endsWith('.crt')) out.ca.push(fs.readFileSync(p, 'utf8'));
    else if (n.endsWith('.cert')) {
      const keyFile = p.slice(0, -'.cert'.length) + '.key';
      if (!fs.existsSync(keyFile)) throw invalidArgument(`client certificate ${p} has no key ${path.basename(keyFile)} beside it`);
      if (out.cert) throw invalidArgument(`${dir}: more than one client certificate (${n})`);
      out.cert = fs.readFileSync(p, 'utf8');
      out.key = fs.readFileSync(keyFile, 'utf8');
    } else if (n.endsWith('.key') && !fs.existsSync(p.slice(0, -'.key'.length) + '.cert')) {
      throw invalidArgument(`key ${p} has no client certificate ${n.slice(0, -'.key'.length)}.cert beside it`);
    }
  }
}

/**
 * The TLS settings for `registry` (host[:port]), or undefined when nothing differs from the
 * defaults (verify against the system roots) and Node's global fetch will do.
 */
export function registryTls(registry: string, opts: TlsOptions = {}): TlsSettings | undefined {
  const out: TlsSettings = { verify: opts.tlsVerify !== false, ca: [], dirs: [] };
  if (opts.certDir !== undefined) {
    if (!fs.existsSync(opts.certDir)) throw invalidArgument(`--cert-dir ${opts.certDir} does not exist`);
    readDir(opts.certDir, out);
  } else {
    // Docker Hub: podman names it docker.io, docker its API host.
    const hosts = registry === 'docker.io' ? ['docker.io', 'registry-1.docker.io'] : [registry];
    for (const root of opts.certsDirs ?? DEFAULT_CERTS_DIRS) for (const h of hosts) readDir(path.join(root, h), out);
  }
  if (out.verify && out.ca.length === 0 && !out.cert) return out.dirs.length ? out : undefined;
  return out;
}

/** True when the settings change anything on the wire (a CA, a client certificate, or no checks). */
export function tlsMatters(t: TlsSettings | undefined): t is TlsSettings {
  return !!t && (!t.verify || t.ca.length > 0 || !!t.cert);
}

export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** A fetch that speaks TLS with `t`: undici's own fetch and an Agent, loaded on first use. */
export function tlsFetcher(t: TlsSettings): Fetcher {
  let ready: Promise<Fetcher> | undefined;
  const load = async (): Promise<Fetcher> => {
    const undici = await import('undici');
    const agent = new undici.Agent({
      connect: {
        // `ca` replaces Node's roots: keep them, so a registry's CDN (blob redirects) still verifies.
        ca: t.ca.length ? [...tls.rootCertificates, ...t.ca] : undefined,
        cert: t.cert,
        key: t.key,
        rejectUnauthorized: t.verify,
      },
    });
    return (url, init) => undici.fetch(url, { ...(init as object), dispatcher: agent } as Parameters<typeof undici.fetch>[1]) as unknown as Promise<Response>;
  };
  return async (url, init) => (await (ready ??= load()))(url, init);
}

type Cause = { code?: string; message?: string; cause?: unknown } | undefined;

function findCode(e: unknown, re: RegExp): { code: string; message?: string } | undefined {
  for (let c = e as Cause, i = 0; c && i < 6; c = c.cause as Cause, i++) {
    if (typeof c.code === 'string' && re.test(c.code)) return { code: c.code, message: c.message };
  }
  return undefined;
}

// Node's TLS error codes for a certificate that does not verify (as opposed to a network failure).
const CERT_CODES = /^(CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|ERR_TLS_)/;

/** The certificate problem behind a failed request ("self-signed certificate (CODE)"), or undefined. */
export function certificateProblem(e: unknown): string | undefined {
  const hit = findCode(e, CERT_CODES);
  return hit ? `${hit.message ?? hit.code} (${hit.code})` : undefined;
}

/** The request failed because the server answered a TLS hello in plain HTTP. */
export function notTls(e: unknown): boolean {
  return !!findCode(e, /^(ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|ERR_SSL_HTTP_REQUEST|EPROTO)$/);
}
