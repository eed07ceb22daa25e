// The planner's wire protocol with its thin client (native/berth-runtime-client.c), on a unix stream
// socket, in the framing berth-init already speaks (runtime/plan/sync-channel.ts: u32 LE length of type +
// payload, u8 type, payload). Text fields are separated by NUL bytes.
//
// One connection per invocation:
//   client -> planner  Q  request: "1", client pid, cwd, umask (octal), argc, argv..., then the client's
//                         whole environment as KEY=VALUE (at most MAX_ENV_BYTES; a client with more
//                         runs the Node CLI instead)
//                      S  signal number the client received (it blocks them and relays each)
//                      X  "<token> <status>": berth-init started for <token> exited (128+signal if killed)
//                      E  "<token> <text>": the client could not start berth-init for <token>
//                      W  "<pid> <status>": an adopted child's exit status, as asked for by W
//   planner -> client  O / R  bytes for the client's stdout / stderr
//                      B  become PR_SET_CHILD_SUBREAPER (foreground run: the container's init re-parents to it)
//                      N  spawn: token, mode, berth-init path, preserve-fds count
//                      W  "<pid>": report that child's exit status (reap it once it exits)
//                      K  "<signo>": die by this signal (one the command did not handle, as the Node CLI would)
//                      F  run the Node CLI instead with the same argv (the command needs the client itself)
//                      Z  "<code>": the invocation's exit code; last frame
// A second connection per berth-init: its first frame is T "<token>"; the client then execs berth-init
// with that socket as its sync fd, and the planner drives berth-init over it with the usual frames.
export const PROTOCOL_VERSION = '1';

export const DEFAULT_SOCKET = '/run/berth-runtime/planner.sock';

/**
 * Bound on the environment a client sends (its strings with their NULs; MAX_ENV in the client). The
 * whole of it goes along, since hooks without `env` see all of the caller's, as runc's do; execve
 * rarely allows more than 2 MiB of argv + env anyway.
 */
export const MAX_ENV_BYTES = 4 << 20;

export interface Request {
  pid: number;
  cwd: string;
  umask: number;
  argv: string[];
  env: Record<string, string>;
}

export function parseRequest(payload: Buffer): Request {
  const f = payload.toString('utf8').split('\0');
  if (f[0] !== PROTOCOL_VERSION) throw new Error(`unsupported client protocol ${JSON.stringify(f[0])} (planner speaks ${PROTOCOL_VERSION})`);
  const argc = Number(f[4]);
  if (!Number.isInteger(argc) || argc < 0 || f.length < 5 + argc) throw new Error('malformed request');
  const env: Record<string, string> = {};
  const kvs = f.slice(5 + argc);
  if (kvs.reduce((n, kv) => n + Buffer.byteLength(kv) + 1, 0) > MAX_ENV_BYTES) throw new Error(`request environment over ${MAX_ENV_BYTES} bytes`);
  for (const kv of kvs) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { pid: Number(f[1]), cwd: f[2], umask: parseInt(f[3], 8) || 0, argv: f.slice(5, 5 + argc), env };
}

/** The request frame's payload (the client builds the same in C; tests build it here). */
export function encodeRequest(r: Request): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  return Buffer.from([PROTOCOL_VERSION, String(r.pid), r.cwd, r.umask.toString(8), String(r.argv.length), ...r.argv, ...env].join('\0'));
}
