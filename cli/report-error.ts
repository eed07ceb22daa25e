// Errors reach the user as one line (no stack unless --debug), with docker's exit conventions:
// 125 when berth itself failed, 126/127 when the container command cannot be invoked / found.
import { BerthError } from '../lib/errors.js';

export function reportError(e: unknown, debug: boolean, prog = 'berth'): number {
  if (debug) console.error(e);
  const msg = e instanceof Error ? e.message : String(e);
  const code = e instanceof BerthError ? ` (${e.code.toLowerCase()})` : '';
  if (!debug) console.error(`${prog}: ${msg}${code}`);
  const exit = (e as { exitCode?: number })?.exitCode;
  return typeof exit === 'number' ? exit : 125;
}
