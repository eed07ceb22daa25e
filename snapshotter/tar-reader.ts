// A streaming tar reader for layer blobs. tar-stream decodes PAX values as UTF-8, which corrupts
// binary xattrs (security.capability is raw little-endian bytes), so headers are parsed here and
// PAX values stay Buffers. Data is handed out as slices of the incoming chunks: no copies.
import { invalidArgument } from '../lib/errors.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number; // seconds, fractional when PAX says so
  atime?: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

const BLOCK = 512;

/** Pulls exact byte counts out of an async sequence of chunks. */
class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.done) return false;
      const n = await this.it.next();
      if (n.done) { this.done = true; return false; }
      this.buf = n.value;
      this.pos = 0;
    }
    return true;
  }

  /** Exactly n bytes, or null at a clean end of input before the first byte. */
  async read(n: number): Promise<Buffer | null> {
    if (this.buf.length - this.pos >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) {
        if (got === 0) return null;
        throw invalidArgument(`layer tar is truncated (wanted ${n} bytes, got ${got})`);
      }
      const take = Math.min(n - got, this.buf.length - this.pos);
      parts.push(this.buf.subarray(this.pos, this.pos + take));
      this.pos += take;
      got += take;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** Hand n bytes to `sink` as they arrive. */
  async pipe(n: number, sink: (b: Buffer) => void): Promise<void> {
    while (n > 0) {
      if (!(await this.fill())) throw invalidArgument('layer tar is truncated inside a file');
      const take = Math.min(n, this.buf.length - this.pos);
      sink(this.buf.subarray(this.pos, this.pos + take));
      this.pos += take;
      n -= take;
    }
  }

  async skip(n: number): Promise<void> {
    await this.pipe(n, () => {});
  }

  /** Consume everything left (the digest covers the whole stream, padding included). */
  async drain(): Promise<void> {
    this.pos = this.buf.length;
    while (await this.fill()) this.pos = this.buf.length;
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function num(b: Buffer, off: number, len: number, what: string): number {
  if (b[off] & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's top bit is the marker.
    let v = b[off] & 0x7f;
    if (v & 0x40) throw invalidArgument(`tar header: negative ${what}`);
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    if (!Number.isSafeInteger(v)) throw invalidArgument(`tar header: ${what} too large`);
    return v;
  }
  // Octal, space- or NUL-terminated, maybe space-padded in front. Parsed by hand: six or more fields
  // per entry made the string version 3% of a layer's apply.
  let start = off;
  let end = off + len;
  while (end > start && (b[end - 1] === 0 || b[end - 1] === 32)) end--;
  while (start < end && b[start] === 32) start++;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c < 48 || c > 55) throw invalidArgument(`tar header: bad ${what} field ${JSON.stringify(b.toString('latin1', start, end))}`);
    v = v * 8 + (c - 48);
  }
  return v;
}

function checksumOk(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  const want = num(h, 148, 8, 'checksum');
  return want === unsigned || want === signed;
}

function isZero(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** PAX extended header records: "<len> <key>=<value>\n", values kept as bytes. */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    if (sp === -1) throw invalidArgument('bad PAX header: no length');
    const len = Number(buf.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > buf.length || buf[off + len - 1] !== 0x0a) {
      throw invalidArgument('bad PAX header record');
    }
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw invalidArgument('bad PAX header record: no "="');
    out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1));
    off += len;
  }
  return out;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

