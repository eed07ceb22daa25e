// Messages between the unpacking main thread and an apply worker (snapshotter/apply-worker.ts).
import type { ApplyMode } from './apply.js';
import type { ErrorCode } from '../lib/errors.js';

export type ToWorker =
  | { t: 'apply'; dir: string; mediaType: string; mode: ApplyMode }
  /** Compressed blob bytes, in order; the ArrayBuffer is transferred. */
  | { t: 'chunk'; buf: ArrayBuffer }
  | { t: 'end' }
  /** The blob source failed: stop applying. */
  | { t: 'abort'; message: string };

export type FromWorker =
  /** Compressed bytes consumed so far: progress, and the credit that lets the main thread send more. */
  | { t: 'bytes'; n: number }
  | { t: 'done'; diffId: string; size: number }
  | { t: 'error'; code?: ErrorCode; message: string };
