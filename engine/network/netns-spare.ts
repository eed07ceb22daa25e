// One network namespace made ahead by a long-lived server (`berth serve`), so that a pod's pause
// container need not wait for its namespace (3-5 ms of exec between RunPodSandbox and the pause's
// start). The spare is an ordinary berth namespace under a dot name (`.spare-<pid>-<n>`, never listed
// as a pod's); taking it binds it at the pod's path. The next one is made by the pod's own network
// setup (berth-netns add --spare: no exec of its own), or, when no native setup comes by soon (CNI
// plugins), by an unshare exec. Spares of owners that died are removed at start.
import path from 'node:path';
import { procStat } from '../../lib/proc-stat.js';
import { isNamespaceFile, type NetnsStore } from './netns.js';

const SPARE = /^\.spare-(\d+)-\d+$/;
/** How long a taken spare waits to be replaced by a native setup before an exec of its own makes one. */
const FALLBACK_MS = 250;

export class NetnsSpares {
  private ready?: string;
  /** a spare on its way (reserved for a berth-netns add, or an exec of unshare) */
  private pending?: string;
  private seq = 0;
  private closed = false;
  private fallback?: NodeJS.Timeout;
  private making?: Promise<void>;

  constructor(private readonly store: NetnsStore) {
    for (const n of store.spares()) {
      const owner = Number(SPARE.exec(n)?.[1] ?? 0);
      const st = owner && owner !== process.pid ? procStat(owner) : undefined;
      if (owner === process.pid || (st && st.state !== 'Z' && st.state !== 'X')) continue;
      try { store.removeFile(path.join(store.dir, n)); } catch { /* busy: the next start tries again */ }
    }
  }

  /**
   * Gives the spare (when one is ready) to `id`: true when `id`'s namespace exists at its path now, false
   * when the caller must make it as usual.
   */
  take(id: string): boolean {
    const spare = this.ready;
    this.ready = undefined;
    let took = false;
    if (spare) {
      try {
        this.store.adopt(spare, id);
        took = true;
      } catch {
        this.discard(spare);
      }
    }
    this.scheduleFallback();
    return took;
  }

  /** True while a spare is ready to be taken. */
  get hasSpare(): boolean {
    return this.ready !== undefined;
  }

  /** A path for berth-netns add --spare when a spare is wanted, else undefined; settle() it after. */
  reserve(): string | undefined {
    if (this.closed || this.ready || this.pending) return undefined;
    this.pending = this.nextPath();
    return this.pending;
  }

  /** After the exec that was to make `file`: kept when it is a namespace now, else removed. */
  settle(file: string): void {
    if (this.pending !== file) return;
    this.pending = undefined;
    if (!this.closed && isNamespaceFile(file)) this.ready = file;
    else this.discard(file);
  }

  /** Starts making a spare with an exec of its own (no native setup came by). */
  refill(): void {
    const p = this.reserve();
    if (!p) return;
    const name = path.basename(p);
    this.making = this.store.createSpare(name).then(() => undefined, () => undefined).finally(() => {
      this.settle(p);
      this.making = undefined;
    });
  }

  /** Removes the spare (after one in the making); later takes find none. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.fallback);
    await this.making;
    const p = this.ready;
    this.ready = undefined;
    if (p) this.discard(p);
  }

  private scheduleFallback(): void {
    if (this.closed || this.fallback) return;
    this.fallback = setTimeout(() => {
      this.fallback = undefined;
      this.refill();
    }, FALLBACK_MS);
    this.fallback.unref();
  }

  private nextPath(): string {
    return path.join(this.store.dir, `.spare-${process.pid}-${this.seq++}`);
  }

  private discard(file: string): void {
    try { this.store.removeFile(file); } catch { /* removed at the next start */ }
  }
}
