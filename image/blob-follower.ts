// Reads a blob while it is still being downloaded, so unpacking starts with the first bytes
// instead of after the last. It follows the ingest file as it grows and continues from the
// committed blob. Nothing read this way is trusted: the unpacker checks every layer's
// uncompressed digest against the (verified) config's diff_id before it commits a snapshot,
// and pull falls back to unpacking from committed blobs if a streamed unpack fails.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { dataLoss } from '../lib/errors.js';
import type { ContentStore } from './content-store.js';

const CHUNK = 1 << 20;

export class BlobFollower {
  private waiters = new Map<string, Set<() => void>>();
  private settled = new Map<string, { ok: boolean; err?: unknown }>();

  constructor(private content: ContentStore) {}

  /** Called on download progress: wakes readers of `digest`. */
  wake(digest: string): void {
    const w = this.waiters.get(digest);
    if (!w) return;
    this.waiters.delete(digest);
    for (const f of w) f();
  }

  /** The download of `digest` ended (committed or failed). */
  settle(digest: string, err?: unknown): void {
    this.settled.set(digest, { ok: err === undefined, err });
    this.wake(digest);
  }

  private wait(digest: string): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(digest) ?? new Set();
      set.add(resolve);
      this.waiters.set(digest, set);
      // Another process may be the one downloading: poll as well as listen.
      setTimeout(resolve, 20);
    });
  }

  open(digest: string, size: number): Readable {
    return Readable.from(this.read(digest, size), { objectMode: false });
  }

  private async *read(digest: string, size: number): AsyncGenerator<Buffer> {
    const blobPath = this.content.blobPath(digest);
    const ingestPath = this.content.ingestDataPath(digest);
    let fh: fs.promises.FileHandle | undefined;
    let onBlob = false;
    let pos = 0;
    try {
      while (pos < size) {
        const state = this.settled.get(digest);
        if (state && !state.ok) throw state.err;
        if (!fh) {
          fh = await fs.promises.open(blobPath, 'r').catch(() => undefined);
          onBlob = fh !== undefined;
          fh ??= await fs.promises.open(ingestPath, 'r').catch(() => undefined);
          if (!fh) { await this.wait(digest); continue; }
        }
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead > 0) {
          pos += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          continue;
        }
        if (state?.ok) {
          // Committed, yet this file ended early: it was another ingest. Continue on the blob.
          if (onBlob) throw dataLoss(`blob ${digest} is shorter than its ${size} bytes`);
          await fh.close();
          fh = undefined;
          continue;
        }
        await this.wait(digest);
      }
    } finally {
      await fh?.close();
    }
  }
}
