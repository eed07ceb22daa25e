// Disk usage of one snapshot directory: bytes of distinct inodes (hardlinks counted once), like du.
import fs from 'node:fs/promises';
import path from 'node:path';

export async function diskUsage(dir: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<string>();
  let size = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let st;
    try { st = await fs.lstat(d); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; throw e; }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    size += st.isDirectory() ? 0 : st.size;
    if (st.isDirectory()) for (const n of await fs.readdir(d)) stack.push(path.join(d, n));
  }
  return { size, inodes: seen.size };
}
