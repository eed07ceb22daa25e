// Requests on a monitor's control socket: one line in, "ok" or "error <text>" back.
import { BerthError } from '../lib/errors.js';
import { connectInDir } from './sockets.js';

export async function controlRequest(dir: string, request: string): Promise<void> {
  const sock = await connectInDir(dir, 'ctl');
  const reply = await new Promise<string>((resolve, reject) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { buf += d; });
    sock.on('end', () => resolve(buf));
    sock.on('error', reject);
    sock.end(request + '\n');
  });
  const line = reply.trim();
  if (line === 'ok') return;
  throw new BerthError('FAILED_PRECONDITION', `monitor refused "${request}": ${line.replace(/^error /, '') || 'no reply'}`);
}

/** TIOCSWINSZ on the container's pty master. */
export function resize(dir: string, rows: number, cols: number): Promise<void> {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) {
    return Promise.reject(new BerthError('INVALID_ARGUMENT', `terminal size ${rows}x${cols} is out of range`));
  }
  return controlRequest(dir, `resize ${rows} ${cols}`);
}

/** Close and reopen the log file (after someone else rotated it: CRI ReopenContainerLog). */
export function reopenLog(dir: string): Promise<void> {
  return controlRequest(dir, 'reopen');
}

/** Close the container's stdin (EOF for `cat`), independent of any attach session. */
export function closeStdin(dir: string): Promise<void> {
  return controlRequest(dir, 'close-stdin');
}
