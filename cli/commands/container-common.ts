// Shared pieces of the container commands: the service for the global options, the run/create
// options and their translation to a CreateRequest, and wiring a terminal or pipes to a container.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { invalidArgument } from '../../lib/errors.js';
import { ContainerService, type CreateRequest } from '../../engine/service.js';
import type { ExitStatus, AttachStreams, Monitor } from '../../shim/index.js';
import type { GlobalOptions } from '../context.js';
import { registryOptions, addRegistryOptions } from './image-common.js';
import { progressPrinter } from './pull-progress.js';

export function containerService(g: GlobalOptions): ContainerService {
  return new ContainerService({
    root: g.root, state: g.state, runtime: process.env.BERTH_RUNTIME_BIN,
    // this very CLI (node, its loader flags under tsx, the entry script) handles exits (--rm, --restart)
    cleanupCommand: [process.execPath, ...process.execArgv, path.resolve(process.argv[1]), '--root', g.root, '--state', g.state, 'container', 'cleanup'],
  });
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function addCreateOptions(cmd: Command): Command {
  return addRegistryOptions(cmd
    .helpOption('--help', 'display help for command')
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=value>', 'set an environment variable (repeatable; KEY alone takes it from here)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file', collect, [])
    .option('-v, --volume <src:dst[:ro]>', 'bind a host path or a named volume (repeatable)', collect, [])
    .option('--tmpfs <dst[:options]>', 'mount a tmpfs (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('--group-add <group>', 'additional group (repeatable)', collect, [])
    .option('--entrypoint <cmd>', 'override the image entrypoint ("" clears it)')
    .option('-h, --hostname <name>', 'container hostname')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--cap-add <cap>', 'add a capability (repeatable)', collect, [])
    .option('--cap-drop <cap>', 'drop a capability (repeatable)', collect, [])
    .option('--privileged', 'all capabilities, all devices, no seccomp, writable /sys')
    .option('--security-opt <opt>', 'seccomp=unconfined|<file>, no-new-privileges (repeatable)', collect, [])
    .option('-m, --memory <bytes>', 'memory limit (e.g. 64m, 1g)')
    .option('--memory-swap <bytes>', 'memory+swap limit (-1: unlimited)')
    .option('--cpus <n>', 'number of CPUs (fractional)')
    .option('--cpu-shares <n>', 'relative CPU weight')
    .option('--pids-limit <n>', 'maximum number of processes')
    .option('--shm-size <bytes>', 'size of /dev/shm')
    .option('--sysctl <k=v>', 'namespaced kernel parameter (repeatable)', collect, [])
    .option('--network <mode>', 'none, host, or bridge (a CNI bridge network, see engine/network)', 'none')
    .option('-p, --publish <[ip:]host:container[/proto]>', 'publish a container port on the host (with --network bridge; repeatable)', collect, [])
    .option('-l, --label <k=v>', 'set a label (repeatable)', collect, [])
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-i, --interactive', 'keep stdin open')
    .option('--rm', 'remove the container when it exits')
    .option('--restart <policy>', 'no | on-failure[:max-retries] | always | unless-stopped', 'no')
    .option('--stop-signal <sig>', 'signal that stops the container')
    .option('--stop-timeout <s>', 'seconds before stop kills')
    .option('--pull <policy>', 'missing | always | never', 'missing')
    .option('--platform <os/arch>', 'platform of the image to use')
    .option('--rootfs <dir>', 'run a root filesystem directory instead of an image (the first argument is then the command)'));
}

/** docker's -p syntax: [ip:]hostPort:containerPort[/tcp|udp|sctp]. */
export function parsePublish(spec: string): { hostPort: number; containerPort: number; protocol: string; hostIP?: string } {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(spec);
  if (!m) throw invalidArgument(`-p ${JSON.stringify(spec)} must be [ip:]hostPort:containerPort[/tcp|udp|sctp]`);
  const hostPort = Number(m[2]), containerPort = Number(m[3]);
  if (!hostPort || hostPort > 65535 || !containerPort || containerPort > 65535) throw invalidArgument(`-p ${spec}: ports must be 1-65535`);
  return { hostPort, containerPort, protocol: m[4] ?? 'tcp', ...(m[1] ? { hostIP: m[1].replace(/^\[|\]$/g, '') } : {}) };
}

/** docker's --restart: no | on-failure[:max-retries] | always | unless-stopped */
export function parseRestart(spec: string): { policy: NonNullable<CreateRequest['restartPolicy']>; maxRetries?: number } {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(spec);
  if (!m) throw invalidArgument(`--restart ${spec} must be no, on-failure[:max-retries], always or unless-stopped`);
  if (m[2] !== undefined && m[1] !== 'on-failure') throw invalidArgument(`--restart ${spec}: a maximum retry count needs on-failure`);
  return { policy: m[1] as NonNullable<CreateRequest['restartPolicy']>, ...(m[2] !== undefined ? { maxRetries: Number(m[2]) } : {}) };
}

export function parseBytes(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (s === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw invalidArgument(`${what}: ${JSON.stringify(s)} is not a size (e.g. 512k, 64m, 1g)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function parseIntOpt(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^-?\d+$/.test(s)) throw invalidArgument(`${what} must be an integer, got ${JSON.stringify(s)}`);
  return Number(s);
}

function kv(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const x of list) {
    const i = x.indexOf('=');
    if (i <= 0) throw invalidArgument(`${what} ${JSON.stringify(x)} must be key=value`);
    out[x.slice(0, i)] = x.slice(i + 1);
  }
  return out;
}

export interface CreateOpts {
  name?: string; env: string[]; envFile: string[]; volume: string[]; tmpfs: string[]; workdir?: string; user?: string;
  groupAdd: string[]; entrypoint?: string; hostname?: string; readOnly?: boolean; capAdd: string[]; capDrop: string[];
  privileged?: boolean; securityOpt: string[]; memory?: string; memorySwap?: string; cpus?: string; cpuShares?: string;
  pidsLimit?: string; shmSize?: string; sysctl: string[]; network: string; publish: string[]; label: string[]; tty?: boolean;
  interactive?: boolean; rm?: boolean; restart: string; stopSignal?: string; stopTimeout?: string; pull: string;
  platform?: string; rootfs?: string; authfile?: string; creds?: string; insecureRegistry?: string[];
}

export function toCreateRequest(g: GlobalOptions, image: string | undefined, command: string[], o: CreateOpts, quietPull = false): CreateRequest {
  let env: string[] = [];
  for (const f of o.envFile) {
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) if (line.trim() && !line.startsWith('#')) env.push(line);
  }
  env = [...env, ...o.env].map((e) => (e.includes('=') ? e : process.env[e] !== undefined ? `${e}=${process.env[e]}` : e)).filter((e) => e.includes('='));
  const binds: CreateRequest['binds'] = [];
  const volumes: NonNullable<CreateRequest['volumes']> = [];
  for (const v of o.volume) {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3) throw invalidArgument(`volume ${JSON.stringify(v)} must be src:dst[:ro|rw]`);
    const [src, dst, mode] = parts;
    if (mode && mode !== 'ro' && mode !== 'rw') throw invalidArgument(`volume mode ${JSON.stringify(mode)} must be ro or rw`);
    if (src.startsWith('/') || src.startsWith('.')) {
      const abs = fs.realpathSync(src);
      binds.push({ source: abs, destination: dst, readonly: mode === 'ro' });
    } else volumes.push({ name: src, destination: dst, readonly: mode === 'ro' });
  }
  const tmpfs = o.tmpfs.map((t) => {
    const i = t.indexOf(':');
    return i < 0 ? { destination: t } : { destination: t.slice(0, i), options: t.slice(i + 1).split(',') };
  });
  let seccompProfile: CreateRequest['seccompProfile'] = 'default';
  let noNewPrivileges = false;
  for (const s of o.securityOpt) {
    if (s === 'no-new-privileges' || s === 'no-new-privileges:true' || s === 'no-new-privileges=true') noNewPrivileges = true;
    else if (s.startsWith('seccomp=') || s.startsWith('seccomp:')) {
      const v = s.slice(8);
      seccompProfile = v === 'unconfined' ? 'unconfined' : JSON.parse(fs.readFileSync(v, 'utf8'));
    } else throw invalidArgument(`unsupported --security-opt ${JSON.stringify(s)}`);
  }
  if (!['none', 'host', 'bridge'].includes(o.network)) throw invalidArgument(`--network ${o.network} must be none, host or bridge`);
  const publish = (o.publish ?? []).map(parsePublish);
  const restart = parseRestart(o.restart);
  if (o.rm && restart.policy !== 'no') throw invalidArgument('conflicting options: cannot specify both --restart and --rm');
  if (!['missing', 'always', 'never'].includes(o.pull)) throw invalidArgument(`--pull ${o.pull} must be missing, always or never`);
  const cpus = o.cpus !== undefined ? Number(o.cpus) : undefined;
  if (cpus !== undefined && !(cpus > 0)) throw invalidArgument(`--cpus ${o.cpus} must be a positive number`);
  let entrypoint: string[] | undefined;
  if (o.entrypoint !== undefined) entrypoint = o.entrypoint === '' ? [] : [o.entrypoint];
  let img = image;
  let cmd = command;
  let rootfsDir: string | undefined;
  if (o.rootfs) { rootfsDir = o.rootfs; img = undefined; cmd = image !== undefined ? [image, ...command] : command; }
  const progress = quietPull ? undefined : progressPrinter({ quiet: false });
  return {
    image: img, rootfsDir, name: o.name, command: cmd.length ? cmd : undefined, entrypoint, env, workdir: o.workdir, user: o.user,
    groupAdd: o.groupAdd, hostname: o.hostname, readonlyRootfs: o.readOnly, capAdd: o.capAdd, capDrop: o.capDrop,
    privileged: o.privileged, noNewPrivileges, seccompProfile, binds, volumes, tmpfs,
    memory: parseBytes(o.memory, '--memory'), memorySwap: parseBytes(o.memorySwap, '--memory-swap'), cpus,
    cpuShares: parseIntOpt(o.cpuShares, '--cpu-shares'), pidsLimit: parseIntOpt(o.pidsLimit, '--pids-limit'),
    shmSize: parseBytes(o.shmSize, '--shm-size'), sysctls: kv(o.sysctl, '--sysctl'), network: o.network as 'none' | 'host' | 'bridge', publish,
    labels: kv(o.label, '--label'), tty: o.tty, stdin: o.interactive, autoRemove: o.rm,
    restartPolicy: restart.policy, ...(restart.maxRetries ? { restartMaxRetries: restart.maxRetries } : {}), stopSignal: o.stopSignal,
    stopTimeout: parseIntOpt(o.stopTimeout, '--stop-timeout'), pull: o.pull as CreateRequest['pull'], platform: o.platform,
    registry: registryOptions(g, o), onPullEvent: progress?.onEvent,
  };
}

/** docker's convention for a process ended by a signal. */
export function exitCodeOf(s: ExitStatus): number {
  if (s.signal) return 128 + s.signal;
  return s.exitCode;
}

/**
 * Connect this process's stdio to the container's. With a tty: raw mode and window-size
 * propagation. Returns a function that undoes what it set up.
 */
export function pipeStdio(streams: AttachStreams, o: { tty: boolean; stdin: boolean; monitor?: Monitor }): () => void {
  streams.stdout.pipe(process.stdout, { end: false });
  streams.stderr.pipe(process.stderr, { end: false });
  const undo: (() => void)[] = [];
  if (o.stdin) {
    if (o.tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      undo.push(() => process.stdin.setRawMode(false));
    }
    process.stdin.pipe(streams.stdin);
    undo.push(() => { process.stdin.unpipe(streams.stdin); process.stdin.pause(); });
  }
  if (o.tty && o.monitor && process.stdout.isTTY) {
    const m = o.monitor;
    const onResize = () => { m.resize(process.stdout.rows, process.stdout.columns).catch(() => undefined); };
    process.stdout.on('resize', onResize);
    undo.push(() => process.stdout.off('resize', onResize));
  }
  return () => { for (const u of undo.reverse()) u(); };
}

export function ttySize(): { rows: number; cols: number } | undefined {
  return process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
}

/** Forward the signals a user sends to `berth run` (not in tty mode, where they are keystrokes). */
export function forwardSignals(send: (sig: NodeJS.Signals) => Promise<void>): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => { const h = () => { send(s).catch(() => undefined); }; process.on(s, h); return [s, h] as const; });
  return () => { for (const [s, h] of handlers) process.off(s, h); };
}

/**
 * docker's 126/127: when the runtime could not exec the container's command, the failure is the
 * command's (not found: 127, not executable: 126), not berth's (125). The runtimes say so only in
 * their error text (berth-runtime: "berth-init: exec X: ...", runc: "exec: \"X\": ...", crun:
 * "executable file `X` not found"), so match it.
 */
export function withCommandExitCode(e: unknown): unknown {
  if (!(e instanceof Error) || typeof (e as { exitCode?: unknown }).exitCode === 'number') return e;
  const m = e.message;
  // only the runtime's report of the container's own exec (berth-init, runc, crun), never a failure
  // to exec the runtime itself, which is berth's (125)
  if (!/berth-init: exec |exec: \\?"|executable file .* not found/.test(m)) return e;
  let code: number | undefined;
  if (/executable file not found|no such file or directory/i.test(m)) code = 127;
  else if (/permission denied|not a directory|is a directory|exec format error/i.test(m)) code = 126;
  return code === undefined ? e : Object.assign(e, { exitCode: code });
}

export function shortCid(id: string): string {
  return id.slice(0, 12);
}
