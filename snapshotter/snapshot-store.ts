// The snapshotter: metadata in meta.json, one directory per snapshot under a short numeric id
// (<root>/<id>/{fs,work}) so a long chain of lower dirs still fits overlay's mount options.
import fs from 'node:fs';
import path from 'node:path';
import { alreadyExists, failedPrecondition, invalidArgument, notFound, isBerthError } from '../lib/errors.js';
import { lockFile } from '../lib/file-lock.js';
import { MetaStore, type MetaFile, type SnapshotRecord } from './metadata.js';
import type { Driver } from './drivers.js';
import { assertDigest } from './digest.js';
import { diskUsage } from './usage.js';
import type { Mount, SnapshotInfo, Snapshotter, SnapshotterKind } from './types.js';

/** Label on the active snapshot an unpack writes into: the chain ID it will be committed as. */
export const UNPACK_LABEL = 'berth.snapshot/unpack';

function assertKey(key: string, what = 'snapshot key'): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024 || key.includes('\0')) {
    throw invalidArgument(`${what} ${JSON.stringify(key)} is invalid (1-1024 characters, no NUL)`);
  }
}

function info(r: SnapshotRecord): SnapshotInfo {
  return { key: r.key, ...(r.parent !== undefined ? { parent: r.parent } : {}), kind: r.kind, labels: { ...r.labels }, created: r.created, id: r.id };
}

export class SnapshotStore implements Snapshotter {
  readonly kind: SnapshotterKind;
  private readonly meta: MetaStore;

  constructor(readonly root: string, private readonly driver: Driver) {
    this.kind = driver.kind;
    this.meta = new MetaStore(root, driver.kind);
  }

  get applyMode() { return this.driver.applyMode; }

  /** Directory of snapshot id `id`. */
  dirOf(id: number): string {
    return path.join(this.root, String(id));
  }

  /** The fs dir of snapshot `key` (where an unpack writes). */
  fsDir(key: string): string {
    const r = this.meta.read().snapshots[key];
    if (!r) throw notFound(`snapshot ${key} not found`);
    return path.join(this.dirOf(r.id), 'fs');
  }

