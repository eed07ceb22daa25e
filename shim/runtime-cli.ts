// The few runtime commands shim/ runs itself (start, kill, delete, state): any runc-compatible binary.
import { execFile } from 'node:child_process';
import { BerthError } from '../lib/errors.js';

export interface RuntimeRef { runtime: string; runtimeArgs: string[] }

export function runRuntime(r: RuntimeRef, args: string[], timeoutMs = 60000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(r.runtime, [...r.runtimeArgs, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const msg = (stderr || '').trim() || err.message;
      const code = /does not exist|not found|no such/i.test(msg) ? 'NOT_FOUND' : /not running|stopped|cannot start/i.test(msg) ? 'FAILED_PRECONDITION' : 'INTERNAL';
      reject(new BerthError(code, `${r.runtime} ${args[0]} failed: ${msg}`, { cause: err }));
    });
  });
}

export interface RuntimeState { id: string; pid: number; status: string; bundle: string }

export async function runtimeState(r: RuntimeRef, id: string): Promise<RuntimeState> {
  return JSON.parse(await runRuntime(r, ['state', id])) as RuntimeState;
}
