// Image layers -> a committed snapshot chain keyed by chain IDs. Overlay layers are independent
// directories, so they are applied in parallel and committed in order as their parents land; the
// copy snapshotter needs each parent's tree first and goes one by one. An flock per chain ID makes
// two processes unpacking the same image do each layer once; a crash leaves only an active
// snapshot (labelled with its chain) that gc removes.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { BerthError, dataLoss, invalidArgument, isBerthError } from '../lib/errors.js';
import { lockFile, type FileLock } from '../lib/file-lock.js';
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
}

export interface UnpackResult {
  chainId: string;
  /** Where layers were applied; 'main-thread' with the reason when workers were wanted but absent. */
  applied: 'workers' | 'main-thread' | 'nothing';
  note?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Take the chain's flock without blocking the event loop while another process holds it. */
async function lockChain(file: string, onWait: () => void): Promise<FileLock> {
  let waited = false;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    try {
      return lockFile(file, { wait: false });
    } catch (e) {
      if (!isBerthError(e, 'UNAVAILABLE')) throw e;
      if (!waited) { waited = true; onWait(); }
      await sleep(delay);
    }
  }
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
  // Workers only pay off with independent layers to spread over cores: overlay, more than one.
  // BERTH_APPLY_WORKERS=0 turns workers off (A/B benchmarks, or a host where they misbehave); =1, or
  // an explicit workerScript, uses one even for a single layer (the main thread then only downloads).
  // Not the default: bench/image-pull.ts on a journaled ext4 (Debian, one 49 MB layer) measured
  // 996/1366/1674 ms in a worker vs 1009/1411/1545 ms on the main thread (medians of 5, 9, 7 runs on a
  // shared 2-core VM): no clear gain, and every small pull would pay the worker's start-up.
  const env = process.env.BERTH_APPLY_WORKERS;
  const off = opts.workerScript === false || (opts.workerScript === undefined && env === '0');
  const script = off ? undefined : opts.workerScript ?? defaultWorkerScript();
  const wantWorkers = overlay && (layers.length > 1 || env === '1' || typeof opts.workerScript === 'string') && !off;
  let note: string | undefined;
  if (wantWorkers && !script) note = 'layer apply worker bundle not found (running from sources?): layers applied on the main thread';
  const parallel = overlay ? Math.max(1, opts.parallel ?? (wantWorkers && script ? Math.min(layers.length, os.availableParallelism()) : 2)) : 1;
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
        key = `unpack-${chain.slice(7, 19)}-${process.pid}-${randomBytes(4).toString('hex')}`;
        await sn.prepare(key, overlay ? undefined : parent, { [UNPACK_LABEL]: chain });
        report('extracting', 0);
        const blob = openBlob(layer.digest);
        const applyOpts = { mediaType: layer.mediaType, mode: sn.applyMode, onBytes: (n: number) => report('extracting', n) };
        const got = pool ? await pool.apply(blob, sn.fsDir(key), applyOpts) : await applyLayer(blob, sn.fsDir(key), applyOpts);
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

  for (let i = 0; i < layers.length; i++) done.push(unpackOne(i));
  const results = await Promise.allSettled(done);
  await pool?.close();
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  // The first real failure, not the cancellations it caused.
  const first = errors.find((e) => !isBerthError(e, 'CANCELLED')) ?? errors[0];
  if (first !== undefined) throw first;
  return { chainId: top, applied: pool ? 'workers' : 'main-thread', ...(note ? { note } : {}) };
}
