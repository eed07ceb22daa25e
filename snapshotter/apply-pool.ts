// A pool of apply workers (snapshotter/apply-worker.ts, bundled to dist/apply-worker.cjs). The main
// thread only moves blob bytes (from disk or the network) to a worker; decompression, diff-ID hashing,
// path-safe tar apply all happen in the worker, with the same code as the main-thread path.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import { BerthError, internal } from '../lib/errors.js';
import { loadBinding } from '../native/ffi.js';
import type { ApplyMode } from './apply.js';
import type { FromWorker, ToWorker } from './apply-protocol.js';

// Compressed bytes sent but not yet consumed by a worker: pause the source above HIGH, resume below LOW.
// Bounds memory when the blob source (a local file) is faster than the apply.
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

export class ApplyPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private closed = false;

  constructor(private readonly script: string, readonly size: number) {
    // Workers load ffi-rs; it must already be loaded here or a worker's exit can crash the process.
    loadBinding();
    // Started now so their load overlaps with preparing snapshots and opening blobs.
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(this.script);
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

  /** Apply `source` (a layer blob) into `dir` in a worker; same result and errors as applyLayer(). */
  async apply(source: Readable, dir: string, opts: { mediaType: string; mode: ApplyMode; onBytes?(n: number): void }): Promise<{ diffId: string; size: number }> {
    const slot = await this.acquire();
    const w = slot.worker;
    let broken = false;
    try {
      return await new Promise<{ diffId: string; size: number }>((resolve, reject) => {
        let sent = 0;
        let consumed = 0;
        let sourceError: unknown;
        let settled = false;
        const post = (m: ToWorker, transfer?: ArrayBuffer[]) => w.postMessage(m, transfer);
        const finish = (err: unknown, r?: { diffId: string; size: number }) => {
          if (settled) return;
          settled = true;
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
          source.off('data', onData);
          source.off('end', onEnd);
          source.off('error', onSourceError);
          // A late error from a stream we are done with (a download torn down) must not crash the process.
          source.on('error', () => {});
          source.destroy();
          w.unref();
          if (err !== undefined) reject(err); else resolve(r!);
        };
        const onMessage = (m: FromWorker) => {
          if (m.t === 'bytes') {
            consumed = m.n;
            opts.onBytes?.(m.n);
            if (source.isPaused() && sent - consumed < LOW) source.resume();
          } else if (m.t === 'done') {
            opts.onBytes?.(sent);
            finish(undefined, { diffId: m.diffId, size: m.size });
          } else {
            finish(sourceError ?? new BerthError(m.code ?? 'INTERNAL', m.message));
          }
        };
        const onError = (e: Error) => { broken = true; finish(internal(`layer apply worker failed: ${e.message}`, e)); };
        const onExit = (code: number) => { broken = true; finish(internal(`layer apply worker exited (code ${code}) while applying into ${dir}`)); };
        const onData = (b: Buffer) => {
          // A copy the worker owns: the source's buffer may be shared (a pool slab, or a download
          // that is also being written to the content store), so it must not be transferred.
          const copy = new Uint8Array(b);
          sent += copy.length;
          post({ t: 'chunk', buf: copy.buffer }, [copy.buffer]);
          if (sent - consumed > HIGH) source.pause();
        };
        const onEnd = () => post({ t: 'end' });
        const onSourceError = (e: Error) => { sourceError = e; post({ t: 'abort', message: e.message }); };
        w.ref();
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
        source.on('error', onSourceError);
        source.on('end', onEnd);
        post({ t: 'apply', dir, mediaType: opts.mediaType, mode: opts.mode });
        source.on('data', onData);
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
