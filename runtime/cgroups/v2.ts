// cgroup v2 driver: one dir in the unified hierarchy; limits through controller files, devices
// through an attached BPF program, freezing via cgroup.freeze, SIGKILL via cgroup.kill.
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, failedPrecondition, unavailable } from '../../lib/errors.js';
import type { LinuxResources } from '../spec/resources-schema.js';
import { setDeviceFilter } from './bpf-device.js';
import { memberDirs } from './cgroup-path.js';
import { signalAll } from './freeze-kill.js';
import { cpusetError, joinCgroup, mkdirTrackedSync, parseFlatKeyed, pidsRecursive, readCgroupFile, readOptional, removeCgroupTree, rmdirIfEmpty, sleep, writeCgroupFile } from './fs-util.js';
import { statsV2 } from './stats.js';
import type { CgroupManager, CgroupStats } from './types.js';
import { v2Writes } from './v2-resources.js';

export class V2Manager implements CgroupManager {
  readonly version = 2 as const;
  private made: string[] = [];

  /** `hierarchyRoot`: the dir below which berth may enable controllers (the mount point or a test root). */
  constructor(private readonly dir: string, private readonly hierarchyRoot: string) {}

  paths(): Record<string, string> {
    return { unified: this.dir };
  }

  create(): void {
    this.made.push(...mkdirTrackedSync(this.dir));
    this.enableControllers();
  }

  /**
   * A controller's files appear in a cgroup only when its parent lists it in cgroup.subtree_control,
   * so enable every available controller in each ancestor below the hierarchy root. The root itself
   * is left alone: it belongs to the host (systemd or the init that mounted it).
   */
  private enableControllers(): void {
    const rel = path.relative(this.hierarchyRoot, path.dirname(this.dir));
    if (rel.startsWith('..')) return;
    let d = this.hierarchyRoot;
    for (const part of rel ? rel.split('/') : []) {
      d = path.join(d, part);
      const available = (readOptional(d, 'cgroup.controllers') ?? '').split(/\s+/).filter(Boolean);
      const enabled = new Set((readOptional(d, 'cgroup.subtree_control') ?? '').split(/\s+/).filter(Boolean));
      for (const c of available) {
        if (enabled.has(c)) continue;
        try {
          writeCgroupFile(d, 'cgroup.subtree_control', `+${c}`);
        } catch {
          // e.g. EBUSY when the ancestor holds processes itself: apply() reports the missing files.
        }
      }
    }
  }

  async addProcess(pid: number): Promise<void> {
    if (!memberDirs(pid).has(this.dir)) await joinCgroup(this.dir, pid);
  }

  apply(resources: LinuxResources | undefined): void {
    if (!resources) return;
    const writes = v2Writes(resources, { hasBfq: fs.existsSync(path.join(this.dir, 'io.bfq.weight')) });
    const limit = resources.memory?.limit;
    if (resources.memory?.checkBeforeUpdate && limit !== undefined && limit > 0) {
      const usage = Number(readOptional(this.dir, 'memory.current') ?? 0);
      if (usage > limit) throw failedPrecondition(`cgroup: memory.limit ${limit} is below the current usage ${usage}`);
    }
    for (const w of writes) {
      try {
        writeCgroupFile(this.dir, w.file, w.value);
      } catch (e) {
        const cs = cpusetError(this.dir, w.file, w.value, e);
        if (cs) throw cs;
        if (e instanceof BerthError && e.code === 'FAILED_PRECONDITION') {
          const ctrl = w.file.split('.')[0];
          throw failedPrecondition(`cgroup: cannot set ${w.file}: the ${ctrl} controller is not enabled for ${this.dir} (parent's cgroup.subtree_control)`, e);
        }
        throw e;
      }
    }
    if (resources.devices) setDeviceFilter(this.dir, resources.devices);
  }

  private frozenNow(): boolean {
    return parseFlatKeyed(readOptional(this.dir, 'cgroup.events')).frozen === 1;
  }

  async freeze(): Promise<void> {
    writeCgroupFile(this.dir, 'cgroup.freeze', '1');
    for (let i = 0; i < 1000; i++) {
      if (this.frozenNow()) return;
      await sleep(i < 10 ? 1 : 10);
    }
    this.thaw();
    throw unavailable(`cgroup: ${this.dir} did not freeze within 10 s`);
  }

  thaw(): void {
    writeCgroupFile(this.dir, 'cgroup.freeze', '0');
  }

  isFrozen(): boolean {
    return fs.existsSync(this.dir) && this.frozenNow();
  }

  killAll(signal: number): void {
    if (signal === 9 && fs.existsSync(path.join(this.dir, 'cgroup.kill'))) {
      writeCgroupFile(this.dir, 'cgroup.kill', '1');
      return;
    }
    signalAll({
      isFrozen: () => this.isFrozen(),
      requestFreeze: () => writeCgroupFile(this.dir, 'cgroup.freeze', '1'),
      thaw: () => this.thaw(),
      pids: () => this.pids(),
    }, () => this.pids(), signal);
  }

  pids(): number[] {
    return pidsRecursive(this.dir);
  }

  stats(): CgroupStats {
    return statsV2(this.dir);
  }

  oomKillCount(): number {
    return parseFlatKeyed(readOptional(this.dir, 'memory.events')).oom_kill ?? 0;
  }

  /** cgroup.events `populated 0` once every process (also in descendants) has left. */
  populated(): boolean {
    return parseFlatKeyed(readOptional(this.dir, 'cgroup.events')).populated === 1;
  }

  async destroy(): Promise<void> {
    await removeCgroupTree(this.dir);
    for (const d of [...this.made].reverse()) rmdirIfEmpty(d);
  }
}

export function readEvents(dir: string): Record<string, number> {
  return parseFlatKeyed(readCgroupFile(dir, 'cgroup.events'));
}
