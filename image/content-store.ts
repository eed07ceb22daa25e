// Content-addressed blob store: <root>/content/blobs/sha256/<hex>, immutable and verified.
// Writes go through <root>/content/ingest/<hex>/{data,meta}; every byte is hashed and counted
// while it streams, and only a blob whose digest and size match is renamed into place. A partial
// download stays in ingest/ and is resumed from its length; a flock per digest makes two
// processes pulling the same image download each blob once.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { dataLoss, fromErrno, invalidArgument, notFound, unavailable } from '../lib/errors.js';
import { withFileLock } from './async-lock.js';
import { checkDigest, hexOf, type Digest } from './digest.js';

export interface BlobInfo { digest: Digest; size: number }

/** A source of bytes from `offset` on; it may return a stream that starts at 0 instead. */
export type RangeSource = (offset: number) => Promise<{ stream: AsyncIterable<Uint8Array>; offset: number }>;

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'content', 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'content', 'ingest');
  }

  private ensureDirs(): void {
    fs.mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  blobPath(digest: string): string {
    return path.join(this.blobsDir, hexOf(checkDigest(digest)));
  }

  /** Size of a committed blob, or undefined. */
  info(digest: string): BlobInfo | undefined {
    try {
      const st = fs.statSync(this.blobPath(digest));
      return { digest: digest as Digest, size: st.size };
    } catch {
      return undefined;
    }
  }

  has(digest: string, size?: number): boolean {
    const i = this.info(digest);
    return i !== undefined && (size === undefined || i.size === size);
  }

  readBlob(digest: string, maxBytes?: number): Buffer {
    const p = this.blobPath(digest);
    try {
      if (maxBytes !== undefined && fs.statSync(p).size > maxBytes) throw invalidArgument(`blob ${digest} is over the ${maxBytes}-byte limit`);
      return fs.readFileSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`blob ${digest} is not in the content store`);
      throw fromErrno(e, `reading blob ${digest}`);
    }
  }

  openBlob(digest: string): Readable {
    const p = this.blobPath(digest);
    if (!fs.existsSync(p)) throw notFound(`blob ${digest} is not in the content store`);
    return fs.createReadStream(p);
  }

  list(): BlobInfo[] {
    let names: string[];
    try { names = fs.readdirSync(this.blobsDir); } catch { return []; }
    const out: BlobInfo[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}$/.test(n)) continue;
      try { out.push({ digest: `sha256:${n}`, size: fs.statSync(path.join(this.blobsDir, n)).size }); } catch { /* raced with a delete */ }
    }
    return out;
  }

  delete(digest: string): void {
    fs.rmSync(this.blobPath(digest), { force: true });
  }

  /** Where a download of `digest` accumulates (see BlobFollower). */
  ingestDataPath(digest: string): string {
    return path.join(this.ingestDir, hexOf(checkDigest(digest)), 'data');
  }

  /** Bytes already downloaded for `digest` (0 when nothing is in ingest). */
  ingestOffset(digest: string): number {
    try { return fs.statSync(path.join(this.ingestDir, hexOf(checkDigest(digest)), 'data')).size; } catch { return 0; }
  }

  listIngests(): string[] {
    try { return fs.readdirSync(this.ingestDir).filter((n) => /^[a-f0-9]{64}$/.test(n) || n.startsWith('tmp-')); } catch { return []; }
  }

  removeIngest(name: string): void {
    fs.rmSync(path.join(this.ingestDir, name), { recursive: true, force: true });
  }

  /**
   * Makes `expected` present: returns at once if committed, else downloads (or resumes) it from
   * `source` under a per-digest lock, verifies and commits it. `onProgress(done, total)`.
   */
  async fetch(expected: BlobInfo, source: RangeSource, onProgress?: (done: number, total: number) => void, retries = 5): Promise<'exists' | 'fetched'> {
    const digest = checkDigest(expected.digest);
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) throw invalidArgument(`invalid size ${expected.size} for ${digest}`);
    if (this.has(digest, expected.size)) return 'exists';
    this.ensureDirs();
    const hex = hexOf(digest);
    return withFileLock(path.join(this.ingestDir, `${hex}.lock`), async () => {
      // Another process may have committed it while we waited for the lock.
      if (this.has(digest, expected.size)) {
        fs.rmSync(path.join(this.ingestDir, `${hex}.lock`), { force: true });
        onProgress?.(expected.size, expected.size);
        return 'exists';
      }
      const dir = path.join(this.ingestDir, hex);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const dataFile = path.join(dir, 'data');
      const metaFile = path.join(dir, 'meta');
      // For people looking at ingest/: nothing reads it back (a resume re-hashes the data), so it
      // skips the fsync of writeJsonAtomic, which a busy disk stretched to tens of ms per blob.
      fs.writeFileSync(metaFile, JSON.stringify({ digest, size: expected.size, started: new Date().toISOString() }) + '\n', { mode: 0o600 });

      let attempt = 0;
      for (;;) {
        try {
          await this.download(dataFile, expected, source, onProgress);
          break;
        } catch (e) {
          // Corrupt data (wrong digest, too long) cannot be resumed: start over next time.
          if ((e as { code?: string }).code === 'DATA_LOSS') { fs.rmSync(dir, { recursive: true, force: true }); throw e; }
          const transient = (e as { code?: string }).code === 'UNAVAILABLE' || (e as { transient?: boolean }).transient;
          if (!transient) throw e;
          // Out of retries: the partial data stays in ingest/ for the next pull to resume.
          if (++attempt >= retries) throw unavailable((e as Error).message, e);
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        }
      }
      const target = this.blobPath(digest);
      fs.renameSync(dataFile, target);
      fs.chmodSync(target, 0o444);
      fs.rmSync(dir, { recursive: true, force: true });
      // Safe to unlink while held: anyone who locks the old or a new file finds the blob committed.
      fs.rmSync(path.join(this.ingestDir, `${hex}.lock`), { force: true });
      return 'fetched';
    });
  }

  private async download(dataFile: string, expected: BlobInfo, source: RangeSource, onProgress?: (done: number, total: number) => void): Promise<void> {
    let have = 0;
    try { have = fs.statSync(dataFile).size; } catch { /* none yet */ }
    if (have > expected.size) { fs.truncateSync(dataFile, 0); have = 0; }
    const hash = crypto.createHash('sha256');
    // Resuming: re-hash what is on disk (cheap next to a download, and never trusts meta).
    if (have > 0) {
      for await (const c of fs.createReadStream(dataFile, { end: have - 1 })) hash.update(c as Buffer);
    }
    let offset = have;
    if (offset < expected.size || expected.size === 0) {
      const { stream, offset: got } = await source(offset);
      if (got !== offset) {
        if (got !== 0) throw dataLoss(`source resumed ${expected.digest} at ${got}, wanted ${offset}`);
        // The server ignored Range: start again from zero.
        hash.destroy();
        fs.truncateSync(dataFile, 0);
        return this.download(dataFile, expected, async () => ({ stream, offset: 0 }), onProgress);
      }
      const fd = fs.openSync(dataFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o600);
      try {
        onProgress?.(offset, expected.size);
        try {
          for await (const chunk of stream) {
            if (offset + chunk.length > expected.size) {
              throw dataLoss(`blob ${expected.digest} is longer than the ${expected.size} bytes its descriptor says`);
            }
            hash.update(chunk);
            writeAll(fd, chunk);
            offset += chunk.length;
            onProgress?.(offset, expected.size);
          }
        } catch (e) {
          if ((e as { code?: string }).code === 'DATA_LOSS') throw e;
          const err = new Error(`download of ${expected.digest} broke off at ${offset} of ${expected.size} bytes: ${(e as Error).message}`, { cause: e });
          (err as { transient?: boolean }).transient = true;
          throw err;
        }
        await fsyncAsync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    if (offset < expected.size) {
      const err = new Error(`blob ${expected.digest} was truncated: got ${offset} of ${expected.size} bytes`);
      (err as { transient?: boolean }).transient = true;
      throw err;
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== expected.digest) throw dataLoss(`blob content does not match its digest: expected ${expected.digest}, got ${got}`);
  }

  /** Stores bytes whose digest the caller may or may not know; verifies when it does. */
  async writeStream(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, expected?: Partial<BlobInfo>): Promise<BlobInfo> {
    this.ensureDirs();
    if (expected?.digest) checkDigest(expected.digest);
    const tmpName = `tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
    const dir = path.join(this.ingestDir, tmpName);
    fs.mkdirSync(dir, { mode: 0o700 });
    const dataFile = path.join(dir, 'data');
    try {
      const hash = crypto.createHash('sha256');
      let size = 0;
      const fd = fs.openSync(dataFile, 'w', 0o600);
      try {
        for await (const chunk of stream) {
          size += chunk.length;
          if (expected?.size !== undefined && size > expected.size) throw dataLoss(`content is longer than the ${expected.size} bytes expected for ${expected.digest ?? 'it'}`);
          hash.update(chunk);
          writeAll(fd, chunk);
        }
        await fsyncAsync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const digest = `sha256:${hash.digest('hex')}` as Digest;
      if (expected?.size !== undefined && size !== expected.size) throw dataLoss(`content of ${expected.digest ?? 'blob'} is ${size} bytes, expected ${expected.size}`);
      if (expected?.digest && digest !== expected.digest) throw dataLoss(`content does not match its digest: expected ${expected.digest}, got ${digest}`);
      if (!this.has(digest, size)) {
        const target = this.blobPath(digest);
        fs.renameSync(dataFile, target);
        fs.chmodSync(target, 0o444);
      }
      return { digest, size };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async writeBytes(bytes: Uint8Array, expected?: Partial<BlobInfo>): Promise<BlobInfo> {
    return this.writeStream([bytes], expected);
  }

  /** Re-hashes every blob; returns the digests whose content no longer matches. */
  async verify(): Promise<Digest[]> {
    const bad: Digest[] = [];
    for (const b of this.list()) {
      const h = crypto.createHash('sha256');
      for await (const c of fs.createReadStream(this.blobPath(b.digest))) h.update(c as Buffer);
      if (`sha256:${h.digest('hex')}` !== b.digest) bad.push(b.digest);
    }
    return bad;
  }
}

/** fsync on the libuv pool: meanwhile the event loop goes on downloading and feeding unpacks. */
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}