  /** flock file serialising the unpack of one chain across processes. */
  chainLockFile(chainId: string): string {
    const hex = assertDigest(chainId, 'chain ID').slice('sha256:'.length);
    const dir = path.join(this.root, 'locks');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, `${hex}.lock`);
  }

  private parents(m: MetaFile, key: string | undefined): string[] {
    const out: string[] = [];
    const limit = Object.keys(m.snapshots).length;
    for (let k = key; k !== undefined; k = m.snapshots[k]?.parent) {
      const r = m.snapshots[k];
      if (!r) throw failedPrecondition(`snapshot chain is broken: ${k} is missing`);
      if (out.length > limit) throw failedPrecondition(`snapshot chain of ${key} has a cycle`);
      out.push(path.join(this.dirOf(r.id), 'fs'));
      if (this.driver.fullTree) break; // a copy snapshot already holds its whole tree
    }
    return out;
  }

  private mountsOf(m: MetaFile, r: SnapshotRecord): Mount[] {
    if (r.kind === 'active') return this.driver.activeMounts(this.dirOf(r.id), this.parents(m, r.parent));
    if (r.kind === 'view') return this.driver.viewMounts(this.parents(m, r.parent));
    throw failedPrecondition(`snapshot ${r.key} is committed: mount a view or an active snapshot on top of it`);
  }

  private async create(kind: 'active' | 'view', key: string, parent: string | undefined, labels: Record<string, string> = {}): Promise<Mount[]> {
    assertKey(key);
    if (parent !== undefined) assertKey(parent, 'parent key');
    for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') throw invalidArgument(`label ${k} must be a string`);
    const { rec, m } = await this.meta.update((m) => {
      if (m.snapshots[key]) throw alreadyExists(`snapshot ${key} already exists`);
      if (parent !== undefined) {
        const p = m.snapshots[parent];
        if (!p) throw notFound(`parent snapshot ${parent} not found`);
        if (p.kind !== 'committed') throw failedPrecondition(`parent snapshot ${parent} is ${p.kind}, not committed`);
      }
      const rec: SnapshotRecord = {
        id: m.nextId++, key, ...(parent !== undefined ? { parent } : {}), kind, labels: { ...labels }, created: new Date().toISOString(),
      };
      m.snapshots[key] = rec;
      return { rec, m: structuredClone(m) };
    });
    try {
      if (kind === 'active') await this.driver.createActive(this.dirOf(rec.id), this.parents(m, parent)[0]);
      return this.mountsOf(m, rec);
    } catch (e) {
      await this.remove(key).catch(() => {});
      throw e;
    }
  }

  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.create('active', key, parent, labels);
  }

  view(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]> {
    if (parent === undefined) throw invalidArgument('a view needs a parent snapshot');
    return this.create('view', key, parent, labels);
  }

  commit(name: string, key: string): Promise<void> {
    return this.commitAs(name, key);
  }

  /**
   * Commit active `key` as `name`. An overlay layer's directory does not depend on its parent, so
   * parallel unpacks set the parent only here (`parent` null: none).
   */
  async commitAs(name: string, key: string, parent?: string | null): Promise<void> {
    assertKey(name, 'snapshot name');
    await this.meta.update((m) => {
      const r = m.snapshots[key];
      if (!r) throw notFound(`snapshot ${key} not found`);
      if (r.kind !== 'active') throw failedPrecondition(`snapshot ${key} is ${r.kind}: only active snapshots can be committed`);
      if (m.snapshots[name]) throw alreadyExists(`snapshot ${name} already exists`);
      if (parent !== undefined) {
        if (parent !== null) {
          const p = m.snapshots[parent];
          if (!p || p.kind !== 'committed') throw failedPrecondition(`parent snapshot ${parent} is not committed`);
          r.parent = parent;
        } else delete r.parent;
      }
      delete m.snapshots[key];
      r.key = name;
      r.kind = 'committed';
      delete r.labels[UNPACK_LABEL];
      m.snapshots[name] = r;
    });
  }

  async mounts(key: string): Promise<Mount[]> {
    const m = this.meta.read();
    const r = m.snapshots[key];
    if (!r) throw notFound(`snapshot ${key} not found`);
    return this.mountsOf(m, r);
  }

  async remove(key: string, opts: { durable?: boolean } = {}): Promise<void> {
    const r = await this.meta.update((m) => {
      const r = m.snapshots[key];
      if (!r) throw notFound(`snapshot ${key} not found`);
      const children = Object.values(m.snapshots).filter((s) => s.parent === key).map((s) => s.key);
      if (children.length) throw failedPrecondition(`snapshot ${key} has children (${children.slice(0, 3).join(', ')}${children.length > 3 ? ', ...' : ''}): remove them first`);
      delete m.snapshots[key];
      return r;
    }, opts);
    // Synchronous: a handful of entries (a container's upper and work dirs) go faster in one go than
    // through the libuv pool one call at a time, more so on a busy disk.
    fs.rmSync(this.dirOf(r.id), { recursive: true, force: true });
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const r = this.meta.read().snapshots[key];
    return r ? info(r) : undefined;
  }

  async list(): Promise<SnapshotInfo[]> {
    return Object.values(this.meta.read().snapshots).map(info).sort((a, b) => a.id - b.id);
  }

  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const r = this.meta.read().snapshots[key];
    if (!r) throw notFound(`snapshot ${key} not found`);
    if (r.kind === 'view') return { size: 0, inodes: 0 };
    return diskUsage(path.join(this.dirOf(r.id), 'fs'));
  }

  /** Whether an unpack of `chainId` is running (some process holds its lock). */
  unpackRunning(chainId: string): boolean {
    try {
      lockFile(this.chainLockFile(chainId), { wait: false }).release();
      return false;
    } catch (e) {
      if (isBerthError(e, 'UNAVAILABLE')) return true;
      throw e;
    }
  }

  /**
   * Remove every snapshot not in `keep` and not an ancestor of one that is kept. Actives and views
   * are removed too unless kept (callers pass container and mount keys), except the active snapshot
   * of an unpack still running in some process. Directories without a record are removed as well.
   */
  async gc(keep: Set<string>): Promise<string[]> {
    const before = this.meta.read();
    const running = new Set<string>();
    for (const r of Object.values(before.snapshots)) {
      const chain = r.labels[UNPACK_LABEL];
      if (r.kind === 'active' && chain !== undefined && /^sha256:[a-f0-9]{64}$/.test(chain) && this.unpackRunning(chain)) running.add(r.key);
    }
    const removed = await this.meta.update((m) => {
      const live = new Set<string>();
      const mark = (k: string | undefined) => {
        while (k !== undefined && !live.has(k) && m.snapshots[k]) { live.add(k); k = m.snapshots[k].parent; }
      };
      for (const k of keep) mark(k);
      for (const k of running) mark(k);
      // Created after our first look: belongs to someone working right now.
      for (const k of Object.keys(m.snapshots)) if (!before.snapshots[k]) mark(k);
      const out: SnapshotRecord[] = [];
      for (const [k, r] of Object.entries(m.snapshots)) if (!live.has(k)) { out.push(r); delete m.snapshots[k]; }
      return out;
    });
    for (const r of removed) await fs.promises.rm(this.dirOf(r.id), { recursive: true, force: true });
    // Ids at or above nextId may belong to a prepare that started after this read.
    const now = this.meta.read();
    const ids = new Set(Object.values(now.snapshots).map((r) => String(r.id)));
    for (const name of fs.readdirSync(this.root)) {
      if (/^[0-9]+$/.test(name) && Number(name) < now.nextId && !ids.has(name)) await fs.promises.rm(path.join(this.root, name), { recursive: true, force: true });
    }
    return removed.map((r) => r.key);
  }
}
