// Helpers for the container CLI tests: the `berth` CLI as a user types it (temp --root/--state),
// a small busybox image loaded through `berth load`, the runtime under test, and counts of what
// containers leave on the host (mounts, cgroups, fds, zombies) so leaks show.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './harness.js';
import { busyboxEntries, makeImage, makeLayer, tarDir, writeLayout } from './image-builder.js';

export const BERTH = path.join(REPO, 'bin', 'berth');
export const IMAGE = 'localhost/test/bb:latest';

/**
 * The OCI runtime the tests drive: BERTH_TEST_RUNTIME, else berth's own when it answers
 * --version, else runc (with a note line so the report says which one ran).
 */
export function testRuntime(): string {
  const env = process.env.BERTH_TEST_RUNTIME;
  if (env) return path.resolve(env);
  const own = path.join(REPO, 'bin', 'berth-runtime');
  const r = spawnSync(own, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return own;
  console.log(`NOTE: ${own} --version failed (${(r.stderr || r.error?.message || '').trim()}); using /usr/sbin/runc`);
  return '/usr/sbin/runc';
}

/** The CLI bundle must exist: build it once when it is missing (tests run from sources otherwise). */
export function ensureBuilt(): void {
  if (fs.existsSync(path.join(REPO, 'dist', 'berth.cjs'))) return;
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed: ${r.stderr}`);
}

export interface Env {
  root: string;
  state: string;
  dir: string;
  runtime: string;
  berth(args: string[], o?: { input?: string; timeout?: number }): SpawnSyncReturns<string>;
  /** berth that must succeed; returns stdout */
  ok(args: string[]): string;
  cleanup(): void;
}

export function makeEnv(runtime = testRuntime()): Env {
  ensureBuilt();
  const dir = tmpDir('berth-cli-');
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const env = { ...process.env, BERTH_RUNTIME_BIN: runtime };
  const berth = (args: string[], o: { input?: string; timeout?: number } = {}) =>
    spawnSync(BERTH, ['--root', root, '--state', state, ...args], { encoding: 'utf8', env, input: o.input ?? '', timeout: o.timeout ?? 60_000 });
  return {
    root, state, dir, runtime, berth,
    ok(args) {
      const r = berth(args);
      if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.error ? ` ${r.error.message}` : ''}`);
      return r.stdout;
    },
    cleanup() {
      // Force-remove whatever a failed test left, then the directories.
      const ids = berth(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
      if (ids.length) berth(['rm', '-f', ...ids]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A two-layer busybox-static image (applets the tests use; a user 1000), as an OCI archive. */
export async function buildTestImage(dir: string): Promise<string> {
  const applets = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'sleep', 'id', 'pwd', 'env', 'stty', 'head', 'dd', 'mkdir',
    'touch', 'ps', 'grep', 'kill', 'test', 'seq', 'wc', 'hostname', 'tty', 'trap', 'rm'];
  const base = await makeLayer(busyboxEntries(applets), 'gzip');
  const users = await makeLayer([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\nuser:x:1000:\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'home/', type: 'directory' },
    { name: 'home/user/', type: 'directory', uid: 1000, gid: 1000 },
    { name: 'srv/', type: 'directory' },
    { name: 'srv/hello', content: 'from the image\n' },
  ], 'gzip');
  const img = makeImage({ layers: [base, users], config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin', 'IMG=1'], WorkingDir: '/srv' } });
  const layout = writeLayout(path.join(dir, 'layout'), img.manifest, [img]);
  return tarDir(layout, path.join(dir, 'image.tar'));
}

/** An Env with the test image loaded as IMAGE. */
export async function envWithImage(runtime?: string): Promise<Env> {
  const e = makeEnv(runtime);
  const archive = await buildTestImage(e.dir);
  e.ok(['load', '-i', archive, '--name', IMAGE]);
  return e;
}

// ---- what containers leave on the host ------------------------------------------------

export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p && (p === dir || p.startsWith(dir + '/')));
}

/** berth's cgroup directories (v1 controllers and the unified tree), whatever their names. */
export function berthCgroups(): string[] {
  const out: string[] = [];
  let ctrls: string[] = [];
  try { ctrls = fs.readdirSync('/sys/fs/cgroup'); } catch { return out; }
  for (const c of ctrls) {
    const p = path.join('/sys/fs/cgroup', c, 'berth');
    let kids: fs.Dirent[] = [];
    try { kids = fs.readdirSync(p, { withFileTypes: true }); } catch { continue; }
    for (const k of kids) if (k.isDirectory()) out.push(path.join(p, k.name));
  }
  return out;
}

/** Zombie processes, all of them or those whose parent is `ppid` (other engineers' tests run beside ours). */
export function zombies(ppid?: number): number {
  let n = 0;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z' && (ppid === undefined || Number(f[1]) === ppid)) n++;
    } catch { /* gone */ }
  }
  return n;
}

