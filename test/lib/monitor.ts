// Helpers for the berth-monitor / shim tests: busybox bundles for any runc-compatible runtime,
// the runtimes to run against, and the cleanup that leaves no container, cgroup or dir behind.
import fs from 'node:fs';
import path from 'node:path';
import { REPO, alive, makeBusyboxRootfs, run, tmpDir } from './harness.js';

export const MONITOR_BIN = path.join(REPO, 'native/build/berth-monitor');

export interface TestRuntime { name: string; path: string; usable: boolean; reason?: string }

/** runc always; bin/berth-runtime once it is built and answers --help. */
export function testRuntimes(): TestRuntime[] {
  const out: TestRuntime[] = [];
  const runc = run('/bin/sh', ['-c', 'command -v runc']).stdout.trim();
  out.push(runc ? { name: 'runc', path: runc, usable: true } : { name: 'runc', path: '', usable: false, reason: 'runc is not installed' });
  const berth = path.join(REPO, 'bin/berth-runtime');
  const probe = run(berth, ['--help'], { timeout: 20000 });
  if (!fs.existsSync(path.join(REPO, 'dist/berth-runtime.cjs'))) out.push({ name: 'berth-runtime', path: berth, usable: false, reason: 'dist/berth-runtime.cjs is not built (node scripts/build.mjs)' });
  else if (probe.status !== 0) out.push({ name: 'berth-runtime', path: berth, usable: false, reason: `bin/berth-runtime --help fails: ${(probe.stderr || probe.stdout).trim().split('\n')[0]}` });
  else {
    // --help is not enough: the runtime must run a trivial container before the monitor is tested on it.
    const why = smokeRun(berth);
    out.push(why ? { name: 'berth-runtime', path: berth, usable: false, reason: `bin/berth-runtime cannot run a busybox container yet: ${why}` } : { name: 'berth-runtime', path: berth, usable: true });
  }
  return out;
}

function smokeRun(runtime: string): string | undefined {
  const b = makeBundle(['true'], { prefix: 'berth-mon-smoke-' });
  try {
    const r = run(runtime, ['--root', b.runtimeRoot, 'run', '--bundle', b.bundle, b.id], { timeout: 30000 });
    if (r.status === 0) return undefined;
    return (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').pop();
  } finally {
    run(runtime, ['--root', b.runtimeRoot, 'delete', '--force', b.id]);
    fs.rmSync(b.dir, { recursive: true, force: true });
    removeTestCgroupParents();
  }
}

export interface Bundle { dir: string; bundle: string; monitorDir: string; runtimeRoot: string; id: string }

let counter = 0;

/** A fresh bundle (busybox rootfs + `runc spec` adjusted) and a monitor dir, in one temp dir. */
export function makeBundle(args: string[], opts: { tty?: boolean; prefix?: string } = {}): Bundle {
  const dir = tmpDir(opts.prefix ?? 'berth-mon-');
  const bundle = path.join(dir, 'bundle');
  fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  makeBusyboxRootfs(path.join(bundle, 'rootfs'));
  const spec = run('runc', ['spec', '--bundle', bundle]);
  if (spec.status !== 0) throw new Error(`runc spec: ${spec.stderr}`);
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  const id = `bmon-${process.pid}-${++counter}`;
  cfg.process.terminal = opts.tty ?? false;
  cfg.process.args = args;
  cfg.root.readonly = false;
  cfg.hostname = 'bmon';
  // berth-owned cgroup parent: never below the shell's own cgroup.
  cfg.linux.cgroupsPath = `/berth/test/${id}`;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg, null, 1));
  const monitorDir = path.join(dir, 'mon');
  fs.mkdirSync(monitorDir);
  const runtimeRoot = path.join(dir, 'rt');
  fs.mkdirSync(runtimeRoot);
  return { dir, bundle, monitorDir, runtimeRoot, id };
}

/** Remove the container (if any) and the temp dir; wait for its monitor to go. */
export async function cleanupBundle(b: Bundle, runtime: string): Promise<void> {
  run(runtime, ['--root', b.runtimeRoot, 'delete', '--force', b.id]);
  const mp = Number.parseInt(readOr(path.join(b.monitorDir, 'monitor.pid'), '0'), 10);
  for (let i = 0; mp > 0 && i < 100 && alive(mp); i++) await sleep(20);
  fs.rmSync(b.dir, { recursive: true, force: true });
  removeTestCgroupParents();
}

/** The runtime leaves the /berth/test parent it created for our leaves: drop it once empty. */
export function removeTestCgroupParents(): void {
  let ctrls: string[] = [];
  try { ctrls = fs.readdirSync('/sys/fs/cgroup'); } catch { return; }
  for (const c of ctrls) {
    try { fs.rmdirSync(path.join('/sys/fs/cgroup', c, 'berth/test')); } catch { /* absent, or still in use by another test */ }
  }
}

export { alive };

export function zombiesOf(ppid: number): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z' && Number(rest[1]) === ppid) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

export function vmRssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function readOr(f: string, d: string): string {
  try { return fs.readFileSync(f, 'utf8'); } catch { return d; }
}

/** Bytes from a stream until `pred` holds for the text so far. */
export function readUntil(s: NodeJS.ReadableStream, pred: (text: string) => boolean, timeoutMs = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => { s.removeListener('data', on); reject(new Error(`timed out; got ${JSON.stringify(text)}`)); }, timeoutMs);
    const on = (d: Buffer | string) => {
      text += d.toString();
      if (pred(text)) { clearTimeout(t); s.removeListener('data', on); resolve(text); }
    };
    s.on('data', on);
  });
}
