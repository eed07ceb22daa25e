// Runs one CNI plugin binary the way the CNI 1.0 spec says: parameters in CNI_* environment
// variables, the network config on stdin, a result or an error document on stdout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, invalidArgument, type ErrorCode } from '../../lib/errors.js';
import { isErrorDoc, parseResult, type CniResult } from './cni-schemas.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface PluginCall {
  command: CniCommand;
  containerId: string;
  netns: string;          // empty on DEL when the namespace is already gone (the spec allows it)
  ifName: string;
  cniPath: string[];
  args?: Record<string, string>;
  timeoutMs: number;
}

/** A plugin's own error document (or a crash), keeping the CNI code for callers that care. */
export class CniPluginError extends BerthError {
  constructor(code: ErrorCode, message: string, readonly plugin: string, readonly cniCode?: number, readonly details?: string) {
    super(code, message);
    this.name = 'CniPluginError';
  }
}

// The spec's well-known codes; 100+ are plugin-specific and stay INTERNAL.
function codeFor(cniCode: number): ErrorCode {
  switch (cniCode) {
    case 1: case 2: case 4: case 7: return 'INVALID_ARGUMENT'; // incompatible version, unsupported field, bad env, bad config
    case 3: return 'NOT_FOUND';          // container unknown or does not exist
    case 6: return 'INVALID_ARGUMENT';   // failed to decode content
    case 11: return 'UNAVAILABLE';       // try again later
    default: return 'INTERNAL';          // 5 = I/O failure, 100+ = plugin specific
  }
}

/**
 * CNI_ARGS as `K=V;K=V`. The reference plugins reject keys they do not know unless IgnoreUnknown
 * is set, and runtimes pass pod metadata (K8S_POD_NAME, ...) that most plugins ignore: set it first.
 */
export function cniArgs(args: Record<string, string>): string {
  const pairs = Object.entries(args);
  for (const [k, v] of pairs) {
    if (!/^[A-Za-z0-9_]+$/.test(k) || /[;=]/.test(v)) throw invalidArgument(`CNI argument ${k}=${v}: keys are [A-Za-z0-9_]+ and values must not contain ';' or '='`);
  }
  if (!pairs.some(([k]) => k === 'IgnoreUnknown')) pairs.unshift(['IgnoreUnknown', '1']);
  return pairs.map(([k, v]) => `${k}=${v}`).join(';');
}

/** The first executable named `type` in the CNI_PATH directories. */
export function findPlugin(type: string, cniPath: string[]): string | undefined {
  if (type.includes('/') || type === '.' || type === '..') return undefined;
  for (const dir of cniPath) {
    const p = path.join(dir, type);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* try the next directory */ }
  }
  return undefined;
}

/** Execute `type` with `config` on stdin; resolves to the parsed result (undefined for DEL/CHECK with no output). */
export async function execPlugin(type: string, config: Record<string, unknown>, call: PluginCall): Promise<CniResult | undefined> {
  const bin = findPlugin(type, call.cniPath);
  if (!bin) throw failedPrecondition(`CNI plugin "${type}" not found in CNI_PATH ${call.cniPath.join(':')} (install containernetworking-plugins)`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifName,
    CNI_PATH: call.cniPath.join(':'),
  };
  if (call.args && Object.keys(call.args).length) env.CNI_ARGS = cniArgs(call.args);
  const what = `CNI plugin ${type} ${call.command} for ${call.containerId}`;

  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, call.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { if (err.reduce((n, b) => n + b.length, 0) < 65536) err.push(d); });
    child.stdin.on('error', () => { /* the plugin may exit before reading stdin; its exit status tells */ });
    child.on('error', (e) => { clearTimeout(timer); reject(new CniPluginError('INTERNAL', `${what}: cannot execute ${bin}: ${e.message}`, type)); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (timedOut) return reject(new CniPluginError('DEADLINE_EXCEEDED', `${what} timed out after ${call.timeoutMs} ms`, type));
      let doc: unknown;
      if (stdout) {
        try { doc = JSON.parse(stdout); } catch { doc = undefined; }
      }
      if (status !== 0) {
        if (isErrorDoc(doc)) {
          const detail = doc.details ? ` (${doc.details})` : '';
          return reject(new CniPluginError(codeFor(doc.code), `${what} failed: ${doc.msg}${detail} [CNI code ${doc.code}]`, type, doc.code, doc.details));
        }
        const why = signal ? `killed by ${signal}` : `exit status ${status}`;
        return reject(new CniPluginError('INTERNAL', `${what} failed (${why})${stderr || stdout ? ': ' + (stderr || stdout).slice(0, 2000) : ''}`, type));
      }
      if (!stdout) return resolve(undefined);
      if (doc === undefined) return reject(new CniPluginError('INTERNAL', `${what} printed something that is not JSON: ${stdout.slice(0, 200)}`, type));
      try { resolve(call.command === 'VERSION' ? (doc as CniResult) : parseResult(doc, type)); } catch (e) { reject(e); }
    });
    child.stdin.end(JSON.stringify(config));
  });
}
