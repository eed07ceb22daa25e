// Worker-thread entry: applies one layer at a time into a snapshot dir, with the tar bytes fed by
// the main thread (which downloads and decompresses them). Hashing and file creation happen here, so
// they overlap with the decompression of the same layer and with other layers in other workers.
// Loaded only as the esbuild bundle dist/apply-worker.cjs (tsx-loaded .ts does not run in workers).
import { parentPort, workerData } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { applyLayer } from './apply.js';
import { useNativeApplier } from './apply-native.js';
import { isBerthError } from '../lib/errors.js';
import type { ToWorker, FromWorker } from './apply-protocol.js';

const port = parentPort;
if (!port) throw new Error('apply-worker must run as a worker thread');
const nativeApplier = (workerData as { nativeApplier?: string } | null)?.nativeApplier;
if (nativeApplier) useNativeApplier(nativeApplier);

// Credit messages are throttled: one per this many tar bytes consumed.
const REPORT_EVERY = 1 << 20;

const TAR = 'application/vnd.oci.image.layer.v1.tar';

// The job being fed and its input. A job's chunks may arrive before its 'apply' (see
// ApplyPool.apply): they wait in the stream. Messages of a job that already ended (chunks in flight
// when it failed) are dropped, never mixed into the next job.
let job = -1;
let source: Readable | undefined;

function sourceFor(j: number): Readable | undefined {
  if (j > job) {
    job = j;
    source = new Readable({ read() {} });
  }
  return j === job ? source : undefined;
}

function send(m: FromWorker): void {
  port!.postMessage(m);
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'apply': {
      const s = sourceFor(m.job);
      if (!s) return;
      let reported = 0;
      applyLayer(s, m.dir, {
        mediaType: TAR,
        decompressed: true,
        mode: m.mode,
        onBytes: (n) => { if (n - reported >= REPORT_EVERY) { reported = n; send({ t: 'bytes', n }); } },
      }).then(
        (r) => send({ t: 'done', diffId: r.diffId, size: r.size }),
        (e: unknown) => send({ t: 'error', code: isBerthError(e) ? e.code : undefined, message: (e as Error)?.message ?? String(e) }),
      ).finally(() => { if (source === s) source = undefined; });
      return;
    }
    case 'chunk':
      sourceFor(m.job)?.push(Buffer.from(m.buf));
      return;
    case 'end':
      sourceFor(m.job)?.push(null);
      return;
    case 'abort':
      sourceFor(m.job)?.destroy(new Error(m.message));
      return;
  }
});
