// GET /containers/{id}/stats: cgroup counters in Docker's stats shape (cpu_stats with the host's
// system_cpu_usage so the CLI can compute a percentage, memory_stats, pids_stats).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function readNum(f: string): number | undefined {
  try {
    const t = fs.readFileSync(f, 'utf8').trim();
    if (t === 'max') return undefined;
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  } catch { return undefined; }
}

function readKv(f: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
      const [k, v] = l.split(' ');
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch { /* not there */ }
  return out;
}

/** Host CPU time in nanoseconds (/proc/stat, USER_HZ = 100), as dockerd reports system_cpu_usage. */
function systemCpuNs(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const ticks = line.trim().split(/\s+/).slice(1, 8).reduce((a, x) => a + Number(x), 0);
  return ticks * 1e7;
}

export interface CgroupPaths { [controller: string]: string }

export function cgroupPathsOf(runtimeRoot: string, id: string): CgroupPaths {
  try {
    const st = JSON.parse(fs.readFileSync(path.join(runtimeRoot, id, 'state.json'), 'utf8')) as { cgroupPaths?: CgroupPaths };
    return st.cgroupPaths ?? {};
  } catch { return {}; }
}

export function sample(p: CgroupPaths) {
  const unified = p.unified ?? p[''];
  let cpuNs = 0, userNs = 0, sysNs = 0, mem = 0, memLimit = os.totalmem(), pids = 0, pidsLimit = 0;
  let memStats: Record<string, number> = {};
  if (p.cpuacct || p.cpu) {
    const d = p.cpuacct ?? p.cpu;
    cpuNs = readNum(path.join(d, 'cpuacct.usage')) ?? 0;
    const s = readKv(path.join(d, 'cpuacct.stat'));
    userNs = (s.user ?? 0) * 1e7; sysNs = (s.system ?? 0) * 1e7;
  } else if (unified) {
    const s = readKv(path.join(unified, 'cpu.stat'));
    cpuNs = (s.usage_usec ?? 0) * 1000; userNs = (s.user_usec ?? 0) * 1000; sysNs = (s.system_usec ?? 0) * 1000;
  }
  if (p.memory) {
    mem = readNum(path.join(p.memory, 'memory.usage_in_bytes')) ?? 0;
    const l = readNum(path.join(p.memory, 'memory.limit_in_bytes'));
    if (l && l < memLimit) memLimit = l;
    memStats = readKv(path.join(p.memory, 'memory.stat'));
  } else if (unified) {
    mem = readNum(path.join(unified, 'memory.current')) ?? 0;
    const l = readNum(path.join(unified, 'memory.max'));
    if (l && l < memLimit) memLimit = l;
    memStats = readKv(path.join(unified, 'memory.stat'));
  }
  const pd = p.pids ?? unified;
  if (pd) { pids = readNum(path.join(pd, 'pids.current')) ?? 0; pidsLimit = readNum(path.join(pd, 'pids.max')) ?? 0; }
  return {
    cpu_stats: {
      cpu_usage: { total_usage: cpuNs, usage_in_usermode: userNs, usage_in_kernelmode: sysNs },
      system_cpu_usage: systemCpuNs(), online_cpus: os.cpus().length, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    memory_stats: { usage: mem, limit: memLimit, stats: memStats },
    pids_stats: { current: pids, ...(pidsLimit ? { limit: pidsLimit } : {}) },
  };
}

const EMPTY_CPU = { cpu_usage: { total_usage: 0, usage_in_usermode: 0, usage_in_kernelmode: 0 }, system_cpu_usage: 0, online_cpus: 0, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };

export function statsDoc(id: string, name: string, cur: ReturnType<typeof sample>, prev: ReturnType<typeof sample> | undefined, read: Date, preread: Date | undefined) {
  return {
    read: read.toISOString(),
    preread: preread ? preread.toISOString() : '0001-01-01T00:00:00Z',
    id, name: `/${name}`,
    num_procs: 0,
    pids_stats: cur.pids_stats,
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
    storage_stats: {},
    cpu_stats: cur.cpu_stats,
    precpu_stats: prev?.cpu_stats ?? EMPTY_CPU,
    memory_stats: cur.memory_stats,
    networks: {},
  };
}
