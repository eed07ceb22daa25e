// A tiny registry in Node for hostile-input and crash tests: it serves fixed manifests and blobs
// and can lie (wrong bytes), cut blobs short, serve huge manifests, fail with 503, redirect blob
// downloads, dribble bytes slowly, and honour or ignore Range. Every request is logged.
import http from 'node:http';
import type net from 'node:net';

export interface Behaviour {
  /** Per-blob override of the bytes served (e.g. corrupted content). */
  blobBytes?: Map<string, Buffer>;
  /** Serve only this many bytes of a blob, then destroy the socket (Content-Length stays full). */
  truncateAt?: number;
  /** Only this blob is truncated (default: every blob). */
  truncateOnly?: string;
  /** How many blob GETs get truncated before the server behaves (default: all). */
  truncateTimes?: number;
  /** Fail this many requests with 503 first. */
  fail503?: number;
  /** Send blob GETs through a 307 to /redirected/... */
  redirect?: boolean;
  /** Bytes per 10 ms when dribbling blobs (slow serving for crash tests). */
  slowBytesPer10ms?: number;
  ignoreRange?: boolean;
}

export interface HostileRegistry {
  host: string;
  log: { method: string; url: string; range?: string }[];
  behaviour: Behaviour;
  stop(): Promise<void>;
}

export async function startHostileRegistry(manifests: Map<string, { bytes: Buffer; mediaType: string }>, blobs: Map<string, Buffer>, behaviour: Behaviour = {}): Promise<HostileRegistry> {
  const log: HostileRegistry['log'] = [];
  let truncations = 0;
  let failures = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    log.push({ method: req.method ?? 'GET', url, range: req.headers.range });
    const b = reg.behaviour;
    if (b.fail503 && failures < b.fail503) { failures++; res.writeHead(503, { 'Retry-After': '0' }); res.end(); return; }
    if (url === '/v2/') { res.writeHead(200); res.end('{}'); return; }
    const mm = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url);
    if (mm) {
      const m = manifests.get(mm[2]);
      if (!m) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'); return; }
      res.writeHead(200, { 'Content-Type': m.mediaType, 'Content-Length': m.bytes.length });
      res.end(req.method === 'HEAD' ? undefined : m.bytes);
      return;
    }
    const bm = /^\/(?:v2\/.+\/blobs|redirected)\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (bm) {
      const digest = bm[1];
      if (b.redirect && url.startsWith('/v2/')) { res.writeHead(307, { Location: `/redirected/${digest}` }); res.end(); return; }
      const data = b.blobBytes?.get(digest) ?? blobs.get(digest);
      if (!data) { res.writeHead(404); res.end(); return; }
      let start = 0;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range && !b.ignoreRange) start = Number(range[1]);
      const body = data.subarray(start);
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'Accept-Ranges': 'bytes' };
      if (start > 0) headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
      res.writeHead(start > 0 ? 206 : 200, headers);
      const truncate = b.truncateAt !== undefined && (!b.truncateOnly || b.truncateOnly === digest) && (b.truncateTimes === undefined || truncations < b.truncateTimes);
      if (truncate) {
        truncations++;
        res.write(body.subarray(0, Math.max(0, b.truncateAt! - start)), () => res.socket?.destroy());
        return;
      }
      if (b.slowBytesPer10ms) {
        let off = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (off >= body.length) { res.end(); return; }
          res.write(body.subarray(off, off + b.slowBytesPer10ms!));
          off += b.slowBytesPer10ms!;
          setTimeout(tick, 10);
        };
        tick();
        return;
      }
      res.end(body);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const reg: HostileRegistry = {
    host: `127.0.0.1:${port}`,
    log,
    behaviour,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return reg;
}
