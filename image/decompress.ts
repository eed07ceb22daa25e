// Layer bytes -> tar bytes, for docker-save archives (which carry uncompressed layers). The format
// is sniffed from the magic bytes, since Docker has labelled plain tars as gzip.
import { createRequire } from 'node:module';
import { PassThrough, Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from './media-types.js';

const require = createRequire(import.meta.url);

export function sniff(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export function decompressor(c: Compression): Transform {
  if (c === 'gzip') return zlib.createGunzip();
  if (c === 'zstd') {
    const { DecompressStream } = require('zstd-napi') as typeof import('zstd-napi');
    return new DecompressStream();
  }
  return new PassThrough();
}

/** Reads the first bytes of a file-backed stream factory to pick the decompressor. */
export function decompressedFile(open: () => Readable, head: Uint8Array): Readable {
  return open().pipe(decompressor(sniff(head)));
}
