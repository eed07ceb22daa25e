// exec: a new process inside a running container (its namespaces, cgroup, seccomp filter).
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { invalidArgument } from '../../lib/errors.js';
import type { Process } from '../spec/config-schema.js';
import { requireStatus } from '../state.js';
import type { Runtime } from './context.js';
import { containerCgroup } from './cgroup.js';
import { loadContainer } from './load.js';

export interface ExecOptions {
  id: string;
  /** The full process to run (exec --process); otherwise built from the container's process + overrides. */
  process?: Process;
  args?: string[];
  cwd?: string;
  env?: string[];
  /** "uid[:gid]" as runc's --user. */
  user?: string;
  additionalGids?: number[];
  caps?: string[];
  tty?: boolean;
  noNewPrivileges?: boolean;
  consoleSocket?: string;
  detach?: boolean;
  pidFile?: string;
  preserveFds?: number;
  stdio?: [number, number, number];
}

export interface ExecHandle {
  pid: number;
  /** Exit status of the exec'd process (128+signal when killed by one). */
  wait(): Promise<number>;
}

/** runc's rules for turning exec flags into a process: the container's process is the template. */
export function buildExecProcess(base: Process | undefined, o: ExecOptions): Process {
  if (o.process) return o.process;
  if (!o.args?.length) throw invalidArgument('exec: give a command to run (or --process process.json)');
  const p: Process = structuredClone(base ?? { cwd: '/', user: { uid: 0, gid: 0 } });
  p.args = o.args;
  delete p.commandLine;
  if (o.cwd) p.cwd = o.cwd;
  if (o.env?.length) p.env = [...(p.env ?? []), ...o.env];
  p.terminal = !!o.tty;
  if (o.noNewPrivileges) p.noNewPrivileges = true;
  if (o.user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(o.user);
    if (!m) throw invalidArgument(`exec: --user ${JSON.stringify(o.user)} must be uid[:gid] (numbers)`);
    p.user = { ...p.user, uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : p.user.gid };
  }
  if (o.additionalGids?.length) p.user = { ...p.user, additionalGids: o.additionalGids };
  if (o.caps?.length) {
    const caps = { ...(p.capabilities ?? {}) };
    for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...new Set([...(caps[set] ?? []), ...o.caps])];
    p.capabilities = caps;
  }
  return p;
}

export async function execInContainer(rt: Runtime, o: ExecOptions): Promise<ExecHandle> {
  const { rec, status } = await loadContainer(rt, o.id);
  requireStatus(o.id, status, ['created', 'running'], 'exec in');
  const proc = buildExecProcess(rec.config.process, o);
  if (proc.terminal && !o.consoleSocket) {
    throw invalidArgument('exec: a terminal (--tty or process.terminal) needs --console-socket: berth-runtime does not proxy terminals itself');
  }
  const seccomp = rec.config.linux?.seccomp
    ? await import('../seccomp/index.js').then(({ compileSeccompCached }) => {
      const c = compileSeccompCached(rec.config.linux!.seccomp!, rt.store.root);
      return { filter: c.filter, flags: c.flags };
    })
    : undefined;
  const cg = await containerCgroup(rec);
  const { execProcess } = await import('../launch.js');
  const h = await execProcess({
    containerPid: rec.pid,
    spec: rec.config,
    process: proc,
    consoleSocket: o.consoleSocket,
    detach: !!o.detach,
    preserveFds: o.preserveFds,
    seccomp,
    stdio: o.stdio,
    launcher: rt.host,
    onPid: async (pid: number) => {
      await cg.addProcess(pid);
    },
  });
  if (o.pidFile) writeFileAtomic(o.pidFile, String(h.pid), 0o644, { durable: false }); // a live process's pid: as create's
  return h;
}
