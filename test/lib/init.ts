// Helpers for the runtime-init tests: a busybox bundle with a runc-like default config, and a way to
// run a container to completion through runtime/launch.ts capturing its output.
import fs from 'node:fs';
import path from 'node:path';
import { alive, makeBusyboxRootfs, tmpDir } from './harness.js';
import type { Spec } from '../../runtime/spec/config-schema.js';
import { validateSpec } from '../../runtime/spec/config-schema.js';
import { createContainerProcess, startContainerProcess, type CreateRequest } from '../../runtime/launch.js';

/** The default config of `runc spec` (rootful), trimmed to what a busybox rootfs needs. */
export function defaultSpec(args: string[] = ['/bin/true']): Spec {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return validateSpec({
    ociVersion: '1.2.0',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'berth',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  });
}

export interface Bundle { dir: string; bundle: string; stateDir: string; rootfs: string; cleanup(): void }

// One busybox rootfs per test file, copied per bundle by hard links would leak writes; a fresh one is
// cheap enough (busybox is one file plus symlinks).
export function makeBundle(): Bundle {
  const dir = tmpDir('berth-init-');
  const bundle = path.join(dir, 'bundle');
  const rootfs = path.join(bundle, 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  makeBusyboxRootfs(rootfs);
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir);
  return { dir, bundle, stateDir, rootfs, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// Every container init a test made, so a failing assertion cannot leave one running.
const tracked = new Set<number>();
export function track(pid: number): number { tracked.add(pid); return pid; }
export async function killLeftovers(): Promise<void> {
  for (const pid of tracked) {
    if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* raced */ } await waitGone(pid); }
  }
  tracked.clear();
}

export interface RunResult { pid: number; out: string; code: number; createMs: number; startMs: number }

export { alive };

export async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * create + start a container, wait for it to finish, return its combined stdout/stderr. The process
 * is not our child (its parent berth-init exited), so completion is seen by its disappearance.
 */
export async function runContainer(b: Bundle, spec: Spec, extra: Partial<CreateRequest> = {}): Promise<RunResult> {
  const outFile = path.join(b.dir, `out-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const fd = fs.openSync(outFile, 'w+');
  const nul = fs.openSync('/dev/null', 'r');
  try {
    const t0 = performance.now();
    const { pid } = await createContainerProcess({
      bundle: b.bundle, spec, stateDir: b.stateDir, stdio: [nul, fd, fd],
      onPid: async () => {}, hookState: (p) => JSON.stringify({ ociVersion: '1.2.0', id: 'test', status: 'creating', pid: p, bundle: b.bundle }),
      ...extra,
    });
    track(pid);
    const t1 = performance.now();
    await startContainerProcess(b.stateDir);
    const t2 = performance.now();
    await waitGone(pid);
    return { pid, out: fs.readFileSync(outFile, 'utf8'), code: 0, createMs: t1 - t0, startMs: t2 - t1 };
  } finally {
    fs.closeSync(fd);
    fs.closeSync(nul);
  }
}

/** Mount points under `dir` in our own mount namespace (tests assert nothing leaked to the host). */
export function hostMountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

/**
 * A console socket server (runc's protocol): receives the pty master over SCM_RIGHTS and copies
 * everything the container writes to it into `output()`. Node cannot receive fds, so python3 does.
 */
export async function consoleServer(dir: string): Promise<{ socket: string; output(): Promise<string>; close(): void }> {
  const { spawn } = await import('node:child_process');
  const socket = path.join(dir, 'console.sock');
  const script = `
import socket, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(c, 1024, 1)
m = fds[0]
out = b""
while True:
    try:
        d = os.read(m, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode(errors="replace")); sys.stdout.flush()
`;
  const p = spawn('python3', ['-c', script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const done = new Promise<string>((resolve) => {
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', () => resolve(out.replace(/^ready\n/, '')));
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('console server did not start')), 5000);
    p.stdout.once('data', () => { clearTimeout(t); resolve(); });
  });
  return { socket, output: () => done, close: () => { if (p.exitCode === null) p.kill('SIGKILL'); } };
}
