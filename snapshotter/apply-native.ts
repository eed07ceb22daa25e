// The native layer applier (native/build/berth-apply): one process per layer, fed the uncompressed
// tar on stdin while the caller hashes the same bytes. Same semantics and error texts as the JS
// applier in apply.ts; apply.ts picks one with applierKind().
import { spawn } from 'node:child_process';
import { BerthError, ErrorCodes, internal, type ErrorCode } from '../lib/errors.js';
import { nativeBinary } from '../lib/paths.js';
import type { ApplyMode } from './apply.js';

const MARK = 'berth-apply-error ';

export type Applier = 'js' | 'native';

let binary: string | undefined;

/** The binary to run, as resolved by the thread that started this worker. */
export function useNativeApplier(path: string): void {
  binary = path;
}

/**
 * BERTH_APPLIER=native|js; by default the native applier when its binary was built (it parses and
 * creates a distro layer in ~0.1 s of CPU, the JS one in ~0.4 s), else the JS one.
 */
export function applierKind(): Applier {
  const v = process.env.BERTH_APPLIER;
  if (v === 'native' || v === 'js') return v;
  if (binary) return 'native';
  try {
    nativeBinary('berth-apply');
    return 'native';
  } catch {
    return 'js';
  }
}

/** Feed `chunks` (the layer's tar) to berth-apply; resolves once every byte is applied. */
export async function applyNative(chunks: AsyncIterable<Buffer>, dir: string, mode: ApplyMode): Promise<void> {
  const child = spawn(binary ?? nativeBinary('berth-apply'), [dir, mode], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { if (stderr.length < 65536) stderr += d; });
  // EPIPE when the applier stops early: its exit status says why.
  child.stdin.on('error', () => {});
  let exited = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err?: Error }>((resolve) => {
    child.on('error', (err) => { exited = true; resolve({ code: null, signal: null, err }); });
    child.on('close', (code, signal) => { exited = true; resolve({ code, signal }); });
  });
  let feedError: unknown;
  try {
    for await (const c of chunks) {
      if (exited) break;
      // Not events.once: it rejects on the EPIPE of an applier that stopped, whose own error is the one to report.
      if (!child.stdin.write(c)) await Promise.race([new Promise((r) => child.stdin.once('drain', r)), closed]);
    }
    child.stdin.end();
  } catch (e) {
    feedError = e;
    child.kill('SIGKILL');
  }
  const { code, signal, err } = await closed;
  if (feedError !== undefined) throw feedError;
  if (err) throw internal(`starting the native layer applier: ${err.message}`, err);
  if (code === 0) return;
  const at = stderr.lastIndexOf(MARK);
  if (at !== -1) {
    const rest = stderr.slice(at + MARK.length).replace(/\n$/, '');
    const sp = rest.indexOf(' ');
    const c = rest.slice(0, sp) as ErrorCode;
    if ((ErrorCodes as readonly string[]).includes(c)) throw new BerthError(c, rest.slice(sp + 1));
  }
  throw internal(`native layer applier failed (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-500)}`);
}
