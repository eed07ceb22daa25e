// Read a cgroup's usage counters into one driver-independent shape (CgroupStats).
import { parseFlatKeyed, readNumber, readOptional } from './fs-util.js';
import type { CgroupStats, IoDeviceStats } from './types.js';

// cpuacct.stat counts USER_HZ ticks, which is 100 on Linux for every architecture berth runs on.
const NS_PER_TICK = 1e9 / 100;
// v1 reports "no limit" as the largest page-aligned long.
const V1_UNLIMITED = 2 ** 62;

function limitOf(text: string | undefined): number | null {
  if (text === undefined || text === '' || text === 'max') return null;
  const n = Number(text);
  return Number.isFinite(n) && n < V1_UNLIMITED ? n : null;
}

export function parseIoStatV2(text: string | undefined): IoDeviceStats[] {
  const out: IoDeviceStats[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const mm = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!mm) continue;
    const kv: Record<string, number> = {};
    for (const p of kvs) { const [k, v] = p.split('='); if (k && v) kv[k] = Number(v); }
    out.push({ major: Number(mm[1]), minor: Number(mm[2]), readBytes: kv.rbytes ?? 0, writeBytes: kv.wbytes ?? 0, readIos: kv.rios ?? 0, writeIos: kv.wios ?? 0 });
  }
  return out;
}

/** blkio.throttle.io_service_bytes(_recursive) + io_serviced: "8:0 Read 123" lines. */
export function parseBlkioV1(bytes: string | undefined, ios: string | undefined): IoDeviceStats[] {
  const map = new Map<string, IoDeviceStats>();
  const feed = (text: string | undefined, field: 'Bytes' | 'Ios') => {
    for (const line of (text ?? '').split('\n')) {
      const [dev, op, val] = line.trim().split(/\s+/);
      const mm = /^(\d+):(\d+)$/.exec(dev ?? '');
      if (!mm || (op !== 'Read' && op !== 'Write')) continue;
      let e = map.get(dev!);
      if (!e) { e = { major: Number(mm[1]), minor: Number(mm[2]), readBytes: 0, writeBytes: 0, readIos: 0, writeIos: 0 }; map.set(dev!, e); }
      e[`${op === 'Read' ? 'read' : 'write'}${field}`] += Number(val);
    }
  };
  feed(bytes, 'Bytes');
  feed(ios, 'Ios');
  return [...map.values()];
}

export function statsV2(dir: string): CgroupStats {
  const cpu = parseFlatKeyed(readOptional(dir, 'cpu.stat'));
  const events = parseFlatKeyed(readOptional(dir, 'memory.events'));
  return {
    memory: {
      usage: readNumber(dir, 'memory.current'),
      limit: limitOf(readOptional(dir, 'memory.max')),
      maxUsage: readNumber(dir, 'memory.peak'),
      swapUsage: readNumber(dir, 'memory.swap.current'),
      oomKills: events.oom_kill ?? 0,
      failcnt: events.max ?? 0,
      stat: parseFlatKeyed(readOptional(dir, 'memory.stat')),
    },
    cpu: {
      usageNs: (cpu.usage_usec ?? 0) * 1000,
      userNs: (cpu.user_usec ?? 0) * 1000,
      systemNs: (cpu.system_usec ?? 0) * 1000,
      periods: cpu.nr_periods ?? 0,
      throttledPeriods: cpu.nr_throttled ?? 0,
      throttledNs: (cpu.throttled_usec ?? 0) * 1000,
    },
    pids: { current: readNumber(dir, 'pids.current'), limit: limitOf(readOptional(dir, 'pids.max')) },
    io: parseIoStatV2(readOptional(dir, 'io.stat')),
  };
}

/** v1: each controller has its own dir; absent controllers give zeros. */
export function statsV1(paths: Record<string, string>): CgroupStats {
  const mem = paths.memory, cpuDir = paths.cpu, acct = paths.cpuacct, pids = paths.pids, blkio = paths.blkio;
  const cpu = cpuDir ? parseFlatKeyed(readOptional(cpuDir, 'cpu.stat')) : {};
  const acctStat = acct ? parseFlatKeyed(readOptional(acct, 'cpuacct.stat')) : {};
  const oom = mem ? parseFlatKeyed(readOptional(mem, 'memory.oom_control')) : {};
  return {
    memory: {
      usage: mem ? readNumber(mem, 'memory.usage_in_bytes') : 0,
      limit: mem ? limitOf(readOptional(mem, 'memory.limit_in_bytes')) : null,
      maxUsage: mem ? readNumber(mem, 'memory.max_usage_in_bytes') : 0,
      swapUsage: mem ? readNumber(mem, 'memory.memsw.usage_in_bytes') : 0,
      oomKills: oom.oom_kill ?? 0,
      // With memsw == limit the memsw counter is the one that trips first.
      failcnt: mem ? Math.max(readNumber(mem, 'memory.failcnt'), readNumber(mem, 'memory.memsw.failcnt')) : 0,
      stat: mem ? parseFlatKeyed(readOptional(mem, 'memory.stat')) : {},
    },
    cpu: {
      usageNs: acct ? readNumber(acct, 'cpuacct.usage') : 0,
      userNs: (acctStat.user ?? 0) * NS_PER_TICK,
      systemNs: (acctStat.system ?? 0) * NS_PER_TICK,
      periods: cpu.nr_periods ?? 0,
      throttledPeriods: cpu.nr_throttled ?? 0,
      throttledNs: cpu.throttled_time ?? 0,
    },
    pids: { current: pids ? readNumber(pids, 'pids.current') : 0, limit: pids ? limitOf(readOptional(pids, 'pids.max')) : null },
    io: blkio ? parseBlkioV1(readOptional(blkio, 'blkio.throttle.io_service_bytes_recursive'), readOptional(blkio, 'blkio.throttle.io_serviced_recursive')) : [],
  };
}
