// Go gRPC clients of the cri-api era crictl/critest v1.26 use (and kubelets before 1.26) send the
// unix socket's path as the HTTP/2 :authority. Node's HTTP/2 (nghttp2) rejects an authority with
// '/' in it (RST_STREAM PROTOCOL_ERROR) before grpc-js sees the call, and has no switch to relax it.
// So each connection passes through this small filter: client->server HEADERS blocks are decoded
// (HPACK, with the connection's dynamic table), :authority becomes "localhost", and the block is
// re-encoded; every other frame and the server->client direction pass unchanged. A client whose
// first request names a proper authority (a channel keeps one authority) needs none of this: the
// connection then passes through untouched, so the HPACK work is not paid on every call.
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface HpackHeader { name: string; value: string; neverIndex?: boolean }
interface Hpack {
  decompressor: { create(o: { table: { size: number } }): { write(b: Buffer): void; execute(): void; read(): HpackHeader | null } };
  compressor: { create(o: { table: { size: number } }): { write(h: HpackHeader[]): void; read(): Buffer | null } };
}
const hpack = require('hpack.js') as Hpack;

const PREFACE_LEN = 24;
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const MAX_FRAME = 16384; // the peer's default SETTINGS_MAX_FRAME_SIZE
const TABLE_SIZE = 4096; // HPACK's default dynamic table size, what Node's server announces

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

const badAuthority = (x: HpackHeader) => x.name === ':authority' && x.value.includes('/');

export class AuthorityFix extends Duplex {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE_LEN;
  private pending?: { streamId: number; flags: number; block: Buffer[]; raw: Buffer[] };
  /** no block has needed a rewrite so far: the server's HPACK table is still the client's own */
  private untouched = true;
  private passthrough = false;
  private decoder = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  private encoder = hpack.compressor.create({ table: { size: TABLE_SIZE } });

  constructor(private sock: net.Socket) {
    super();
    sock.on('data', (d: Buffer) => {
      try {
        const out = this.rewriteChunk(d);
        if (out.length && !this.push(out)) sock.pause();
      } catch (e) {
        this.destroy(e as Error);
      }
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
    sock.on('close', () => this.destroy());
  }

  override _read(): void { this.sock.resume(); }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void { this.sock.write(chunk, cb); }
  override _final(cb: (e?: Error | null) => void): void { this.sock.end(cb); }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void { this.sock.destroy(); cb(err); }

  private rewriteChunk(d: Buffer): Buffer {
    if (this.passthrough) return d;
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, d.length);
      out.push(d.subarray(0, n));
      this.prefaceLeft -= n;
      d = d.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= FRAME_HEADER) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < FRAME_HEADER + len) break;
      const type = this.buf[3];
      const flags = this.buf[4];
      const streamId = this.buf.readUInt32BE(5) & 0x7fffffff;
      const whole = this.buf.subarray(0, FRAME_HEADER + len);
      const payload = whole.subarray(FRAME_HEADER);
      this.buf = this.buf.subarray(FRAME_HEADER + len);
      if (type === TYPE_HEADERS) {
        let p = payload;
        let pad = 0;
        if (flags & FLAG_PADDED) { pad = p[0]; p = p.subarray(1); }
        if (flags & FLAG_PRIORITY) p = p.subarray(5); // stream priority is advisory and deprecated: dropped
        p = p.subarray(0, p.length - pad);
        this.pending = { streamId, flags, block: [p], raw: [whole] };
      } else if (type === TYPE_CONTINUATION && this.pending) {
        this.pending.block.push(payload);
        this.pending.raw.push(whole);
      } else {
        out.push(whole);
        continue;
      }
      if (flags & FLAG_END_HEADERS) {
        const h = this.pending!;
        this.pending = undefined;
        const headers = this.decode(h.block);
        if (this.untouched && !headers.some(badAuthority)) {
          out.push(...h.raw, this.buf);
          this.buf = Buffer.alloc(0);
          this.passthrough = true;
          break;
        }
        this.untouched = false;
        out.push(this.rewrite(h, headers));
      }
    }
    return Buffer.concat(out);
  }

  private decode(block: Buffer[]): HpackHeader[] {
    this.decoder.write(Buffer.concat(block));
    this.decoder.execute();
    const headers: HpackHeader[] = [];
    for (let x = this.decoder.read(); x; x = this.decoder.read()) headers.push(x);
    return headers;
  }

  private rewrite(h: { streamId: number; flags: number }, headers: HpackHeader[]): Buffer {
    const fixed = headers.map((x) => (badAuthority(x) ? { ...x, value: 'localhost' } : x));
    this.encoder.write(fixed.map((x) => ({ name: x.name, value: x.value, neverIndex: Boolean(x.neverIndex) })));
    const chunks: Buffer[] = [];
    for (let c = this.encoder.read(); c; c = this.encoder.read()) chunks.push(c);
    const block = Buffer.concat(chunks);
    const frames: Buffer[] = [];
    for (let off = 0, first = true; first || off < block.length; first = false) {
      const part = block.subarray(off, off + MAX_FRAME);
      off += part.length;
      const last = off >= block.length;
      frames.push(frame(first ? TYPE_HEADERS : TYPE_CONTINUATION, (first ? h.flags & FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0), h.streamId, part));
    }
    return Buffer.concat(frames);
  }
}
