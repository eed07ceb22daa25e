// cgroup v1 driver: one dir per mounted controller (and the cgroup2 dir on a hybrid host, which
// only groups processes there, as runc does).
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, invalidArgument, unavailable } from '../../lib/errors.js';
import type { LinuxResources } from '../spec/resources-schema.js';
import { memberDirs } from './cgroup-path.js';
import { signalAll } from './freeze-kill.js';
import { cpusetError, errnoOf, joinCgroup, mkdirTrackedSync, parseFlatKeyed, pidsRecursive, readCgroupFile, readOptional, removeCgroupTree, rmdirIfEmpty, sleep, sleepSync, writeCgroupFile } from './fs-util.js';
import { statsV1 } from './stats.js';
import type { CgroupManager, CgroupStats } from './types.js';
import { v1Writes, type V1Write } from './v1-resources.js';
import { parseDevicesList } from './v1-devices.js';

export class V1Manager implements CgroupManager {
  readonly version = 1 as const;
  private made: string[] = [];

  constructor(private readonly dirs: Record<string, string>) {}

  paths(): Record<string, string> {
    return { ...this.dirs };
  }

  private uniqueDirs(): string[] {
    return [...new Set(Object.values(this.dirs))];
  }

  create(): void {
    for (const d of this.uniqueDirs()) this.made.push(...mkdirTrackedSync(d));
    if (this.dirs.cpuset) this.inheritCpuset(this.dirs.cpuset);
  }

