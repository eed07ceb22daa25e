// CPU and memory usage of one cgroupfs path, read from whichever hierarchy the host has
// (cgroup v1 controllers, or cgroup2 at the root or at /sys/fs/cgroup/unified).
import fs from 'node:fs';
import path from 'node:path';

const BASE = '/sys/fs/cgroup';

function readNum(f: string): number | undefined {
  try { const n = Number(fs.readFileSync(f, 'utf8').trim()); return Number.isFinite(n) ? n : undefined; } catch { return undefined; }
}

function readKeyed(f: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
      const [k, v] = l.split(' ');
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch { /* absent */ }
  return out;
}

export interface CgroupUsage { cpuNs?: number; memoryUsage?: number; workingSet?: number; rss?: number; pageFaults?: number; majorPageFaults?: number; pids?: number }

export function cgroupUsage(cgroupsPath: string): CgroupUsage {
  const rel = cgroupsPath.replace(/^\/+/, '');
  if (fs.existsSync(path.join(BASE, 'memory'))) {
    const mem = path.join(BASE, 'memory', rel);
    const stat = readKeyed(path.join(mem, 'memory.stat'));
    const usage = readNum(path.join(mem, 'memory.usage_in_bytes'));
    const inactive = stat.total_inactive_file ?? stat.inactive_file ?? 0;
    const cpuDir = ['cpuacct', 'cpu,cpuacct'].map((c) => path.join(BASE, c, rel)).find((d) => fs.existsSync(d));
    return {
      cpuNs: cpuDir ? readNum(path.join(cpuDir, 'cpuacct.usage')) : undefined,
      memoryUsage: usage, workingSet: usage !== undefined ? Math.max(0, usage - inactive) : undefined,
      rss: stat.total_rss ?? stat.rss, pageFaults: stat.total_pgfault ?? stat.pgfault, majorPageFaults: stat.total_pgmajfault ?? stat.pgmajfault,
      pids: readNum(path.join(BASE, 'pids', rel, 'pids.current')),
    };
  }
  const root = fs.existsSync(path.join(BASE, 'cgroup.controllers')) ? BASE : path.join(BASE, 'unified');
  const dir = path.join(root, rel);
  const usage = readNum(path.join(dir, 'memory.current'));
  const stat = readKeyed(path.join(dir, 'memory.stat'));
  const cpu = readKeyed(path.join(dir, 'cpu.stat'));
  return {
    cpuNs: cpu.usage_usec !== undefined ? cpu.usage_usec * 1000 : undefined,
    memoryUsage: usage, workingSet: usage !== undefined ? Math.max(0, usage - (stat.inactive_file ?? 0)) : undefined,
    rss: stat.anon, pageFaults: stat.pgfault, majorPageFaults: stat.pgmajfault, pids: readNum(path.join(dir, 'pids.current')),
  };
}
