// Image layers -> a committed snapshot chain keyed by chain IDs. Overlay layers are independent
// directories, so they are applied in parallel and committed in order as their parents land; the
// copy snapshotter needs each parent's tree first and goes one by one. An flock per chain ID makes
// two processes unpacking the same image do each layer once; a crash leaves only an active
// snapshot (labelled with its chain) that gc removes.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { BerthError, dataLoss, invalidArgument, isBerthError } from '../lib/errors.js';
import { lockFilePolled, type FileLock } from '../lib/file-lock.js';
import { applyLayer } from './apply.js';
import { ApplyPool, defaultWorkerScript } from './apply-pool.js';
import { assertDigest, chainIds } from './digest.js';
import { assertLayerMediaType } from './decompress.js';
import { SnapshotStore, UNPACK_LABEL } from './snapshot-store.js';
import type { LayerToUnpack, OpenBlob, Snapshotter, UnpackProgress } from './types.js';

export interface UnpackOptions {
  onProgress?(p: UnpackProgress): void;
  /**
   * Layers applied at once (overlay only). With worker threads the default is min(layers, cores):
   * each worker decompresses and writes its own layer. On the main thread the default is 2, which
   * buys overlap with slow blob sources (downloads), not CPU: with local blobs parallel=2 measured
   * ~10% slower than 1 there (bench/snapshotter-unpack.ts).
   */
  parallel?: number;
  /**
   * The apply worker bundle (dist/apply-worker.cjs), false to apply on the main thread. Default: the
   * bundle beside the running bundle, for images of several layers; none when running from .ts
   * sources (tests via tsx). Given explicitly, it is used for a single layer too.
   */
  workerScript?: string | false;
  /** Cores to plan for (default os.availableParallelism()): decides whether workers pay off. */
  cores?: number;
}

export interface UnpackResult {
  chainId: string;
  /** Where layers were applied; 'main-thread' with the reason when workers were wanted but absent. */
  applied: 'workers' | 'main-thread' | 'nothing';
  note?: string;
}

/** When workers are used by default (see unpackLayers): cores, and compressed bytes of a single layer. */
const WORKER_MIN_CORES = 3;
const WORKER_MIN_BYTES = 8 << 20;

/** Take the chain's flock without blocking the event loop while another process holds it. */
function lockChain(file: string, onWait: () => void): Promise<FileLock> {
  return lockFilePolled(file, { delayMs: 20, maxDelayMs: 250, onWait });
}

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) { this.free--; return; }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next(); else this.free++;
  }
}

