// The host's device nodes as runtime-spec devices: what `--privileged` puts in a container's /dev
// (docker and containerd walk /dev the same way: char and block nodes, symlinks and the pty, shm,
// mqueue and fd trees left out, /dev/console left to the runtime's console handling).
import fs from 'node:fs';
import path from 'node:path';

export interface HostDevice { type: 'c' | 'b'; path: string; major: number; minor: number; fileMode: number; uid: number; gid: number }

const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor), as Node's stat returns it.
const major = (rdev: number) => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));

export function hostDevices(dir = '/dev'): HostDevice[] {
  const out: HostDevice[] = [];
  let entries: fs.Dirent[];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...hostDevices(p));
      continue;
    }
    if ((!e.isCharacterDevice() && !e.isBlockDevice()) || p === '/dev/console') continue;
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch { continue; } // gone meanwhile
    out.push({ type: st.isBlockDevice() ? 'b' : 'c', path: p, major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }
  return out;
}
