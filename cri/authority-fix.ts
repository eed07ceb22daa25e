// Go gRPC clients of the cri-api era crictl/critest v1.26 use (and kubelets before 1.26) send the
// unix socket's path as the HTTP/2 :authority. Node's HTTP/2 (nghttp2) rejects an authority with
// '/' in it (RST_STREAM PROTOCOL_ERROR) before grpc-js sees the call, and has no switch to relax it.
// Such a connection passes through a small filter: client->server HEADERS blocks are decoded (HPACK,
// with the connection's dynamic table), :authority becomes "localhost", and the block is re-encoded;
// every other frame and the server->client direction pass unchanged.
// The filter is a JS stream, which Node's HTTP/2 can only drive through its JS socket adapter: a few
// ms more per call than a socket it reads natively. So each connection is first looked at
// (`acceptGrpcConnection`) up to its first request: a channel keeps one authority, and a client that
// names a proper one gets its socket handed over as it is, with what was read put back.
import { Duplex } from 'node:stream';
import net from 'node:net';
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

interface Frame { type: number; flags: number; streamId: number; whole: Buffer; payload: Buffer }

/** Splits what a client sends into its connection preface and whole frames; a partial frame waits for more. */
class FrameSplitter {
  private prefaceLeft = PREFACE_LEN;
  private buf: Buffer = Buffer.alloc(0);

  /** What `d` completes: bytes of the preface (to pass on as they are) and whole frames. */
  push(d: Buffer): { preface?: Buffer; frames: Frame[] } {
    let preface: Buffer | undefined;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, d.length);
      preface = d.subarray(0, n);
      this.prefaceLeft -= n;
      d = d.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const frames: Frame[] = [];
    while (this.buf.length >= FRAME_HEADER) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < FRAME_HEADER + len) break;
      const whole = this.buf.subarray(0, FRAME_HEADER + len);
      frames.push({ type: whole[3], flags: whole[4], streamId: whole.readUInt32BE(5) & 0x7fffffff, whole, payload: whole.subarray(FRAME_HEADER) });
      this.buf = this.buf.subarray(FRAME_HEADER + len);
    }
    return { preface, frames };
  }

  /** The bytes of a frame that is not whole yet. */
  get rest(): Buffer { return this.buf; }
}

const TYPE_SETTINGS = 0x4;
const FLAG_ACK = 0x1;
/** How long a new connection may go without a request before it is served through the filter. */
const FIRST_REQUEST_WAIT_MS = 200;
/** An empty SETTINGS frame: the server's connection preface, all defaults. */
const EMPTY_SETTINGS = frame(TYPE_SETTINGS, 0, 0, Buffer.alloc(0));

/** A header block's fragment of a HEADERS frame's payload: without padding and priority. */
function headersFragment(flags: number, payload: Buffer): Buffer {
  let p = payload;
  let pad = 0;
  if (flags & FLAG_PADDED) { pad = p[0]; p = p.subarray(1); }
  if (flags & FLAG_PRIORITY) p = p.subarray(5); // stream priority is advisory and deprecated: dropped
  return p.subarray(0, p.length - pad);
}

function decodeBlock(decoder: ReturnType<Hpack['decompressor']['create']>, block: Buffer[]): HpackHeader[] {
  decoder.write(Buffer.concat(block));
  decoder.execute();
  const headers: HpackHeader[] = [];
  for (let x = decoder.read(); x; x = decoder.read()) headers.push(x);
  return headers;
}

/**
 * Reads a new connection up to its first request's headers, then hands it to `inject`: the socket
 * itself (what was read put back) when the authority is fine, else the filter over it.
 * Go clients send no request before the server's SETTINGS: an empty one goes out at once, and the
 * client's ACK of it is taken out of the stream (nghttp2 sends SETTINGS of its own and would take an
 * ACK it did not ask for as a protocol error); the handover waits for that ACK too. A client that
 * makes no request soon (an idle channel that may still PING) gets the filter, which serves any.
 */
export function acceptGrpcConnection(sock: net.Socket, inject: (conn: net.Socket | Duplex) => void): void {
  sock.write(EMPTY_SETTINGS);
  const decoder = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  const split = new FrameSplitter();
  const kept: Buffer[] = [];
  let acked = false;
  let verdict: 'fine' | 'fix' | undefined;
  let block: Buffer[] | undefined;
  let idle = false;
  let handedOver = false;
  const fail = (e: Error) => { clearTimeout(timer); sock.destroy(e); };
  const handOver = () => {
    const v = verdict ?? (idle ? 'fix' : undefined);
    if (handedOver || !acked || !v) return;
    handedOver = true;
    clearTimeout(timer);
    sock.removeListener('data', onData);
    sock.removeListener('error', fail);
    sock.removeListener('close', onClose);
    sock.pause();
    const read = Buffer.concat([...kept, split.rest]);
    if (v === 'fine') {
      sock.unshift(read);
      inject(sock);
    } else {
      inject(new AuthorityFix(sock, read));
    }
  };
  const timer = setTimeout(() => { idle = true; handOver(); }, FIRST_REQUEST_WAIT_MS);
  const onClose = () => clearTimeout(timer);
  const onData = (d: Buffer) => {
    const { preface, frames } = split.push(d);
    if (preface) kept.push(preface);
    for (const { type, flags, whole, payload } of frames) {
      if (type === TYPE_SETTINGS && flags & FLAG_ACK && !acked) { acked = true; continue; }
      kept.push(whole);
      if (verdict) continue;
      if (type === TYPE_HEADERS) block = [headersFragment(flags, payload)];
      else if (type === TYPE_CONTINUATION && block) block.push(payload);
      else continue;
      if (flags & FLAG_END_HEADERS) {
        try { verdict = decodeBlock(decoder, block!).some(badAuthority) ? 'fix' : 'fine'; } catch (e) { fail(e as Error); return; }
      }
    }
    handOver();
  };
  sock.on('data', onData);
  sock.on('error', fail);
  sock.on('close', onClose);
}

export class AuthorityFix extends Duplex {
  private split = new FrameSplitter();
  private pending?: { streamId: number; flags: number; block: Buffer[] };
  private decoder = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  private encoder = hpack.compressor.create({ table: { size: TABLE_SIZE } });

  /** `initial`: what was read from the socket before (from the client's preface on). */
  constructor(private sock: net.Socket, initial?: Buffer) {
    super();
    if (initial?.length) {
      try {
        const out = this.rewriteChunk(initial);
        if (out.length) this.push(out);
      } catch (e) {
        this.destroy(e as Error);
      }
    }
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
    const out: Buffer[] = [];
    const { preface, frames } = this.split.push(d);
    if (preface) out.push(preface);
    for (const { type, flags, streamId, whole, payload } of frames) {
      if (type === TYPE_HEADERS) {
        this.pending = { streamId, flags, block: [headersFragment(flags, payload)] };
      } else if (type === TYPE_CONTINUATION && this.pending) {
        this.pending.block.push(payload);
      } else {
        out.push(whole);
        continue;
      }
      if (flags & FLAG_END_HEADERS) {
        const h = this.pending!;
        this.pending = undefined;
        // every block re-encoded: the server's HPACK table is this encoder's, no longer the client's
        out.push(this.rewrite(h, this.decode(h.block)));
      }
    }
    return Buffer.concat(out);
  }

  private decode(block: Buffer[]): HpackHeader[] {
    return decodeBlock(this.decoder, block);
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
