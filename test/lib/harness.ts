// Shared test helpers. Every test file is a uvu suite run in its own process by test/run.mjs.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { procStat } from '../../lib/proc-stat.js';
import { privateWarmDir } from './warm-cleanup.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const isRoot = process.getuid?.() === 0;

// A test file run on its own (not by test/run.mjs): the warm berth processes its CLIs start are its own.
if (!process.env.BERTH_WARM_DIR) process.once('exit', privateWarmDir());

/**
 * Record a skipped test with its reason: test/run.mjs counts these lines, uvu's own
 * test.skip carries no reason.
 */
export function skip(name: string, reason: string): void {
  console.log(`SKIP: ${name} -- ${reason}`);
}

const tmpDirs: string[] = [];

/** A fresh directory under the temp dir, removed when the test process exits. */
/** Whether a pid still exists as a live process (not a zombie, not dead). */
export function alive(pid: number): boolean {
  const st = procStat(pid);
  return !!st && st.state !== 'Z' && st.state !== 'X';
}

export function tmpDir(prefix = 'berth-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (tmpDirs.length === 0) process.on('exit', removeTmpDirs);
  tmpDirs.push(d);
  return d;
}

// A directory with anything still mounted below it is left alone: removing it would delete through the
// mount (a bind of host files, a container rootfs). The test that made the mount reports the leak.
function removeTmpDirs(): void {
  let mountPoints: string[] = [];
  try {
    mountPoints = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter(Boolean);
  } catch { return; }
  for (const d of tmpDirs) {
    if (mountPoints.some((m) => m === d || m.startsWith(d + '/'))) continue;
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort at exit */ }
  }
}

/** Run a command, returning stdout/stderr/status (never throws on non-zero). */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, ...opts });
}

export function sh(script: string): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
}

/** A busybox-static rootfs for bundles: /bin/busybox plus applet symlinks, /etc/passwd, /etc/group. */
export function makeBusyboxRootfs(dir: string): string {
  const busybox = '/bin/busybox';
  if (!fs.existsSync(busybox)) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'home']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(busybox, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const p = path.join(dir, 'bin', a);
    if (a !== 'busybox' && !fs.existsSync(p)) fs.symlinkSync('busybox', p);
  }
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nuser:x:1000:\nextra:x:2000:user\n');
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  return dir;
}
