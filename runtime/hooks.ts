// OCI hooks (runtime-spec 1.2 config.md#posix-platform-hooks) that run in the runtime's namespace:
// prestart, createRuntime, poststart, poststop. createContainer and startContainer run inside the
// container and are executed by init from the launch plan; only their state JSON comes from here.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { BerthError } from '../lib/errors.js';
import type { Hook, Hooks } from './spec/config-schema.js';
import type { OciState } from './state.js';

export type HookKind = keyof Hooks;
/** Failures of these abort the operation (and the container is destroyed); the others only warn. */
export const FATAL_HOOKS: readonly HookKind[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer'];

const OUTPUT_CAP = 4096;

/**
 * Run one hook: state JSON on stdin, optional timeout in seconds; rejects naming the hook and why.
 * `callerEnv` is the environment of whoever ran the runtime: a planner's client's, not the planner's.
 */
export function runHook(kind: HookKind, hook: Hook, state: OciState, index = 0, callerEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const argv = hook.args && hook.args.length ? hook.args : [hook.path];
    const what = `${kind} hook #${index} (${hook.path})`;
    // Like runc (Go's exec.Cmd with a nil Env), a hook without env inherits the runtime caller's environment.
    const env = hook.env ? envObject(hook.env) : callerEnv;
    let out = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // runc runs from the bundle (create chdirs there): hooks see the same cwd however berth-runtime was
    // reached (the planner's own cwd is nobody's business); a bundle already gone leaves ours.
    const cwd = state.bundle && fs.existsSync(state.bundle) ? state.bundle : undefined;
    const child = spawn(hook.path, argv.slice(1), { argv0: argv[0], env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const collect = (d: Buffer) => {
      if (out.length < OUTPUT_CAP) out += d.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const fail = (msg: string, code: 'INTERNAL' | 'DEADLINE_EXCEEDED' = 'INTERNAL') => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      const tail = out.trim() ? `: ${out.trim().slice(0, OUTPUT_CAP)}` : '';
      reject(new BerthError(code, `${what} ${msg}${tail}`));
    };
    child.on('error', (e) => fail(`could not be run: ${e.message}`));
    // A hook that never reads its stdin must not turn into EPIPE noise.
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(state));
    if (hook.timeout) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(`timed out after ${hook.timeout}s`, 'DEADLINE_EXCEEDED');
      }, hook.timeout * 1000);
    }
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code === 0) {
        settled = true;
        if (timer) clearTimeout(timer);
        resolve();
      } else fail(signal ? `was killed by ${signal}` : `exited with status ${code}`);
    });
  });
}

/**
 * Run every hook of one kind in order. For fatal kinds the first failure rejects; for poststart and
 * poststop every hook runs and failures go to `warn` (the spec: the runtime logs a warning and continues).
 */
export async function runHooks(kind: HookKind, hooks: Hooks | undefined, state: OciState, warn: (msg: string) => void = () => {}, callerEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  const list = hooks?.[kind] ?? [];
  for (let i = 0; i < list.length; i++) {
    try {
      await runHook(kind, list[i], state, i, callerEnv);
    } catch (e) {
      if (FATAL_HOOKS.includes(kind)) throw e;
      warn((e as Error).message);
    }
  }
}

function envObject(env: string[]): NodeJS.ProcessEnv {
  const o: NodeJS.ProcessEnv = {};
  for (const kv of env) {
    const i = kv.indexOf('=');
    if (i > 0) o[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return o;
}