  /** A new v1 cpuset starts with no cpus/mems (no task could join): copy them down from the parents. */
  private inheritCpuset(leaf: string): void {
    const chain: string[] = [];
    for (let d = leaf; !fs.existsSync(path.join(d, 'cgroup.sane_behavior')) && d !== '/'; d = path.dirname(d)) chain.unshift(d);
    for (const d of chain) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readCgroupFile(d, f) === '') writeCgroupFile(d, f, readCgroupFile(path.dirname(d), f));
      }
    }
  }

  async addProcess(pid: number): Promise<void> {
    // In turn: the first write waits for the grace period, the others then find it passed. A process
    // forked by one already inside (berth-init's clone) needs none.
    const inside = memberDirs(pid);
    for (const d of this.uniqueDirs()) if (!inside.has(d)) await joinCgroup(d, pid);
  }

  apply(resources: LinuxResources | undefined): void {
    if (!resources) return;
    const mem = this.dirs.memory;
    const blkio = this.dirs.blkio;
    const writes = v1Writes(resources, {
      hasMemsw: !!mem && fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes')),
      devices: resources.devices && this.dirs.devices ? parseDevicesList(readCgroupFile(this.dirs.devices, 'devices.list')) : undefined,
      blkioWeightFile: !blkio ? undefined
        : fs.existsSync(path.join(blkio, 'blkio.weight')) ? 'blkio.weight'
        : fs.existsSync(path.join(blkio, 'blkio.bfq.weight')) ? 'blkio.bfq.weight' : undefined,
    });
    for (const w of writes) {
      if (!this.dirs[w.controller]) throw failedPrecondition(`cgroup: linux.resources needs the ${w.controller} controller (${w.file}), which is not mounted on this host`);
    }
    const limit = resources.memory?.limit;
    if (resources.memory?.checkBeforeUpdate && mem && limit !== undefined && limit > 0) {
      const usage = Number(readCgroupFile(mem, 'memory.usage_in_bytes'));
      if (usage > limit) throw failedPrecondition(`cgroup: memory.limit ${limit} is below the current usage ${usage}`);
    }
    this.writeAll(writes);
  }

  private writeAll(writes: V1Write[]): void {
    const done = new Set<V1Write>();
    for (const w of writes) {
      if (done.has(w)) continue;
      const dir = this.dirs[w.controller]!;
      try {
        writeCgroupFile(dir, w.file, w.value);
      } catch (e) {
        // memory.limit may not exceed memsw.limit: when raising both, memsw has to go first.
        const memsw = writes.find((x) => x.file === 'memory.memsw.limit_in_bytes');
        if (w.file === 'memory.limit_in_bytes' && memsw && errnoOf(e) === 'EINVAL') {
          writeCgroupFile(dir, memsw.file, memsw.value);
          writeCgroupFile(dir, w.file, w.value);
          done.add(memsw);
          continue;
        }
        const cs = cpusetError(dir, w.file, w.value, e);
        if (cs) throw cs;
        if (w.file === 'cpu.rt_runtime_us' && (errnoOf(e) === 'EINVAL' || errnoOf(e) === 'EBUSY')) {
          throw invalidArgument(`cgroup: cpu.realtimeRuntime ${w.value} does not fit: every ancestor of ${dir} needs that much cpu.rt_runtime_us of its own`, e);
        }
        if (w.file === 'memory.limit_in_bytes' && errnoOf(e) === 'EBUSY') {
          throw failedPrecondition(`cgroup: memory.limit ${w.value} is below what the container already uses`, e);
        }
        throw e;
      }
      if (w.file === 'cpu.shares') {
        const got = readCgroupFile(dir, 'cpu.shares');
        if (got !== w.value) throw invalidArgument(`cgroup: cpu.shares ${w.value} is out of the kernel's range (it set ${got}; valid 2-262144)`);
      }
    }
  }

  private freezerState(): string {
    const f = this.dirs.freezer;
    if (!f) throw failedPrecondition('cgroup: the freezer controller is not mounted on this host');
    return readCgroupFile(f, 'freezer.state');
  }

  async freeze(): Promise<void> {
    const f = this.dirs.freezer;
    if (!f) throw failedPrecondition('cgroup: the freezer controller is not mounted on this host');
    // FREEZING can stall on a task in an uninterruptible sleep; asking again nudges the kernel.
    for (let i = 0; i < 1000; i++) {
      if (i % 25 === 0) writeCgroupFile(f, 'freezer.state', 'FROZEN');
      if (this.freezerState() === 'FROZEN') return;
      await sleep(i < 10 ? 1 : 10);
    }
    this.thaw();
    throw unavailable(`cgroup: ${f} did not freeze within 10 s`);
  }

  thaw(): void {
    const f = this.dirs.freezer;
    if (!f) throw failedPrecondition('cgroup: the freezer controller is not mounted on this host');
    writeCgroupFile(f, 'freezer.state', 'THAWED');
    for (let i = 0; i < 200 && this.freezerState() !== 'THAWED'; i++) sleepSync(5);
  }

  isFrozen(): boolean {
    return !!this.dirs.freezer && fs.existsSync(this.dirs.freezer) && this.freezerState() === 'FROZEN';
  }

  killAll(signal: number): void {
    const f = this.dirs.freezer;
    signalAll(f && fs.existsSync(f) ? {
      isFrozen: () => this.isFrozen(),
      requestFreeze: () => writeCgroupFile(f, 'freezer.state', 'FROZEN'),
      thaw: () => this.thaw(),
      pids: () => this.pids(),
    } : undefined, () => this.pids(), signal);
  }

  pids(): number[] {
    const d = this.dirs.pids ?? this.dirs.freezer ?? this.dirs.memory ?? this.uniqueDirs()[0];
    return d ? pidsRecursive(d) : [];
  }

  stats(): CgroupStats {
    return statsV1(this.dirs);
  }

  oomKillCount(): number {
    const m = this.dirs.memory;
    return m ? parseFlatKeyed(readOptional(m, 'memory.oom_control')).oom_kill ?? 0 : 0;
  }

  async destroy(): Promise<void> {
    let first: unknown;
    const deadline = Date.now() + 2000;
    for (const d of this.uniqueDirs()) {
      try { await removeCgroupTree(d, deadline); } catch (e) { first ??= e; }
    }
    for (const d of [...this.made].reverse()) rmdirIfEmpty(d);
    if (first) throw first instanceof BerthError ? first : unavailable(String(first));
  }
}
