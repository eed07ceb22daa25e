// HTTP for the registry client: fetch (undici) with retries and backoff on 429/5xx/connection
// errors, Retry-After honoured within bounds, redirects followed (undici drops Authorization when
// a redirect leaves the origin, which is what blob redirects to a CDN need).
import { BerthError, unavailable } from '../lib/errors.js';
import type { Fetcher } from './tls.js';

export interface RetryPolicy { attempts: number; baseDelayMs: number; maxDelayMs: number }
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A factory, so a retry can send the body again (streams are single-use). */
  body?: () => BodyInit | undefined;
  /** Statuses the caller handles itself (401 for the auth dance, 404 for "absent"...). */
  timeoutMs?: number;
  /** Instead of the global fetch: one with a registry's TLS settings (image/tls.ts). */
  fetcher?: Fetcher;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function delayFor(attempt: number, policy: RetryPolicy, retryAfter: string | null): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, policy.maxDelayMs);
  }
  const exp = policy.baseDelayMs * 2 ** attempt;
  return Math.min(policy.maxDelayMs, exp / 2 + Math.random() * (exp / 2));
}

/** True for errors worth retrying: resets, refused connections, truncated bodies. */
export function isTransient(e: unknown): boolean {
  if (e instanceof BerthError) return e.code === 'UNAVAILABLE';
  const err = e as { name?: string; cause?: { code?: string }; code?: string; message?: string };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return true;
  const code = err?.cause?.code ?? err?.code;
  if (code && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_.*|ENETUNREACH|EHOSTUNREACH)$/.test(code)) return true;
  return err?.name === 'TypeError' && /fetch failed|terminated/.test(err.message ?? '');
}

export function describeNetError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  return err?.cause?.message ?? err?.cause?.code ?? err?.message ?? String(e);
}

/**
 * One HTTP exchange with retries. Resolves with the final response whatever its status (after
 * retries ran out on a retryable status); rejects with UNAVAILABLE on repeated network failure.
 */
export async function httpRequest(req: HttpRequest, policy: RetryPolicy = DEFAULT_RETRY): Promise<Response> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    const body = req.body?.();
    let res: Response;
    // The timeout covers the wait for response headers only: a big blob may take as long as it
    // needs, and a stalled body is caught by undici's body timeout (300 s between chunks).
    // Uploads answer only after the whole body is sent, so they get no deadline of their own.
    const ms = req.timeoutMs ?? (body ? 0 : 120_000);
    const ac = new AbortController();
    const timer = ms ? setTimeout(() => ac.abort(new DOMException(`no response within ${ms} ms`, 'TimeoutError')), ms) : undefined;
    try {
      res = await (req.fetcher ?? fetch)(req.url, {
        method: req.method,
        headers: req.headers,
        body,
        redirect: 'follow',
        signal: ac.signal,
        ...(body && typeof (body as ReadableStream).getReader === 'function' ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (e) {
      clearTimeout(timer);
      lastErr = e;
      if (!isTransient(e) || attempt === policy.attempts - 1) break;
      await sleep(delayFor(attempt, policy, null));
      continue;
    }
    clearTimeout(timer);
    if (RETRYABLE.has(res.status) && attempt < policy.attempts - 1) {
      await res.body?.cancel().catch(() => {});
      await sleep(delayFor(attempt, policy, res.headers.get('retry-after')));
      continue;
    }
    return res;
  }
  throw unavailable(`${req.method} ${req.url} failed: ${describeNetError(lastErr)}`, lastErr);
}
