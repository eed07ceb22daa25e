// Layer blob -> uncompressed tar bytes. The compression is read from the first bytes, not only from
// the media type: Docker has shipped uncompressed layers labelled `.tar.gzip`.
import type { Readable } from 'node:stream';
import { Readable as ReadableStream, Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { invalidArgument } from '../lib/errors.js';

const require = createRequire(import.meta.url);

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export type Compression = 'gzip' | 'zstd' | 'none';

export function assertLayerMediaType(mediaType: string): void {
  if (!LAYER_TYPES.has(mediaType)) throw invalidArgument(`media type ${JSON.stringify(mediaType)} is not a layer berth can unpack`);
}

export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

const CHUNK = 256 * 1024;

function zstdStream(): Transform {
  try {
    const { DecompressStream } = require('zstd-napi') as typeof import('zstd-napi');
    return new DecompressStream();
  } catch {
    // zstd-napi is native; when its build is missing, the pure-JS decoder is half as fast but works.
    return fzstdStream();
  }
}

/** zstd through fzstd (pure JS). fzstd may hand out views of its window buffer: copy each piece. */
export function fzstdStream(): Transform {
  const { Decompress } = require('fzstd') as typeof import('fzstd');
  let sink: Transform | undefined;
  const d = new Decompress((chunk) => { sink!.push(Buffer.from(chunk)); });
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sink = this;
      try { d.push(chunk); cb(); } catch (e) { cb(e as Error); }
    },
    flush(cb) {
      sink = this;
      try { d.push(new Uint8Array(0), true); cb(); } catch (e) { cb(e as Error); }
    },
  });
}

/** The uncompressed bytes of a layer blob, as an async sequence of Buffers. */
export async function* decompressedChunks(blob: Readable, onRawBytes?: (total: number) => void, onKind?: (k: Compression) => void): AsyncGenerator<Buffer> {
  let raw = 0;
  const count = (b: Buffer) => { raw += b.length; onRawBytes?.(raw); return b; };
  const it = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Gather at least 4 bytes to recognise the format.
  const head: Buffer[] = [];
  let headLen = 0;
  while (headLen < 4) {
    const n = await it.next();
    if (n.done) break;
    const b = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value);
    head.push(b);
    headLen += b.length;
  }
  const first = Buffer.concat(head);
  const kind = sniffCompression(first);
  onKind?.(kind);
  let sourceError: unknown;
  async function* rest(): AsyncGenerator<Buffer> {
    if (first.length) yield count(first);
    for (;;) {
      let n: IteratorResult<Buffer>;
      try { n = await it.next(); } catch (e) { sourceError = e; throw e; }
      if (n.done) return;
      yield count(Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value));
    }
  }
  if (kind === 'none') { yield* rest(); return; }
  const dec = kind === 'gzip' ? zlib.createGunzip({ chunkSize: CHUNK, highWaterMark: 4 * CHUNK } as zlib.ZlibOptions) : zstdStream();
  const out = pipeline(ReadableStream.from(rest(), { objectMode: false, highWaterMark: CHUNK }), dec, () => {});
  try {
    for await (const c of out as AsyncIterable<Buffer>) yield c;
  } catch (e) {
    if (sourceError !== undefined) throw sourceError;
    throw invalidArgument(`layer is not valid ${kind} data: ${(e as Error).message}`, e);
  } finally {
    dec.destroy();
    blob.destroy();
  }
}
