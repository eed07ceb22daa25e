// One endpoint: method + path pattern (after the optional /v1.NN prefix) -> handler. A handler gets
// either a response to write, or (hijack endpoints asked to upgrade) the raw socket.
import type http from 'node:http';
import type net from 'node:net';
import type { Backend } from './backend.js';
import { invalidArgument } from '../lib/errors.js';
import { readJsonBody } from './http-util.js';

export interface Ctx {
  req: http.IncomingMessage;
  res?: http.ServerResponse;
  /** an upgraded connection: its socket, the bytes after the request body, and that body */
  upgrade?: { socket: net.Socket; head: Buffer; body: Buffer };
  params: string[];
  query: URLSearchParams;
  b: Backend;
}

export interface Route {
  method: string;
  path: RegExp;
  handle(c: Ctx): Promise<void>;
  /** true for endpoints that take over the connection (attach, exec start) */
  hijack?: boolean;
}

/** The response of a handler that is not a hijack. */
export function resOf(c: Ctx): http.ServerResponse {
  if (!c.res) throw new Error(`${c.req.method} ${c.req.url} cannot be upgraded`);
  return c.res;
}

/** The JSON body of a plain or an upgraded request. */
export async function jsonBody<T>(c: Ctx): Promise<T> {
  if (!c.upgrade) return readJsonBody<T>(c.req);
  if (!c.upgrade.body.length) return {} as T;
  try { return JSON.parse(c.upgrade.body.toString('utf8')) as T; } catch (e) {
    throw invalidArgument(`request body is not JSON: ${(e as Error).message}`);
  }
}

export const NAME = '([^/]+)';
