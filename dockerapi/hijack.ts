// Hijacked connections (attach, exec start): after a `101 UPGRADED` (or `200 OK` when the
// client did not ask to upgrade) the HTTP connection carries the raw stream both ways: output
// as Docker's 8-byte multiplexed frames without a tty, raw bytes with one, and stdin inbound.
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { encodeFrame, type AttachStreams } from '../shim/index.js';

export interface StreamConn {
  write(b: Buffer): void;
  end(): void;
  /** stdin bytes from the client; `onEnd` when it half-closes */
  input: Duplex | http.IncomingMessage;
  closed: Promise<void>;
}

export const RAW = 'application/vnd.docker.raw-stream';
export const MUX = 'application/vnd.docker.multiplexed-stream';

/** Upgrade path: the socket is ours; the request body (if any) came first in `head`. */
export function upgradeConn(socket: net.Socket, rest: Buffer, tty: boolean): StreamConn {
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${tty ? RAW : MUX}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
  if (rest.length) socket.unshift(rest);
  socket.setNoDelay(true);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => { /* the client went away: close follows */ });
  return {
    write: (b) => { if (!socket.destroyed) socket.write(b); },
    end: () => { if (!socket.destroyed) socket.end(); },
    input: socket,
    closed,
  };
}

/** Plain request path (dockerode without hijack): a streaming response. */
export function responseConn(req: http.IncomingMessage, res: http.ServerResponse, tty: boolean): StreamConn {
  res.writeHead(200, { 'Content-Type': tty ? RAW : MUX });
  res.flushHeaders();
  const closed = new Promise<void>((r) => res.once('close', () => r()));
  return {
    write: (b) => { if (!res.destroyed) res.write(b); },
    end: () => { if (!res.destroyed) res.end(); },
    input: req,
    closed,
  };
}

/**
 * Joins a connection to a process's streams. Resolves when the output is over (the process
 * exited) or the client left; a client leaving detaches without touching the process.
 */
export function relay(conn: StreamConn, s: AttachStreams, o: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean; closeStdin?: () => Promise<void> }): Promise<void> {
  const out = (n: 1 | 2) => (d: Buffer) => conn.write(o.tty ? d : encodeFrame(n, d));
  if (o.stdout) s.stdout.on('data', out(1)); else s.stdout.resume();
  if (o.stderr) s.stderr.on('data', out(2)); else s.stderr.resume();
  if (o.stdin) {
    conn.input.on('data', (d: Buffer) => s.stdin.write(d));
    conn.input.on('end', () => {
      // berth-monitor drops an attach client that half-closes, output included; so the client's
      // end of stdin goes to the control socket once the bytes before it have reached the monitor.
      if (!o.closeStdin) return void s.stdin.end();
      const close = o.closeStdin;
      s.stdin.write(Buffer.alloc(0), () => { close().catch(() => s.stdin.end()); });
    });
    // takeBody may have paused the socket after reading a request body
    conn.input.resume();
  } else conn.input.resume();
  let left = false;
  conn.closed.then(() => { left = true; s.detach(); });
  return s.closed.then(() => { if (!left) conn.end(); });
}

/** Splits `Content-Length` bytes of request body off the bytes that follow the headers. */
export function takeBody(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (!len) return Promise.resolve({ body: Buffer.alloc(0), rest: head });
  return new Promise((resolve, reject) => {
    let buf = head;
    const done = () => {
      socket.off('data', onData);
      socket.off('error', reject);
      socket.pause();
      resolve({ body: buf.subarray(0, len), rest: buf.subarray(len) });
    };
    const onData = (d: Buffer) => { buf = Buffer.concat([buf, d]); if (buf.length >= len) done(); };
    if (buf.length >= len) return done();
    socket.on('data', onData);
    socket.on('error', reject);
    socket.resume();
  });
}