export class TarReader {
  private readonly r: ChunkReader;
  private pending = 0; // bytes of the current entry's data not yet consumed (+ padding)
  private globalPax = new Map<string, Buffer>();
  private ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.r = new ChunkReader(source[Symbol.asyncIterator]());
  }

  /** The next entry, or null at the end of the archive. Unread data of the previous one is skipped. */
  async next(): Promise<TarEntry | null> {
    if (this.ended) return null;
    if (this.pending) { await this.r.skip(this.pending); this.pending = 0; }
    let pax: Map<string, Buffer> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await this.r.read(BLOCK);
      if (h === null || isZero(h)) { this.ended = true; return null; }
      if (!checksumOk(h)) throw invalidArgument('layer tar has a header with a bad checksum (not a tar, or corrupt)');
      const flag = String.fromCharCode(h[156]);
      let size = num(h, 124, 12, 'size');
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > 16 << 20) throw invalidArgument(`tar ${flag} header of ${size} bytes is too large`);
        const data = (await this.r.read(padded)) ?? Buffer.alloc(0);
        if (data.length < size) throw invalidArgument('layer tar is truncated in an extended header');
        const body = Buffer.from(data.subarray(0, size)); // own copy: it outlives the chunk
        if (flag === 'x') pax = new Map([...(pax ?? []), ...parsePax(body)]);
        else if (flag === 'g') for (const [k, v] of parsePax(body)) this.globalPax.set(k, v);
        else if (flag === 'L') longName = cstr(body, 0, body.length);
        else longLink = cstr(body, 0, body.length);
        continue;
      }
      const type = TYPES[flag];
      if (!type) throw invalidArgument(`tar entry type ${JSON.stringify(flag)} (${cstr(h, 0, 100)}) is not supported in a layer`);
      const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
      let name = cstr(h, 0, 100);
      if (ustar && h[345] !== 0) name = cstr(h, 345, 155) + '/' + name;
      const all = this.globalPax.size ? new Map([...this.globalPax, ...(pax ?? [])]) : pax ?? new Map<string, Buffer>();
      const str = (k: string) => all.get(k)?.toString('utf8');
      const e: TarEntry = {
        name: str('path') ?? longName ?? name,
        type,
        mode: num(h, 100, 8, 'mode'),
        uid: num(h, 108, 8, 'uid'),
        gid: num(h, 116, 8, 'gid'),
        size,
        mtime: num(h, 136, 12, 'mtime'),
        linkname: str('linkpath') ?? longLink ?? cstr(h, 157, 100),
        devmajor: type === 'char' || type === 'block' ? num(h, 329, 8, 'devmajor') : 0,
        devminor: type === 'char' || type === 'block' ? num(h, 337, 8, 'devminor') : 0,
        xattrs: new Map(),
      };
      for (const [k, v] of all) {
        switch (k) {
          case 'size': e.size = size = paxInt(v, k); break;
          case 'uid': e.uid = paxInt(v, k); break;
          case 'gid': e.gid = paxInt(v, k); break;
          case 'mtime': e.mtime = paxTime(v, k); break;
          case 'atime': e.atime = paxTime(v, k); break;
          default:
            if (k.startsWith('SCHILY.xattr.')) e.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
        }
      }
      // Only regular files carry data; a hardlink's size field is informational.
      const dataBytes = e.type === 'file' ? e.size : e.type === 'char' || e.type === 'block' || e.type === 'fifo' ? size : 0;
      this.pending = Math.ceil(dataBytes / BLOCK) * BLOCK;
      if (e.type !== 'file') e.size = 0;
      return e;
    }
  }

  /** Stream the current (regular file) entry's data into `sink`. */
  async readData(e: TarEntry, sink: (b: Buffer) => void): Promise<void> {
    await this.r.pipe(e.size, sink);
    this.pending -= e.size;
    const pad = this.pending;
    this.pending = 0;
    if (pad) await this.r.skip(pad);
  }

  /** Read past the end-of-archive blocks to the end of input. */
  async finish(): Promise<void> {
    while (!this.ended) await this.next();
    await this.r.drain();
  }
}

function paxInt(v: Buffer, k: string): number {
  const n = Number(v.toString('latin1'));
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`bad PAX ${k} value`);
  return n;
}

function paxTime(v: Buffer, k: string): number {
  const n = Number(v.toString('latin1'));
  if (!Number.isFinite(n)) throw invalidArgument(`bad PAX ${k} value`);
  return n;
}
