// Registry authentication: WWW-Authenticate challenges, the Bearer token flow (distribution's
// token spec: anonymous or with Basic credentials, one token per scope) and plain Basic.
import { BerthError, permissionDenied, unavailable } from '../lib/errors.js';
import type { Credentials } from './auth-file.js';
import { describeNetError, httpRequest } from './transport.js';
import type { Fetcher } from './tls.js';

export interface Challenge { scheme: string; params: Record<string, string> }

/** Parses `Bearer realm="https://x",service="y",scope="a b"` (quoted values may hold commas). */
export function parseChallenges(header: string | null): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let cur: Challenge | undefined;
  let i = 0;
  const skip = () => { while (i < header.length && /[\s,]/.test(header[i])) i++; };
  while (true) {
    skip();
    if (i >= header.length) break;
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(header.slice(i));
    if (!m) { i++; continue; }
    const tok = m[0];
    i += tok.length;
    while (header[i] === ' ') i++;
    if (header[i] !== '=') { cur = { scheme: tok.toLowerCase(), params: {} }; out.push(cur); continue; }
    i++;
    while (header[i] === ' ') i++;
    let value = '';
    if (header[i] === '"') {
      i++;
      while (i < header.length && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < header.length) i++;
        value += header[i++];
      }
      i++;
    } else {
      while (i < header.length && header[i] !== ',' && header[i] !== ' ') value += header[i++];
    }
    if (cur) cur.params[tok.toLowerCase()] = value;
  }
  return out;
}

export function basicHeader(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

interface CachedToken { token: string; expires: number }

/** Fetches and caches bearer tokens for one registry. */
export class TokenCache {
  private tokens = new Map<string, CachedToken>();
  constructor(private creds: Credentials | undefined, private fetcher?: Fetcher) {}

  async token(ch: Challenge, scope: string | undefined): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw unavailable('registry asked for a Bearer token but named no realm');
    const key = `${realm}|${ch.params.service ?? ''}|${scope ?? ''}`;
    const hit = this.tokens.get(key);
    if (hit && hit.expires > Date.now()) return hit.token;

    let url: URL;
    try { url = new URL(realm); } catch { throw unavailable(`registry token realm ${JSON.stringify(realm)} is not a URL`); }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unavailable(`token realm ${realm} is not http(s)`);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    if (scope) for (const s of scope.split(' ')) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.creds) {
      headers.Authorization = basicHeader(this.creds);
      url.searchParams.set('account', this.creds.username);
    }
    let res: Response;
    try {
      res = await httpRequest({ method: 'GET', url: url.toString(), headers, timeoutMs: 30_000, fetcher: this.fetcher });
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw unavailable(`token server ${url.origin}: ${describeNetError(e)}`, e);
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw permissionDenied(`token server ${url.origin} refused ${this.creds ? `the credentials of ${this.creds.username}` : 'anonymous access'} for ${scope ?? 'the registry'} (HTTP ${res.status})`);
    }
    if (!res.ok) throw unavailable(`token server ${url.origin} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    let body: { token?: string; access_token?: string; expires_in?: number };
    try { body = JSON.parse(text); } catch { throw unavailable(`token server ${url.origin} returned invalid JSON`); }
    const token = body.token ?? body.access_token;
    if (!token) throw unavailable(`token server ${url.origin} returned no token`);
    const ttl = Math.max(60, Number(body.expires_in) || 60);
    this.tokens.set(key, { token, expires: Date.now() + (ttl - 10) * 1000 });
    return token;
  }
}
