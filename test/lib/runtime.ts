// Helpers for the runtime lifecycle tests: bundles from a busybox rootfs, the real berth-runtime
// binary (built once per test file), and checks that a container left nothing behind.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, makeBusyboxRootfs, tmpDir } from './harness.js';
import { defaultSpec } from '../../runtime/container/spec.js';
import type { Spec } from '../../runtime/spec/config-schema.js';

export const BIN = path.join(REPO, 'bin/berth-runtime');

let built = false;
/** Bundle the CLI (scripts/build.mjs) so tests run exactly what users run. */
export function buildCli(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/build.mjs')], { encoding: 'utf8', cwd: REPO });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed: ${r.stderr}`);
  built = true;
}

let sharedRootfs: string | undefined;
/** One busybox rootfs per test file, shared read-only by its bundles (root.readonly). */
export function busyboxRootfs(): string {
  if (!sharedRootfs) {
    sharedRootfs = makeBusyboxRootfs(tmpDir('berth-rootfs-'));
    fs.chmodSync(sharedRootfs, 0o755); // mkdtemp makes it 0700: non-root container users could not enter /
  }
  return sharedRootfs;
}

/** A bundle running `args` in the shared rootfs, no terminal; `edit` adjusts the spec. */
export function makeBundle(args: string[], edit: (s: Spec) => void = () => {}): string {
  const dir = tmpDir('berth-bundle-');
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = args;
  spec.root = { path: busyboxRootfs(), readonly: true };
  edit(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

export class RuntimeCli {
  readonly root = tmpDir('berth-rtroot-');
  constructor(readonly extra: string[] = []) {
    buildCli();
  }

  run(args: string[], opts: { input?: string; timeout?: number; cwd?: string } = {}): SpawnSyncReturns<string> {
    const argv = ['--root', this.root, ...this.extra, ...args];
    const base = { encoding: 'utf8' as const, timeout: opts.timeout ?? 30_000, input: opts.input, cwd: opts.cwd };
    if (!args.includes('-d') && !args.includes('--detach')) return spawnSync(BIN, argv, base);
    // A detached container inherits our stdio (as with runc): pipes would keep spawnSync waiting for
    // the container's end, so give it files instead.
    const out = path.join(this.root, `.out-${process.pid}`);
    const err = path.join(this.root, `.err-${process.pid}`);
    const fds = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
    try {
      const r = spawnSync(BIN, argv, { ...base, stdio: ['ignore', fds[0], fds[1]] });
      return { ...r, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
      fs.rmSync(out, { force: true });
      fs.rmSync(err, { force: true });
    }
  }

  /** Run and insist on exit 0; returns stdout. */
  ok(args: string[], opts: { input?: string; timeout?: number; cwd?: string } = {}): string {
    const r = this.run(args, opts);
    if (r.status !== 0) throw new Error(`berth-runtime ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}${r.error ? ' ' + r.error.message : ''}`);
    return r.stdout;
  }

  spawn(args: string[]) {
    return spawn(BIN, ['--root', this.root, ...this.extra, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  }

  state(id: string): { status: string; pid?: number; id: string; bundle: string; annotations?: Record<string, string> } {
    return JSON.parse(this.ok(['state', id]));
  }

  /** Best-effort removal for finally blocks. */
  cleanup(...ids: string[]): void {
    for (const id of ids) this.run(['delete', '--force', id]);
  }
}

/** Everything a container could leave behind: its state dir, a cgroup dir, a process. */
export function leftovers(root: string, id: string, pid?: number): string[] {
  const found: string[] = [];
  if (fs.existsSync(path.join(root, id))) found.push(`state dir ${path.join(root, id)}`);
  for (const ctrl of ['memory', 'pids', 'freezer', 'cpu,cpuacct', 'devices', 'unified']) {
    const p = path.join('/sys/fs/cgroup', ctrl, 'berth', id);
    if (fs.existsSync(p)) found.push(`cgroup ${p}`);
  }
  if (pid) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = st.slice(st.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z') found.push(`process ${pid} (${state})`);
    } catch {
      /* gone */
    }
  }
  return found;
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