/** Processes (zombies included) whose cgroup path names one of `ids`: what a container leaves running. */
export function processesInCgroupsOf(ids: Set<string>): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cg = fs.readFileSync(`/proc/${p}/cgroup`, 'utf8');
      for (const id of ids) if (cg.includes(id)) { out.push(Number(p)); break; }
    } catch { /* gone */ }
  }
  return out;
}

export function openFds(pid = process.pid): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Processes whose command line mentions `needle` (monitors of a root, say). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try { if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p)); } catch { /* gone */ }
  }
  return out;
}

/** Drive a command in a pty (python3's pty module): returns the output and the exit code. */
export function inPty(argv: string[], script: { rows?: number; cols?: number; resizeOn?: string; resizeTo?: [number, number]; send?: string; timeoutSec?: number } = {}, env: NodeJS.ProcessEnv = process.env): { out: string; code: number } {
  const py = `
import os, pty, sys, fcntl, termios, struct, time, select, json
cfg = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', cfg['rows'], cfg['cols'], 0, 0))
out = b''; done = False; t0 = time.time()
while time.time() - t0 < cfg['timeout']:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try: d = os.read(fd, 4096)
        except OSError: break
        if not d: break
        out += d
    if not done and cfg['on'] and cfg['on'].encode() in out:
        done = True
        if cfg['to']: fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', cfg['to'][0], cfg['to'][1], 0, 0))
        time.sleep(0.3)
        if cfg['send']: os.write(fd, cfg['send'].encode())
try:
    _, st = os.waitpid(pid, 0); code = os.waitstatus_to_exitcode(st)
except ChildProcessError:
    code = -1
sys.stdout.write(out.decode(errors='replace')); sys.stdout.write('\\nPTY-EXIT %d\\n' % code)
`;
  const cfg = { rows: script.rows ?? 30, cols: script.cols ?? 100, on: script.resizeOn ?? '', to: script.resizeTo ?? null, send: script.send ?? '', timeout: script.timeoutSec ?? 30 };
  const r = spawnSync('python3', ['-c', py, JSON.stringify(cfg), ...argv], { encoding: 'utf8', env, timeout: (cfg.timeout + 10) * 1000 });
  const m = /\nPTY-EXIT (-?\d+)\n$/.exec(r.stdout ?? '');
  return { out: (r.stdout ?? '').replace(/\nPTY-EXIT -?\d+\n$/, ''), code: m ? Number(m[1]) : -1 };
}

/** Start a berth command in the background (for kill -9 of the CLI, or signals). */
export function spawnBerth(e: Env, args: string[]) {
  return spawn(BERTH, ['--root', e.root, '--state', e.state, ...args], { env: { ...process.env, BERTH_RUNTIME_BIN: e.runtime }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** berth that must succeed, without blocking the test process: returns stdout. */
export function berthAsync(e: Env, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawnBerth(e, args);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`berth ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
