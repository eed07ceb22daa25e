// The driver-independent face of a container's cgroup, consumed by runtime/container (lifecycle).
import type { LinuxResources } from '../spec/resources-schema.js';

export type { LinuxResources };

export interface MemoryStats {
  /** Bytes currently charged (v1 memory.usage_in_bytes, v2 memory.current). */
  usage: number;
  /** Limit in bytes; null when unlimited. */
  limit: number | null;
  /** High-water mark (v1 memory.max_usage_in_bytes, v2 memory.peak; 0 when the kernel has no such file). */
  maxUsage: number;
  /** memory+swap usage on v1, swap usage on v2 (0 when not accounted). */
  swapUsage: number;
  /** Processes killed by the OOM killer in this cgroup. */
  oomKills: number;
  /** Times the limit was hit (v1 memory.failcnt, v2 memory.events max). */
  failcnt: number;
  /** memory.stat as numbers (names as the kernel writes them). */
  stat: Record<string, number>;
}

export interface CpuStats {
  usageNs: number;
  userNs: number;
  systemNs: number;
  periods: number;
  throttledPeriods: number;
  throttledNs: number;
}

export interface IoDeviceStats {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  readIos: number;
  writeIos: number;
}

export interface CgroupStats {
  memory: MemoryStats;
  cpu: CpuStats;
  /** limit null = no limit. */
  pids: { current: number; limit: number | null };
  io: IoDeviceStats[];
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** v1: controller -> absolute dir (plus `unified` on a hybrid host); v2: { unified: dir }. */
  paths(): Record<string, string>;
  /** mkdir every dir (idempotent); v1 cpuset gets cpus/mems from its parent. */
  /** In this thread: a few tenths of a ms in all (fs-util.ts mkdirTrackedSync). */
  create(): void;
  /** Move the process (its whole thread group) in; on the threadpool, as the write can wait on the kernel. */
  addProcess(pid: number): Promise<void>;
  /** Apply (or update) limits; undefined applies nothing. */
  apply(resources: LinuxResources | undefined): void;
  freeze(): Promise<void>;
  thaw(): void;
  isFrozen(): boolean;
  /** Signal every process in the cgroup (recursive); v2 SIGKILL uses cgroup.kill when present. */
  killAll(signal: number): void;
  /** Every pid in the cgroup and its descendants. */
  pids(): number[];
  stats(): CgroupStats;
  oomKillCount(): number;
  /** Remove every dir this cgroup consists of (and descendants); waits briefly on EBUSY; idempotent. */
  destroy(): Promise<void>;
}
