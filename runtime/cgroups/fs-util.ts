// Small, strict helpers for cgroupfs files: one write per value, errors that name file and value.
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, fromErrno, failedPrecondition, notFound } from '../../lib/errors.js';

export function readCgroupFile(dir: string, file: string): string {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch (e) {
    throw fromErrno(e, `cgroup: reading ${path.join(dir, file)}`);
  }
}

/** Read a file that may legitimately be absent (controller not mounted/enabled): undefined then. */
export function readOptional(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'EOPNOTSUPP') return undefined;
    throw fromErrno(e, `cgroup: reading ${path.join(dir, file)}`);
  }
}

export function readNumber(dir: string, file: string): number {
  const v = readOptional(dir, file);
  if (v === undefined || v === '' || v === 'max') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Write one value with a single write(2), as cgroupfs expects. A missing file means the controller
 * is not there: that is a precondition failure the user can act on, not an internal error.
 */
export function writeCgroupFile(dir: string, file: string, value: string): void {
  const p = path.join(dir, file);
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  } catch (e) {
    throw openError(e, dir, file);
  }
  try {
    fs.writeSync(fd, value);
  } catch (e) {
    throw fromErrno(e, `cgroup: writing ${JSON.stringify(value)} to ${p}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * writeCgroupFile on the libuv threadpool: for the writes that can block in the kernel (the first
 * cgroup.procs write after a quiet spell waits for an RCU grace period, 5-25 ms here on v1), so the
 * event loop keeps serving other calls meanwhile.
 */
export async function writeCgroupFileAsync(dir: string, file: string, value: string): Promise<void> {
  const p = path.join(dir, file);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(p, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  } catch (e) {
    throw openError(e, dir, file);
  }
  try {
    await fh.write(value);
  } catch (e) {
    throw fromErrno(e, `cgroup: writing ${JSON.stringify(value)} to ${p}`);
  } finally {
    await fh.close();
  }
}

function openError(e: unknown, dir: string, file: string): BerthError {
  const p = path.join(dir, file);
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
    if (!fs.existsSync(dir)) return notFound(`cgroup: ${dir} does not exist (not created yet, or already removed)`, e);
    return failedPrecondition(`cgroup: ${p} does not exist (is the ${file.split('.')[0]} controller available for this cgroup?)`, e);
  }
  return fromErrno(e, `cgroup: opening ${p}`);
}

/** Join `pid` to the cgroup `dir` (its whole thread group), on the threadpool. */
export async function joinCgroup(dir: string, pid: number): Promise<void> {
  try {
    await writeCgroupFileAsync(dir, 'cgroup.procs', String(pid));
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') throw notFound(`cgroup: process ${pid} does not exist`, e);
    throw e;
  }
}

/** The errno name (EINVAL, EBUSY...) behind an error thrown by writeCgroupFile. */
export function errnoOf(e: unknown): string | undefined {
  return (e as { cause?: { code?: string } })?.cause?.code;
}

/** Parse `key value` lines (memory.stat, cpu.stat, memory.events, cgroup.events...). */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Every pid in dir's cgroup.procs and those of its descendants. */
export function pidsRecursive(dir: string): number[] {
  const out = new Set<number>();
  const walk = (d: string) => {
    let text: string;
    try {
      text = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fromErrno(e, `cgroup: reading ${d}/cgroup.procs`);
    }
    for (const l of text.split('\n')) if (l) out.add(Number(l));
    for (const ent of readdirSafe(d)) if (ent.isDirectory()) walk(path.join(d, ent.name));
  };
  walk(dir);
  return [...out];
}

function readdirSafe(d: string): fs.Dirent[] {
  try {
    return fs.readdirSync(d, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromErrno(e, `cgroup: listing ${d}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block the thread briefly: for the few synchronous waits the API needs (killAll on v1). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * rmdir a cgroup dir and its descendants, deepest first. Exited tasks leave a cgroup a moment after
 * they die, so EBUSY is retried until `deadline` (ms since the epoch; one deadline for all of a
 * container's dirs). Missing dirs are fine (idempotent).
 */
export async function removeCgroupTree(dir: string, deadline = Date.now() + 2000): Promise<void> {
  for (const ent of readdirSafe(dir)) {
    if (ent.isDirectory()) await removeCgroupTree(path.join(dir, ent.name), deadline);
  }
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) {
        const left = code === 'EBUSY' ? pidsRecursive(dir) : [];
        const why = left.length ? ` (still holds pids ${left.slice(0, 10).join(' ')})` : '';
        throw new BerthError(code === 'EBUSY' ? 'FAILED_PRECONDITION' : fromErrno(e, '').code, `cgroup: removing ${dir}: ${code}${why}`, { cause: e });
      }
      await sleep(delay);
    }
  }
}

/** Remove an ancestor we created, only if nothing else lives there now. */
export function rmdirIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // In use by another container or already gone: either way it is not ours to force.
  }
}

/**
 * mkdir -p that reports which dirs it made (top-down), so destroy() can remove exactly those. In this
 * thread: the kernel serialises cgroup mkdirs anyway (cgroup_mutex), ~0.05 ms each here, where spread
 * over the libuv pool a dozen of them took 4-18 ms and held up a daemon's other file operations. The
 * leaf is tried first: its parent usually exists, and then that is the only call.
 */
export function mkdirTrackedSync(dir: string): string[] {
  // Another container's destroy may remove a shared parent between our calls: retry a few times.
  for (let attempt = 0; ; attempt++) {
    try {
      fs.mkdirSync(dir);
      return [dir];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return [];
      const up = path.dirname(dir);
      if (code !== 'ENOENT' || up === dir || attempt >= 3) throw fromErrno(e, `cgroup: creating ${dir}`);
      const made = mkdirTrackedSync(up);
      try {
        fs.mkdirSync(dir);
        return [...made, dir];
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return made;
        if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') throw fromErrno(e2, `cgroup: creating ${dir}`);
      }
    }
  }
}

/** A clearer error for cpuset values the kernel refuses: name what the parent actually offers. */
export function cpusetError(dir: string, file: string, value: string, e: unknown): BerthError | undefined {
  if (!/^cpuset\.(cpus|mems)$/.test(file)) return undefined;
  const code = errnoOf(e);
  if (code !== 'EINVAL' && code !== 'ERANGE') return undefined;
  const kind = file.endsWith('cpus') ? 'cpus' : 'mems';
  const parent = path.dirname(dir);
  const offered = readOptional(parent, `cpuset.effective_${kind}`) ?? readOptional(parent, `cpuset.${kind}.effective`) ?? '?';
  return new BerthError('INVALID_ARGUMENT', `cgroup: cpu.${kind} ${JSON.stringify(value)} is not within the ${kind} available to ${parent} (${offered})`, { cause: e });
}
