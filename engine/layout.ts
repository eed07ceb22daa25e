// Where the container service keeps things (DESIGN.md "Storage"): everything under --root and --state.
import path from 'node:path';
import fs from 'node:fs';
import { REPO_ROOT } from '../lib/paths.js';
import type { CgroupKicker } from './cgroup-prefetch.js';
import type { MonitorSpawner } from '../shim/monitor-process.js';

export interface EngineConfig {
  root: string;               // /var/lib/berth
  state: string;              // /run/berth
  runtime?: string;           // any runc-compatible binary; default: berth-runtime of this install
  snapshotter?: 'overlay' | 'copy' | 'auto';
  /** CNI config dir for `--network bridge` (default /etc/berth/cni/net.d, else the built-in bridge). */
  cniConfDir?: string;
  /**
   * argv (absolute program first) of `berth container cleanup`, given a container id as its last
   * argument. A container's monitor runs it when a run exits and something must follow: removal
   * (--rm) or a restart policy (engine/container-exit.ts), so that happens with no CLI or daemon
   * left waiting. Default: this install's bin/berth with the same --root and --state.
   */
  cleanupCommand?: string[];
  /** Long-lived engines only (`berth serve`): told when a container's cgroup join is near (engine/cgroup-prefetch.ts). */
  cgroupPrefetch?: CgroupKicker;
  /** Long-lived engines only (`berth serve`): a pre-started monitor for container starts (shim/monitor-standby.ts). */
  monitorStandby?: MonitorSpawner;
}

export class Layout {
  constructor(readonly cfg: EngineConfig) {}
  get containers(): string { return path.join(this.cfg.root, 'containers'); }
  get snapshots(): string { return path.join(this.cfg.root, 'snapshots'); }
  get volumes(): string { return path.join(this.cfg.root, 'volumes'); }
  get networkData(): string { return path.join(this.cfg.root, 'network'); }
  get netnsDir(): string { return path.join(this.cfg.state, 'netns'); }
  get runtimeRoot(): string { return path.join(this.cfg.state, 'runtime'); }
  get namesLock(): string { return path.join(this.cfg.root, 'containers', '.names.lock'); }
  /** the name index (engine/name-index.ts) */
  get namesDir(): string { return path.join(this.cfg.root, 'containers', '.names'); }
  containerDir(id: string): string { return path.join(this.containers, id); }
  recordFile(id: string): string { return path.join(this.containerDir(id), 'container.json'); }
  rootfs(id: string): string { return path.join(this.containerDir(id), 'rootfs'); }
  /** The monitor's dir (session, sockets, exit.json) and the CRI-format log beside it. */
  monitorDir(id: string): string { return path.join(this.containerDir(id), 'monitor'); }
  logPath(id: string): string { return path.join(this.containerDir(id), 'container.log'); }
  runtimePath(): string {
    const p = this.cfg.runtime ?? process.env.BERTH_RUNTIME_BIN ?? path.join(REPO_ROOT, 'bin', 'berth-runtime');
    return path.isAbsolute(p) ? p : path.resolve(p);
  }
  cleanupCommand(): string[] {
    return this.cfg.cleanupCommand ?? [process.execPath, path.join(REPO_ROOT, 'bin', 'berth-node'), '--root', this.cfg.root, '--state', this.cfg.state, 'container', 'cleanup'];
  }
  ensure(): void {
    for (const d of [this.containers, this.runtimeRoot]) fs.mkdirSync(d, { recursive: true, mode: 0o711 });
  }
}
