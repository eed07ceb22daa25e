// Worker-thread entry: applies one layer at a time into a snapshot dir, with the blob bytes fed by
// the main thread (which may be downloading them). Gunzip, hashing and file creation are CPU work on
// one thread each; a worker per layer is what lets independent overlay layers use every core.
// Loaded only as the esbuild bundle dist/apply-worker.cjs (tsx-loaded .ts does not run in workers).
import { parentPort } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { applyLayer } from './apply.js';
import { isBerthError } from '../lib/errors.js';
import type { ToWorker, FromWorker } from './apply-protocol.js';

const port = parentPort;
if (!port) throw new Error('apply-worker must run as a worker thread');

// Progress messages are throttled: one per this many compressed bytes (plus one at the end).
const REPORT_EVERY = 1 << 20;

let source: Readable | undefined;

function send(m: FromWorker): void {
  port!.postMessage(m);
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'apply': {
      const s = new Readable({ read() {} });
      source = s;
      let reported = 0;
      applyLayer(s, m.dir, {
        mediaType: m.mediaType,
        mode: m.mode,
        onBytes: (n) => { if (n - reported >= REPORT_EVERY) { reported = n; send({ t: 'bytes', n }); } },
      }).then(
        (r) => send({ t: 'done', diffId: r.diffId, size: r.size }),
        (e: unknown) => send({ t: 'error', code: isBerthError(e) ? e.code : undefined, message: (e as Error)?.message ?? String(e) }),
      ).finally(() => { if (source === s) source = undefined; });
      return;
    }
    case 'chunk':
      source?.push(Buffer.from(m.buf));
      return;
    case 'end':
      source?.push(null);
      return;
    case 'abort':
      source?.destroy(new Error(m.message));
      return;
  }
});
