// The snapshotter interface other layers (image/, engine/) program against.
import type { Readable } from 'node:stream';

export interface Mount { type: string; source: string; target?: string; options: string[] }

export type SnapshotKind = 'active' | 'committed' | 'view';
export type SnapshotterKind = 'overlay' | 'copy';

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
  created: string; // RFC 3339
  /** Short numeric id: the directory <root>/<id>. */
  id: number;
}

export interface Snapshotter {
  readonly kind: SnapshotterKind;
  readonly root: string;
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  view(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]>;
  commit(name: string, key: string): Promise<void>;
  mounts(key: string): Promise<Mount[]>;
  /**
   * `durable: false` skips the metadata fsync: for a snapshot whose loss-of-removal GC repairs (a
   * container's, labelled berth.container, once its container directory is gone).
   */
  remove(key: string, opts?: { durable?: boolean }): Promise<void>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  list(): Promise<SnapshotInfo[]>;
  usage(key: string): Promise<{ size: number; inodes: number }>;
  gc(keep: Set<string>): Promise<string[]>;
}

export interface LayerToUnpack { digest: string; mediaType: string; diffId: string; size?: number }

export interface UnpackProgress {
  digest: string;
  chainId: string;
  /** exists: already unpacked; waiting: another process is unpacking it; extracting: bytes read so far; done. */
  status: 'exists' | 'waiting' | 'extracting' | 'done';
  bytes?: number;
  total?: number;
}

export type OpenBlob = (digest: string) => Readable;
