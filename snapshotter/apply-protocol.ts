// Messages between the unpacking main thread and an apply worker (snapshotter/apply-worker.ts).
import type { ApplyMode } from './apply.js';
import type { ErrorCode } from '../lib/errors.js';

/** `job` numbers a pool's jobs in the order they start; a worker runs them one at a time. */
export type ToWorker =
  | { t: 'apply'; job: number; dir: string; mode: ApplyMode }
  /** The layer's tar, decompressed by the main thread, in order; the ArrayBuffer is transferred. */
  | { t: 'chunk'; job: number; buf: ArrayBuffer }
  | { t: 'end'; job: number }
  /** The blob source or its decompression failed: stop applying. */
  | { t: 'abort'; job: number; message: string };

export type FromWorker =
  /** Tar bytes consumed so far: the credit that lets the main thread send more. */
  | { t: 'bytes'; n: number }
  | { t: 'done'; diffId: string; size: number }
  | { t: 'error'; code?: ErrorCode; message: string };
