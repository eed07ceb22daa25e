// Small HTTP helpers shared by the endpoint modules: JSON in and out, query flags as Docker sends them.
import type http from 'node:http';
import { invalidArgument } from '../lib/errors.js';

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function noContent(res: http.ServerResponse): void {
  res.writeHead(204);
  res.end();
}

export async function readBody(req: http.IncomingMessage, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw invalidArgument(`request body is larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJsonBody<T>(req: http.IncomingMessage): Promise<T> {
  const b = await readBody(req);
  if (!b.length) return {} as T;
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch (e) {
    throw invalidArgument(`request body is not JSON: ${(e as Error).message}`);
  }
}

/** Docker's boolean query values: 1/true/True (and a bare key) are true. */
export function flag(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return v === '' || v === '1' || v.toLowerCase() === 'true';
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw invalidArgument(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Unix seconds (as the API reports Created) of an RFC 3339 time. */
export function unixSeconds(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}
