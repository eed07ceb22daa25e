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
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!fs.existsSync(dir)) throw notFound(`cgroup: ${dir} does not exist (not created yet, or already removed)`, e);
      throw failedPrecondition(`cgroup: ${p} does not exist (is the ${file.split('.')[0]} controller available for this cgroup?)`, e);
    }
    throw fromErrno(e, `cgroup: opening ${p}`);
  }
  try {
    fs.writeSync(fd, value);
  } catch (e) {
    throw fromErrno(e, `cgroup: writing ${JSON.stringify(value)} to ${p}`);
  } finally {
    fs.closeSync(fd);
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

/** mkdir -p that reports which dirs it made (top-down), so destroy() can remove exactly those. */
export function mkdirTracked(dir: string): string[] {
  const made: string[] = [];
  const missing: string[] = [];
  let d = dir;
  while (!fs.existsSync(d)) {
    missing.unshift(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const m of missing) {
    // Another container's destroy may remove a shared parent between our checks: retry once.
    for (let attempt = 0; ; attempt++) {
      try {
        fs.mkdirSync(m);
        made.push(m);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') break;
        if (code === 'ENOENT' && attempt < 3) { fs.mkdirSync(path.dirname(m), { recursive: true }); continue; }
        throw fromErrno(e, `cgroup: creating ${m}`);
      }
    }
  }
  return made;
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
