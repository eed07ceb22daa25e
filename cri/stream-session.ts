// What an exec, attach or port-forward session does once its transport (SPDY streams, or WebSocket
// channels) has handed over its channels: the two transports differ only in framing.
import type { Duplex, Readable, Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { invalidArgument } from '../lib/errors.js';
import type { CriContext } from './context.js';

export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'attach'; containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portforward'; sandboxId: string; ports: number[] };

export type ExecRequest = Extract<StreamRequest, { kind: 'exec' | 'attach' }>;

/** The channels of an exec or attach session, as the client opened them. */
export interface ExecChannels {
  stdin?: Readable;            // ends when the client closes its stdin
  stdout?: Writable;
  stderr?: Writable;
  resize?: Readable;           // {"Width":W,"Height":H} objects, one after another
  /** Sends the final status (a metav1.Status as JSON) on the error channel and ends the session. */
  finish(status: string): void;
}

/** The channels a request needs: stderr has no channel of its own under a terminal. */
export function channelsOf(r: ExecRequest): { stdin: boolean; stdout: boolean; stderr: boolean; resize: boolean } {
  return { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr && !r.tty, resize: r.tty };
}

export const STATUS_SUCCESS = JSON.stringify({ metadata: {}, status: 'Success' });
export function statusExit(code: number): string {
  return JSON.stringify({
    metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: error executing command, exit status ${code}`,
    reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}
export function statusError(msg: string): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message: msg, reason: 'InternalError' });
}

/** Calls `fn` with each terminal size the client sends (JSON objects, newline-separated or not). */
export function onResize(stream: Readable, fn: (size: { rows: number; cols: number }) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('}')) >= 0) {
      const text = buf.slice(0, i + 1).trim();
      buf = buf.slice(i + 1);
      try {
        const sz = JSON.parse(text) as { Width: number; Height: number };
        if (sz.Width > 0 && sz.Height > 0) fn({ rows: sz.Height, cols: sz.Width });
      } catch { /* not a size: ignore */ }
    }
  });
}

// The output streams end once everything the monitor sent has been handed on: only then may the
// channels close, or the last lines are lost.
function drained(io: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }): Promise<void> {
  const ended = (s: NodeJS.ReadableStream) => new Promise<void>((resolve) => {
    if ((s as unknown as { readableEnded?: boolean }).readableEnded) return resolve();
    s.once('end', () => resolve());
    s.once('close', () => resolve());
  });
  return Promise.race([Promise.all([ended(io.stdout), ended(io.stderr)]).then(() => undefined), new Promise<void>((r) => setTimeout(r, 5000).unref())]);
}

// The client's end of stdin closes the process's stdin through the monitor's control socket:
// half-closing the attach socket instead would make the monitor drop this client and its output.
function pipe(io: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream; stdin: NodeJS.WritableStream }, ch: ExecChannels, closeStdin: () => Promise<void>): void {
  if (ch.stdout) io.stdout.pipe(ch.stdout, { end: false }); else io.stdout.resume();
  if (ch.stderr) io.stderr.pipe(ch.stderr, { end: false }); else io.stderr.resume();
  if (ch.stdin) {
    let writing = Promise.resolve();
    ch.stdin.on('data', (d: Buffer) => { writing = new Promise((resolve) => io.stdin.write(d, () => resolve())); });
    ch.stdin.on('end', () => { void writing.then(() => closeStdin()).catch(() => undefined); });
  }
}

/** Runs an exec or attach session over `ch`; `gone` resolves when the client goes away. */
export async function runExecSession(ctx: CriContext, r: ExecRequest, ch: ExecChannels, gone: Promise<void>): Promise<void> {
  let pendingSize: { rows: number; cols: number } | undefined;
  let resizeTo: ((s: { rows: number; cols: number }) => void) | undefined;
  if (ch.resize) onResize(ch.resize, (s) => { if (resizeTo) resizeTo(s); else pendingSize = s; });
  try {
    if (r.kind === 'exec') {
      const { session, streams: io } = await ctx.svc.exec(r.containerId, { cmd: r.cmd, tty: r.tty, stdin: r.stdin, ttySize: pendingSize });
      if (!io) throw new Error('the exec session has no streams');
      resizeTo = (s) => { void session.resize(s.rows, s.cols).catch(() => undefined); };
      // a size that came while the exec was starting
      if (pendingSize) resizeTo(pendingSize);
      pipe(io, ch, () => session.closeStdin());
      const exit = await session.waitExit();
      await io.closed.catch(() => undefined);
      await drained(io);
      ch.finish(exit.exitCode === 0 ? STATUS_SUCCESS : statusExit(exit.exitCode));
    } else {
      const io = await ctx.svc.attach(r.containerId);
      const m = ctx.svc.monitorOf(r.containerId);
      resizeTo = (s) => { void m.resize(s.rows, s.cols).catch(() => undefined); };
      if (pendingSize) resizeTo(pendingSize);
      // As containerd: the end of the client's stdin closes the container's only under stdin_once
      // (the monitor's mode); otherwise it ends this attach and stdin stays open for the next one.
      pipe(io, ch, m.session.stdinOnce ? () => m.closeStdin() : async () => io.detach());
      // the client going away ends the attach; the container keeps running
      void gone.then(() => io.detach());
      await io.closed;
      await drained(io);
      ch.finish(STATUS_SUCCESS);
    }
  } catch (e) {
    ch.finish(statusError((e as Error).message));
  }
}

/**
 * One forwarded connection: `data` to 127.0.0.1:<port> inside the pod's network namespace (through
 * busybox nc under nsenter); a failure is reported as text on `error`.
 */
export async function forwardPort(ctx: CriContext, sandboxId: string, port: number, data: Duplex, error: Writable): Promise<void> {
  try {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`invalid port ${port}`);
    const sb = ctx.sandboxes.get(sandboxId);
    const netns = sb.record.namespaces.network === 'node' ? undefined : ctx.sandboxes.nsPath(sb, 'net');
    const argv = [...(netns ? ['nsenter', `--net=${netns}`] : []), '/bin/busybox', 'nc', '127.0.0.1', String(port)];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.on('error', () => undefined);
    // a client that goes away destroys its channel: that ends this connection, it is no server error
    data.on('error', () => undefined);
    data.pipe(child.stdin);
    child.stdout.pipe(data);
    data.on('close', () => child.kill('SIGTERM'));
    // 'close', not 'exit': the last output may still be in the pipe when the process has exited
    child.on('close', (code) => {
      if (code && stderr) error.end(`error forwarding port ${port} to pod ${sandboxId}: ${stderr.trim()}`);
      else error.end();
    });
    child.on('error', (e) => error.end(`error forwarding port ${port}: ${e.message}`));
  } catch (e) {
    error.end(`error forwarding port ${port} to pod ${sandboxId}: ${(e as Error).message}`);
    data.end();
  }
}
