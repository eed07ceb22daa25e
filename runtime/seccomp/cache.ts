// Compiled seccomp programs, remembered: compiling Docker's default profile is ~1000 libseccomp calls
// through FFI (~20 ms), paid by every create and exec, for a profile that rarely changes. The program
// depends only on the profile, the architecture, the libseccomp build and this compiler, so those
// make the key. Kept in memory (an engine's planner) and as seccomp-cache.<key>.json files in the
// runtime's state root (a CLI's one-shot create; files, so never taken for a container's directory);
// a file that does not check out is ignored and rewritten.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LinuxSeccomp } from '../spec/seccomp-schema.js';
import { compileSeccomp, type CompiledSeccomp } from './compile.js';
import { enosysStub } from './enosys-stub.js';

/** Bump when compile.ts or enosys-stub.ts change what they emit in a way their exported functions' text does not show. */
const FORMAT = 1;
const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib'];
const memo = new Map<string, CompiledSeccomp>();
let compilerId: string | null | undefined;

/** The libseccomp the FFI will open and this compiler's code; null when libseccomp is not where we look. */
function compilerIdentity(): string | null {
  if (compilerId !== undefined) return compilerId;
  compilerId = null;
  for (const d of LIB_DIRS) {
    try {
      const real = fs.realpathSync(path.join(d, 'libseccomp.so.2'));
      const st = fs.statSync(real);
      compilerId = JSON.stringify([FORMAT, process.arch, real, st.size, st.mtimeMs, st.ino, compileSeccomp.toString(), enosysStub.toString()]);
      break;
    } catch { /* not in this directory */ }
  }
  return compilerId;
}

const sha256 = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

/** compileSeccomp, from the cache when this profile was compiled before under `cacheDir` (or in this process). */
export function compileSeccompCached(seccomp: LinuxSeccomp, cacheDir?: string): CompiledSeccomp {
  const id = compilerIdentity();
  if (id === null) return compileSeccomp(seccomp);
  const key = sha256(`${id}\n${JSON.stringify(seccomp)}`);
  const file = cacheDir ? path.join(cacheDir, `seccomp-cache.${key}.json`) : undefined;
  const memoKey = file ?? key;
  const hit = memo.get(memoKey);
  if (hit) return hit;
  const fromFile = file ? readEntry(file) : undefined;
  if (fromFile) {
    memo.set(memoKey, fromFile);
    return fromFile;
  }
  const c = compileSeccomp(seccomp);
  memo.set(memoKey, c);
  if (file) writeEntry(file, c);
  return c;
}

function readEntry(file: string): CompiledSeccomp | undefined {
  try {
    const e = JSON.parse(fs.readFileSync(file, 'utf8')) as { filter: string; sha256: string; flags: number; skipped: string[] };
    const filter = Buffer.from(e.filter, 'base64');
    // a torn or damaged file (no fsync: it is a cache) must not become a container's filter
    if (filter.length === 0 || filter.length % 8 !== 0 || sha256(filter) !== e.sha256) return undefined;
    if (typeof e.flags !== 'number' || !Array.isArray(e.skipped)) return undefined;
    return { filter, flags: e.flags, skipped: e.skipped };
  } catch {
    return undefined;
  }
}

/** More distinct profiles than this (custom ones, say) and the cache starts over: it stays small. */
const MAX_ENTRIES = 32;

function writeEntry(file: string, c: CompiledSeccomp): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const entries = fs.readdirSync(dir).filter((n) => n.startsWith('seccomp-cache.'));
    if (entries.length >= MAX_ENTRIES) for (const n of entries) fs.rmSync(path.join(dir, n), { force: true });
    fs.writeFileSync(tmp, JSON.stringify({ filter: c.filter.toString('base64'), sha256: sha256(c.filter), flags: c.flags, skipped: c.skipped }), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
    // a read-only or full state dir: the next create compiles again
  }
}