export async function unpackLayers(sn: Snapshotter, layers: LayerToUnpack[], openBlob: OpenBlob, opts: UnpackOptions = {}): Promise<UnpackResult> {
  if (!(sn instanceof SnapshotStore)) throw invalidArgument('unpackLayers needs a snapshotter from openSnapshotter()');
  if (layers.length === 0) throw invalidArgument('an image needs at least one layer to unpack');
  for (const l of layers) {
    assertDigest(l.digest, 'layer digest');
    assertDigest(l.diffId, 'layer diff ID');
    assertLayerMediaType(l.mediaType);
  }
  const chains = chainIds(layers.map((l) => l.diffId));
  const top = chains[chains.length - 1];
  if ((await sn.stat(top))?.kind === 'committed') {
    for (let i = 0; i < layers.length; i++) opts.onProgress?.({ digest: layers[i].digest, chainId: chains[i], status: 'exists' });
    return { chainId: top, applied: 'nothing' };
  }
  const overlay = sn.applyMode === 'overlay';
  // On the main thread a layer already keeps two cores busy: zlib inflates on the libuv pool while
  // this thread hashes and creates files. Workers (this thread inflates, a worker creates files) add
  // a third busy thread per layer plus their start-up (~60 ms of CPU each) and copies, so they pay
  // only with cores to spare: on this 2-core VM, loaded by other work, main-thread apply measured the
  // same wall time with 0.1-0.2 s less CPU (debian layer and 5-layer image, 15 alternating runs
  // each). Multi-layer images and big single layers use them from 3 cores up; a small image never
  // pays a worker's start-up. BERTH_APPLY_WORKERS=0 turns workers off, =1 (or an explicit
  // workerScript) uses them for any image.
  const env = process.env.BERTH_APPLY_WORKERS;
  const off = opts.workerScript === false || (opts.workerScript === undefined && env === '0');
  const script = off ? undefined : opts.workerScript ?? defaultWorkerScript();
  const bytes = layers.reduce((a, l) => a + (l.size ?? 0), 0);
  const cores = opts.cores ?? os.availableParallelism();
  const spare = cores >= WORKER_MIN_CORES && (layers.length > 1 || bytes >= WORKER_MIN_BYTES);
  const worthIt = spare || env === '1' || typeof opts.workerScript === 'string';
  const wantWorkers = overlay && worthIt && !off;
  let note: string | undefined;
  if (wantWorkers && !script) note = 'layer apply worker bundle not found (running from sources?): layers applied on the main thread';
  const parallel = overlay ? Math.max(1, opts.parallel ?? (wantWorkers && script ? Math.min(layers.length, Math.max(2, cores)) : 2)) : 1;
  const pool = wantWorkers && script ? new ApplyPool(script, Math.min(parallel, layers.length)) : undefined;
  const sem = new Semaphore(parallel);
  let failed = false;
  const done: Promise<void>[] = [];

  const committed = async (i: number) => (await sn.stat(chains[i]))?.kind === 'committed';

  const unpackOne = async (i: number): Promise<void> => {
    const layer = layers[i];
    const chain = chains[i];
    const parent = i > 0 ? chains[i - 1] : undefined;
    const report = (status: UnpackProgress['status'], bytes?: number) =>
      opts.onProgress?.({ digest: layer.digest, chainId: chain, status, ...(bytes !== undefined ? { bytes } : {}), ...(layer.size !== undefined ? { total: layer.size } : {}) });
    if (await committed(i)) { await done[i - 1]; report('exists'); return; }
    const lock = await lockChain(sn.chainLockFile(chain), () => report('waiting'));
    let key: string | undefined;
    try {
      if (await committed(i)) { await done[i - 1]; report('exists'); return; }
      // The copy snapshotter starts from the parent's whole tree.
      if (!overlay && i > 0) await done[i - 1];
      await sem.acquire();
      try {
        if (failed) throw new BerthError('CANCELLED', 'unpack cancelled: another layer failed');
        const k = `unpack-${chain.slice(7, 19)}-${process.pid}-${randomBytes(4).toString('hex')}`;
        key = k;
        // With a worker, decompression starts while the snapshot's record is written (its fsync took
        // 15-100 ms on a disk busy with earlier writes); the worker holds the bytes until the dir exists.
        const dir = sn.prepare(k, overlay ? undefined : parent, { [UNPACK_LABEL]: chain }).then(() => sn.fsDir(k));
        dir.catch(() => {}); // awaited below (pool.apply settles only after it has)
        report('extracting', 0);
        const blob = openBlob(layer.digest);
        const applyOpts = { mediaType: layer.mediaType, mode: sn.applyMode, onBytes: (n: number) => report('extracting', n) };
        const got = pool ? await pool.apply(blob, dir, applyOpts) : await applyLayer(blob, await dir, applyOpts);
        if (got.diffId !== layer.diffId) {
          throw dataLoss(`layer ${layer.digest}: uncompressed content has digest ${got.diffId}, but the image config says ${layer.diffId}`);
        }
      } finally {
        sem.release();
      }
      if (i > 0) await done[i - 1];
      await sn.commitAs(chain, key, overlay ? parent ?? null : undefined);
      key = undefined;
      report('done');
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      if (key !== undefined) await sn.remove(key).catch(() => {});
      lock.release();
    }
  };

  // Overlay layers start biggest first (they are independent until commit): a big layer started
  // last would otherwise run alone on one core at the end.
  const order = layers.map((_, i) => i);
  if (overlay) order.sort((a, b) => (layers[b].size ?? 0) - (layers[a].size ?? 0));
  for (const i of order) done[i] = unpackOne(i);
  const results = await Promise.allSettled(done);
  await pool?.close();
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  // The first real failure, not the cancellations it caused.
  const first = errors.find((e) => !isBerthError(e, 'CANCELLED')) ?? errors[0];
  if (first !== undefined) throw first;
  return { chainId: top, applied: pool ? 'workers' : 'main-thread', ...(note ? { note } : {}) };
}
