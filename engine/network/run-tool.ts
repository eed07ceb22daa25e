// One exec of a host tool the native network driver uses (berth-netns, iptables-restore,
// iptables-save): optional stdin, stdout collected, a SIGKILL timeout, and a BerthError carrying
// the tool's own last words so the caller sees why it failed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { BerthError, internal, type ErrorCode } from '../../lib/errors.js';

export interface ToolRun {
  /** Message prefix: what was being done. */
  what: string;
  timeoutMs: number;
  input?: string;
  /** Error code for a failure, from the tool's message (default INTERNAL). */
  codeFor?: (why: string) => ErrorCode;
}

export function runTool(bin: string, args: string[], o: ToolRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.stdout?.on('data', (d: Buffer) => { out += d; });
    child.stderr?.on('data', (d: Buffer) => { err += d; });
    // a tool that dies before reading all of stdin makes the write fail: its exit status says why
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input);
    child.on('error', (e) => { clearTimeout(timer); reject(internal(`${o.what}: cannot execute ${bin}: ${e.message}`)); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (status === 0) return resolve(out);
      const text = err.trim();
      const prefix = `${path.basename(bin)}: `;
      const why = (text.startsWith(prefix) ? text.slice(prefix.length) : text) || (signal ? `killed by ${signal}` : `exit status ${status}`);
      reject(new BerthError(o.codeFor?.(why) ?? 'INTERNAL', `${o.what}: ${why}`));
    });
  });
}
