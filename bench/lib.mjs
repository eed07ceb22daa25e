// Helpers shared by the benchmarks: busybox bundles, timing, medians, peak RSS of a child.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function makeBundle(args = ['/bin/true']) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d));
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true', 'echo', 'sleep', 'cat']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  execFileSync('runc', ['spec', '--bundle', dir]);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.process.terminal = false;
  cfg.process.args = args;
  cfg.root.readonly = false;
  // same cgroup parent for every runtime, outside the caller's own cgroup
  cfg.linux.cgroupsPath = '/berth-bench/c';
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  return dir;
}

/** Wall-clock ms of running a command, plus the child's peak RSS in KiB (getrusage of children). */
export function timeRun(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

export function peakRssKiB(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const lines = r.stderr.trim().split('\n');
  return Number(lines[lines.length - 1]);
}

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// ---- per-process memory and process tree, from /proc (the CRI bench) -------------------------

/** Resident set of a live process in KiB (VmRSS); undefined once it is gone. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}

/** Proportional set in KiB: shared pages (one static binary's text, mapped by every monitor) counted once overall. */
export function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}

/** Parent pid and command name (comm) of a live process. */
export function procInfo(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = stat.lastIndexOf(')'); // comm may hold spaces and parentheses
  return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(stat.slice(close + 2).split(' ')[1]) };
}

/** Unmounts everything mounted at or below `dir`, deepest first (what daemons under a temp root leave). */
export function unmountUnder(dir) {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((p) => p && (p === dir || p.startsWith(dir + '/')));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
}

/** berth-init's cgroup join (ms): the `join=` of each `berth-timing: runtime.create` line (BERTH_TIMING=1) in a server's log. */
export function initJoinTimes(log) {
  return [...log.matchAll(/^berth-timing: runtime\.create .*$/gm)].map((m) => Number(/\bjoin=([\d.]+)/.exec(m[0])?.[1])).filter((x) => x >= 0);
}
