// The Docker Engine API on a unix socket: routes /vN.NN/... and unversioned paths to the endpoint
// modules, turns errors into Docker's {"message"} shape, and hands hijacked connections (attach,
// exec start) their raw socket.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type net from 'node:net';
import { invalidArgument, notFound } from '../lib/errors.js';
import type { ContainerService } from '../engine/service.js';
import { Backend } from './backend.js';
import { sendError, statusOf, messageOf } from './errors.js';
import { takeBody } from './hijack.js';
import { containerRoutes } from './containers.js';
import { streamRoutes } from './attach.js';
import { imageRoutes } from './images.js';
import { volumeNetworkRoutes } from './volumes-networks.js';
import { systemRoutes, API_VERSION, MIN_API_VERSION, pingHeaders } from './system.js';
import type { Ctx, Route } from './route.js';

// /containers/prune before /containers/{id}/... patterns would not matter (methods differ), but keep it first anyway
const ROUTES: Route[] = [...systemRoutes, ...volumeNetworkRoutes, ...streamRoutes, ...containerRoutes, ...imageRoutes];

const TIMING = Boolean(process.env.BERTH_TIMING);

const VERSIONED = /^\/v(\d+)\.(\d+)(\/.*)$/;

function versionNum(v: string): number {
  const [a, b] = v.split('.').map(Number);
  return a * 1000 + b;
}

/** The path without its /v1.NN prefix; a version outside what we serve is a 400, as dockerd does. */
export function splitVersion(p: string): { path: string; version?: string } {
  const m = VERSIONED.exec(p);
  if (!m) return { path: p };
  const version = `${m[1]}.${m[2]}`;
  if (versionNum(version) > versionNum(API_VERSION)) throw invalidArgument(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  if (versionNum(version) < versionNum(MIN_API_VERSION)) throw invalidArgument(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  return { path: m[3], version };
}

function match(method: string, p: string): { route: Route; params: string[] } {
  let pathKnown = false;
  for (const route of ROUTES) {
    const m = route.path.exec(p);
    if (!m) continue;
    pathKnown = true;
    if (route.method === method) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  if (pathKnown) throw Object.assign(notFound(`${method} ${p}: method not allowed`), { status: 405 });
  throw notFound(`page not found: ${method} ${p}`);
}

export interface DockerApiServer {
  server: http.Server;
  backend: Backend;
  socketPath: string;
  close(): Promise<void>;
}

export interface DockerApiOptions {
  socketPath: string;
  engine: ContainerService;
  /** socket file mode; 0660 like dockerd's (root and the socket's group) */
  mode?: number;
  /** registries spoken to over plain HTTP (loopback ones always are) */
  insecureRegistries?: string[];
  /** log each request to stderr */
  debug?: boolean;
}

export async function startDockerApi(o: DockerApiOptions): Promise<DockerApiServer> {
  const backend = new Backend(o.engine, { insecure: o.insecureRegistries ?? [] });
  backend.adopt();
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse | undefined, upgrade?: { socket: net.Socket; head: Buffer }) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    if (TIMING) {
      // server time of each request: from its headers to the response's (or hijacked stream's) end
      const t0 = performance.now();
      (res ?? upgrade?.socket)?.once(res ? 'finish' : 'close', () => process.stderr.write(`berth-timing: dockerapi ${req.method} ${url.pathname} ${(performance.now() - t0).toFixed(1)} ms\n`));
    }
    if (o.debug) {
      const t0 = performance.now();
      process.stderr.write(`dockerapi: ${req.method} ${url.pathname}${url.search}\n`);
      (res ?? upgrade?.socket)?.once('close', () => process.stderr.write(`dockerapi: ${req.method} ${url.pathname} done in ${(performance.now() - t0).toFixed(1)} ms\n`));
    }
    try {
      const { path: p } = splitVersion(url.pathname);
      const { route, params } = match(req.method ?? 'GET', p.length > 1 ? p.replace(/\/$/, '') : p);
      const c: Ctx = { req, res, params, query: url.searchParams, b: backend };
      if (upgrade) {
        if (!route.hijack) throw invalidArgument(`${req.method} ${p} cannot be upgraded`);
        const { body, rest } = await takeBody(req, upgrade.socket, upgrade.head);
        c.upgrade = { socket: upgrade.socket, head: rest, body };
      }
      await route.handle(c);
    } catch (e) {
      if (o.debug) process.stderr.write(`dockerapi: ${req.method} ${url.pathname}: ${messageOf(e)}\n`);
      if (res) {
        const status = (e as { status?: number }).status;
        if (status && !res.headersSent) {
          res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: messageOf(e) }));
        } else sendError(res, e);
      } else if (upgrade && !upgrade.socket.destroyed) {
        const body = JSON.stringify({ message: messageOf(e) });
        upgrade.socket.end(`HTTP/1.1 ${statusOf(e)} ${http.STATUS_CODES[statusOf(e)] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
    }
  };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    // every response carries the version headers, as dockerd's do
    for (const [k, v] of Object.entries(pingHeaders())) if (k === 'API-Version' || k === 'OSType') res.setHeader(k === 'API-Version' ? 'Api-Version' : 'Ostype', v);
    res.setHeader('Server', `Docker/berth (linux)`);
    void handle(req, res);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => { void handle(req, undefined, { socket, head }); });
  // Docker clients keep requests (wait, logs -f, events) open for as long as they like.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  fs.mkdirSync(path.dirname(o.socketPath), { recursive: true, mode: 0o711 });
  try { if (fs.statSync(o.socketPath).isSocket()) fs.unlinkSync(o.socketPath); } catch { /* not there */ }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => { server.off('error', reject); resolve(); });
  });
  fs.chmodSync(o.socketPath, o.mode ?? 0o660);
  return {
    server, backend, socketPath: o.socketPath,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => { try { fs.unlinkSync(o.socketPath); } catch { /* gone */ } resolve(); });
    }),
  };
}
