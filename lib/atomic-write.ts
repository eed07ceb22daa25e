// Metadata writes are write-temp + fsync + rename, so a crash leaves the old or the new file, never half.
import fs from 'node:fs';
import path from 'node:path';

interface TempFile { tmp: string; fd: number }

/** The data written to a new temporary file beside `file` (removed again if that fails). */
function writeTemp(file: string, data: string | Uint8Array, mode: number): TempFile {
  // pid + time + random: one process (a planner) may write the same file twice in a millisecond.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
  } catch (e) {
    discard({ tmp, fd });
    throw e;
  }
  return { tmp, fd };
}

function discard(t: TempFile): void {
  fs.closeSync(t.fd);
  fs.rmSync(t.tmp, { force: true });
}

/** Closes the temporary file and renames it over `file`. */
function commit(t: TempFile, file: string): void {
  fs.closeSync(t.fd);
  try {
    fs.renameSync(t.tmp, file);
  } catch (e) {
    fs.rmSync(t.tmp, { force: true });
    throw e;
  }
}

/**
 * `durable: false` skips the fsync: for state that cannot outlive a reboot anyway (a runtime's record of
 * live processes); the rename alone still keeps a crashed writer from leaving half a file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): void {
  const t = writeTemp(file, data, mode);
  if (opts.durable !== false) {
    try { fs.fsyncSync(t.fd); } catch (e) { discard(t); throw e; }
  }
  commit(t, file);
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o644, opts: { durable?: boolean } = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode, opts);
}

/**
 * writeFileAtomic with the fsync on the libuv pool: a busy disk does not stall the event loop. Only
 * the fsync waits for the disk; the open, the write into the page cache and the rename are done here
 * (each hop to the pool and back costs more than they do, and a profile of `berth serve` had the
 * event loop blocked ~0.5-1 ms per synchronous fsync).
 */
export async function writeFileAtomicAsync(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const t = writeTemp(file, data, mode);
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(t.fd, (e) => (e ? reject(e) : resolve())));
  } catch (e) {
    discard(t);
    throw e;
  }
  commit(t, file);
}

export function writeJsonAtomicAsync(file: string, value: unknown, mode = 0o644): Promise<void> {
  return writeFileAtomicAsync(file, JSON.stringify(value, null, 2) + '\n', mode);
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
