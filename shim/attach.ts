// Attaching to a running container (or exec session) through its monitor's attach socket:
// live output (stdout and stderr apart, or the raw pty stream with a tty) and stdin.
import { PassThrough, Writable } from 'node:stream';
import type net from 'node:net';
import { FrameDecoder } from './attach-frames.js';
import { connectInDir } from './sockets.js';

export interface AttachStreams {
  /** Container stdout; with a tty, the whole terminal stream. */
  stdout: PassThrough;
  /** Container stderr; with a tty it stays empty (a pty has one stream). */
  stderr: PassThrough;
  /** Writes reach the container's stdin; end() half-closes, which closes stdin when the monitor runs with StdinOnce. */
  stdin: Writable;
  /** Leave without touching the container. */
  detach(): void;
  /** Settles when the monitor closes the stream (the process exited) or on detach. */
  closed: Promise<void>;
}

export async function attach(dir: string, opts: { tty: boolean }): Promise<AttachStreams> {
  return wrap(await connectInDir(dir, 'attach'), opts.tty);
}

export function wrap(sock: net.Socket, tty: boolean): AttachStreams {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  // Backpressure: a consumer that stops reading stops the socket, so memory here stays bounded
  // (the monitor then drops this client rather than stall the container's log).
  const push = (out: PassThrough, p: Buffer) => {
    if (!out.write(p) && !sock.isPaused()) {
      sock.pause();
      out.once('drain', () => sock.resume());
    }
  };
  const decoder = tty ? undefined : new FrameDecoder((s, p) => push(s === 1 ? stdout : stderr, p));
  sock.on('data', (d: Buffer) => {
    if (!decoder) return void push(stdout, d);
    try {
      decoder.push(d);
    } catch (e) {
      sock.destroy(e as Error);
    }
  });
  const closed = new Promise<void>((resolve) => {
    sock.on('close', () => {
      stdout.end();
      stderr.end();
      resolve();
    });
  });
  sock.on('error', () => { /* surfaces as close: the output simply ends */ });
  // The monitor ends its side when the process's output is over. A half-open socket (allowHalfOpen)
  // does not keep Node's event loop alive and never emits 'close' by itself: finish it here.
  sock.on('end', () => sock.destroy());
  const stdin = new Writable({
    write(chunk, _enc, cb) {
      if (sock.destroyed) return cb();
      sock.write(chunk, () => cb());
    },
    final(cb) {
      if (!sock.destroyed) sock.end();
      cb();
    },
  });
  return { stdout, stderr, stdin, detach: () => sock.destroy(), closed };
}
