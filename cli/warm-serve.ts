// A pre-warmed, single-use `berth` process (started by native/berth-client.c with BERTH_WARM_SOCKET and
// its key's lock on fd 3): it loads the CLI, then waits for ONE call on its socket. The call's fds 0-2,
// cwd, umask and rlimits become this process's (native/warm-handoff.c), then its argv and environment
// (here), and from then on this process is what a freshly started `berth` would be for that call; it
// exits after it. Single use is what keeps every per-process thing (env, cwd, argv, stdio streams,
// signal handlers, exitCode) correct without any per-call state in the CLI.
//
// Nothing before the handoff may touch process.stdout/stderr/stdin: Node creates them on first use, by
// the type of fds 0-2 at that moment (here /dev/null), and they must be made for the caller's files.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { call, T, nativeAlloc, warmAccept, warmConn, warmListen } from '../native/ffi.js';
import { restartTiming } from '../lib/timing.js';

const MAX_REQUEST = (4 << 20) + (256 << 10); // the client's MAX_ENV, argv and framing
const SLICE_MS = 5000; // how often a waiting process looks whether its bundle was rebuilt

interface Call { argv: string[]; env: Record<string, string> }

/** Whether this process was started to wait for a call (else it is a plain CLI process). */
export function warmMode(): boolean {
  return Boolean(process.env.BERTH_WARM_SOCKET);
}

/**
 * Listen, run `preload` (module loading that every call would otherwise pay), wait for a call and take it
 * over. Resolves once this process is the caller's; exits the process when no call came in time.
 */
export async function serveWarm(preload: () => Promise<unknown>): Promise<void> {
  const socket = process.env.BERTH_WARM_SOCKET!;
  const lockFd = Number(process.env.BERTH_WARM_LOCK_FD ?? -1);
  const idleMs = Number(process.env.BERTH_WARM_IDLE ?? 300) * 1000;
  const pidFile = path.join(path.dirname(socket), `warm-${process.pid}.pid`);
  const bundle = bundleIdentity();
  // Listening first: a call that arrives while the modules load waits for them instead of starting cold.
  const lfd = warmListen(socket);
  // Calls now connect: none needs to wait for "loading" (the client's connect_warm) any more.
  lockState(lockFd, 'ready');
  fs.writeFileSync(pidFile, `${process.pid} ${path.basename(socket, '.sock')}\n`);
  process.once('exit', () => { try { fs.unlinkSync(pidFile); } catch { /* gone */ } });
  await preload();
  const mem = nativeAlloc(MAX_REQUEST);
  const deadline = Date.now() + idleMs;
  for (;;) {
    const wait = Math.min(SLICE_MS, deadline - Date.now());
    const n = wait > 0 ? warmAccept(lfd, lockFd, wait, mem.addr, MAX_REQUEST) : 0;
    if (n > 0) {
      const at = performance.now();
      const req = parseCall(mem.buf.subarray(0, n));
      mem.free();
      takeOver(req, at);
      return;
    }
    if (Date.now() >= deadline || bundleIdentity() !== bundle) {
      // Idle or outdated: leave (the socket goes first, under the lock, so no client connects to nothing).
      // "leaving" first: a client that finds no socket while the lock is still ours (until this process
      // has fully exited) starts a successor that waits for that (berth-client.c, departing_holder).
      lockState(lockFd, 'leaving');
      try { fs.unlinkSync(socket); } catch { /* gone */ }
      process.exit(0);
    }
  }
}

/** What the holder of the key's lock is doing, for the clients that find it held: "<state> <pid>". */
function lockState(lockFd: number, state: 'ready' | 'leaving'): void {
  if (lockFd < 0) return;
  fs.ftruncateSync(lockFd, 0);
  fs.writeSync(lockFd, `${state} ${process.pid}`, 0);
}

function bundleIdentity(): string {
  try {
    const st = fs.statSync(process.argv[1] ? path.resolve(path.dirname(process.argv[1]), '../dist/berth.cjs') : '', { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`; // as the client's key
  } catch {
    return 'none';
  }
}

/** payload: "1", umask (applied already), argc, argv..., KEY=VALUE... (NUL-separated) */
function parseCall(buf: Buffer): Call {
  const f = buf.toString('utf8').split('\0');
  if (f[f.length - 1] === '') f.pop();
  const argc = Number(f[2]);
  const argv = f.slice(3, 3 + argc);
  const env: Record<string, string> = {};
  for (const kv of f.slice(3 + argc)) {
    const i = kv.indexOf('=');
    if (i > 0 && !Object.hasOwn(env, kv.slice(0, i))) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { argv, env };
}

/** The process becomes the caller's: environment, argv, cwd cache, exit code back, hang-up on its leaving. */
function takeOver(req: Call, at: number): void {
  // The real environ, not a new object: children and C code (getenv) see it too.
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, req.env);
  process.argv = [process.argv[0], process.argv[1], ...req.argv];
  // fchdir happened in C: Node caches process.cwd() and only chdir clears that cache.
  process.chdir('.');
  restartTiming(at, `warm pid ${process.pid}`);

  const conn = warmConn();
  let written = false;
  const writeCode = (fallback: unknown) => {
    if (written) return;
    written = true;
    const code = typeof process.exitCode === 'number' ? process.exitCode : Number(fallback ?? 0) || 0;
    const text = Buffer.from(String(code));
    const frame = Buffer.alloc(5 + text.length);
    frame.writeUInt32LE(text.length + 1, 0);
    frame[4] = 'X'.charCodeAt(0);
    text.copy(frame, 5);
    try { fs.writeSync(conn, frame); } catch { /* the client left */ }
  };
  // The code is the very last thing the process does: after every 'exit' listener, even those the
  // call adds (they may still write to stdout/stderr, which the client's caller must see first).
  const emit = process.emit;
  process.emit = function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]) {
    const r = (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
    if (event === 'exit') writeCode(args[0]);
    return r;
  } as typeof process.emit;

  // The client gone (killed, its terminal closed) is a hang-up for the call, as for a process whose
  // terminal went away. A dup watches for it, so the fd the code goes to is never closed under us.
  const watch = new net.Socket({ fd: call('dup', [T.i32], [conn], 'warm connection'), readable: true, writable: false });
  watch.on('data', () => undefined);
  watch.on('error', () => undefined);
  watch.once('end', () => { if (!written) process.kill(process.pid, 'SIGHUP'); });
  watch.unref();
}
