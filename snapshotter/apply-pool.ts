// A pool of apply workers (snapshotter/apply-worker.ts, bundled to dist/apply-worker.cjs). The main
// thread reads the blob (from disk or a download) and decompresses it; diff-ID hashing and the
// path-safe tar apply happen in the worker, with the same code as the main-thread path.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import { BerthError, internal } from '../lib/errors.js';
import { loadBinding } from '../native/ffi.js';
import type { ApplyMode } from './apply.js';
import { applierKind } from './apply-native.js';
import { nativeBinary } from '../lib/paths.js';
import type { FromWorker, ToWorker } from './apply-protocol.js';
import { assertLayerMediaType, decompressedChunks, type Compression } from './decompress.js';

// Tar bytes sent but not yet consumed by a worker: stop decompressing above HIGH, go on below LOW.
// Bounds memory when decompression is faster than the apply.
const HIGH = 16 << 20;
const LOW = 4 << 20;

/**
 * The worker bundle next to the running bundle (dist/apply-worker.cjs beside dist/berth.cjs), or
 * undefined when running from .ts sources: tsx-loaded TypeScript does not load in worker threads.
 */
export function defaultWorkerScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.cjs')) return undefined;
  const p = path.join(path.dirname(here), 'apply-worker.cjs');
  return fs.existsSync(p) ? p : undefined;
}

interface Slot { worker: Worker; busy: boolean }
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class ApplyPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private closed = false;
  private jobs = 0;

  constructor(private readonly script: string, readonly size: number) {
    // Workers load ffi-rs; it must already be loaded here or a worker's exit can crash the process.
    loadBinding();
    // Started now so their load overlaps with preparing snapshots and opening blobs.
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    // The native applier's path as this thread resolves it: a worker bundle may sit elsewhere.
    const worker = new Worker(this.script, { workerData: { nativeApplier: applierKind() === 'native' ? nativeBinary('berth-apply') : undefined } });
    // An idle worker must not keep the process alive if close() is forgotten on an error path.
    worker.unref();
    return { worker, busy: false };
  }

  private async acquire(): Promise<Slot> {
    if (this.closed) throw new BerthError('CANCELLED', 'apply pool is closed');
    const free = this.slots.find((s) => !s.busy);
    const slot = free ?? (await new Promise<Slot>((r) => this.waiting.push(r)));
    slot.busy = true;
    return slot;
  }

  private release(slot: Slot, broken: boolean): void {
    let s = slot;
    if (broken) {
      void slot.worker.terminate();
      s = this.spawn();
      this.slots[this.slots.indexOf(slot)] = s;
    }
    s.busy = false;
    const next = this.waiting.shift();
    if (next) { s.busy = true; next(s); }
  }

  /**
   * Apply `source` (a layer blob) into `dir`; same result and errors as applyLayer(). This thread
   * decompresses (zlib works on the libuv pool, and this event loop stays free to keep it busy);
   * the worker hashes the tar for the diff ID and creates the files. One layer thus keeps two cores
   * busy: in a single thread, gunzip and file creation took turns instead (debian layer 0.9 s vs
   * 0.4 s for the gunzip and 0.45 s for the tar alone).
   */
  async apply(source: Readable, dir: string | Promise<string>, opts: { mediaType: string; mode: ApplyMode; onBytes?(n: number): void }): Promise<{ diffId: string; size: number }> {
    assertLayerMediaType(opts.mediaType);
    const slot = await this.acquire();
    const w = slot.worker;
    let broken = false;
    let settled = false;
    let sent = 0;
    let consumed = 0;
    let raw = 0;
    let feedError: unknown;
    let credit: (() => void) | undefined;
    const job = this.jobs++;
    const post = (m: DistributiveOmit<ToWorker, 'job'>, transfer?: ArrayBuffer[]) => w.postMessage({ ...m, job }, transfer);
    try {
      return await new Promise<{ diffId: string; size: number }>((resolve, reject) => {
        const finish = (err: unknown, r?: { diffId: string; size: number }) => {
          if (settled) return;
          settled = true;
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
          credit?.();
          // A late error from a stream we are done with (a download torn down) must not crash the process.
          source.on('error', () => {});
          source.destroy();
          w.unref();
          if (err !== undefined) reject(err); else resolve(r!);
        };
        // The job ends only on the worker's answer (or its death), so its messages never reach the next job.
        const onMessage = (m: FromWorker) => {
          if (m.t === 'bytes') {
            consumed = m.n;
            if (sent - consumed < LOW) credit?.();
          } else if (m.t === 'done') {
            opts.onBytes?.(raw);
            finish(undefined, { diffId: m.diffId, size: m.size });
          } else {
            finish(feedError ?? new BerthError(m.code ?? 'INTERNAL', m.message));
          }
        };
        const onError = (e: Error) => { broken = true; finish(internal(`layer apply worker failed: ${e.message}`, e)); };
        const onExit = (code: number) => { broken = true; finish(internal(`layer apply worker exited (code ${code}) while applying a layer`)); };
        w.ref();
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
        // Chunks may go ahead of 'apply' (the worker keeps them): the dir may still be in the making.
        // Once it exists the worker always gets 'apply', so it answers even a job aborted by then;
        // if it never comes to exist, the worker holds a half-fed job and is replaced.
        Promise.resolve(dir).then(
          (d) => {
            if (!settled) post({ t: 'apply', dir: d, mode: opts.mode });
          },
          (e: unknown) => { broken = true; finish(e); },
        );
        void (async () => {
          try {
            let kind = 'none' as Compression;
            for await (const c of decompressedChunks(source, (n) => { raw = n; opts.onBytes?.(n); }, (k) => { kind = k; })) {
              if (settled) return;
              // Transferred only when nothing else can hold the ArrayBuffer: a zlib output buffer the
              // chunk fills whole (zlib then allocates a new one). Other chunks are copied: a source's
              // buffer may be shared (a pool slab, a caller's Buffer) and must not be detached.
              const own = kind === 'gzip' && c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? c : new Uint8Array(c);
              sent += own.byteLength;
              post({ t: 'chunk', buf: own.buffer as ArrayBuffer }, [own.buffer as ArrayBuffer]);
              if (sent - consumed > HIGH) await new Promise<void>((r) => { credit = r; });
              credit = undefined;
            }
            if (!settled) post({ t: 'end' });
          } catch (e) {
            feedError = e;
            if (!settled) post({ t: 'abort', message: (e as Error)?.message ?? String(e) });
          }
        })();
      });
    } finally {
      this.release(slot, broken);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
