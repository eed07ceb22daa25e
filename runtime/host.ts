// The process a berth-runtime call stands for: it runs berth-init (so containers are its children, as
// runc's are runc's) and, for a foreground `run`, reaps the container's init. The plain CLI is that
// process itself (localHost); under the resident planner it is the thin client on the other end of the
// socket (runtime/planner/remote-host.ts), while planning still happens in the planner.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';
import { internal, invalidArgument } from '../lib/errors.js';
import { nativeBinary } from '../lib/paths.js';
import { closeFd, pidfdOpen, prctl, PR_SET_CHILD_SUBREAPER, waitidPidfdNoHang } from '../native/ffi.js';
import { SyncChannel } from './plan/sync-channel.js';

export type InitMode = 'create' | 'exec';
export type Stdio = [number, number, number];

export interface Launched {
  /** berth-init's sync socket (framing: runtime/plan/sync-channel.ts). */
  chan: SyncChannel;
  /** berth-init's exit status (128+signal when killed). */
  exited: Promise<number>;
}

export interface InitLauncher {
  /** Start `berth-init <mode> <syncfd>` with the caller's stdio (or `stdio`) and fds 3..3+preserveFds-1. */
  launch(mode: InitMode, stdio: Stdio | undefined, preserveFds: number): Promise<Launched>;
}

/** A child the caller adopted as subreaper (a container's init after berth-init's parent exited). */
export interface Adopted {
  wait(): Promise<number>;
  close(): void;
}

export interface ProcessHost extends InitLauncher {
  /** From now on orphans below the caller re-parent to it (foreground run: the container's init). */
  becomeSubreaper(): void;
  /** Take hold of an adopted child before it can exit, so its status is not lost or confused. */
  adopt(pid: number): Adopted;
}

export function checkPreserveFds(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw invalidArgument(`preserve-fds ${n} is out of range`);
}

function spawnInit(mode: InitMode, stdio: Stdio | undefined, preserveFds: number): Launched {
  const bin = nativeBinary('berth-init');
  checkPreserveFds(preserveFds);
  const preserved = Array.from({ length: preserveFds }, (_, i) => 3 + i);
  for (const fd of preserved) {
    try { fs.fstatSync(fd); } catch { throw invalidArgument(`preserve-fds ${preserveFds}: fd ${fd} is not open`); }
  }
  const syncFd = 3 + preserveFds;
  const stdioSpec: Array<'inherit' | 'pipe' | number> = [...(stdio ?? ['inherit', 'inherit', 'inherit'] as const), ...preserved, 'pipe'];
  const child: ChildProcess = spawn(bin, [mode, String(syncFd)], { stdio: stdioSpec, argv0: 'berth-init' });
  let status: string | undefined;
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code: number | null, sig: NodeJS.Signals | null) => {
      status = sig ? `killed by ${sig}` : `exit status ${code}`;
      resolve(sig ? 128 + ((osConstants.signals as Record<string, number>)[sig] ?? 0) : code ?? 1);
    });
    child.on('error', (e) => { status = e.message; resolve(127); });
  });
  const sock = child.stdio[syncFd] as Socket;
  const chan = new SyncChannel(sock, () => internal(`berth-init ${mode} ended without reporting (${status ?? 'sync socket closed'})`));
  return { chan, exited };
}

/** Poll an adopted child's pidfd with waitid(WNOHANG), backing off from 1 ms to 25 ms. */
async function waitPidfd(pidfd: number): Promise<number> {
  let delay = 1;
  for (;;) {
    const code = waitidPidfdNoHang(pidfd);
    if (code !== undefined) return code;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 25);
  }
}

/** This very process: the plain CLI, and library users such as the engine. */
export const localHost: ProcessHost = {
  launch: async (mode, stdio, preserveFds) => spawnInit(mode, stdio, preserveFds),
  becomeSubreaper: () => { prctl(PR_SET_CHILD_SUBREAPER, 1); },
  adopt(pid) {
    // The pidfd names the process even if its pid is reused later.
    const pidfd = pidfdOpen(pid);
    let open = true;
    return {
      wait: () => waitPidfd(pidfd),
      close: () => { if (open) { open = false; closeFd(pidfd); } },
    };
  },
};
