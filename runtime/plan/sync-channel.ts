// Node's side of the sync socket to berth-init (framing documented in native/berth-init.c):
// u32 LE length (type byte + payload), u8 type, payload.
import type { Socket } from 'node:net';
import { internal } from '../../lib/errors.js';

export interface Frame { type: string; payload: Buffer }

export class SyncChannel {
  private buf = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiters: Array<{ resolve: (f: Frame) => void; reject: (e: Error) => void }> = [];
  private closed: Error | undefined;

  constructor(private readonly sock: Socket, private describeClose: () => Error) {
    sock.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    const end = () => {
      if (this.closed) return;
      this.closed = this.describeClose();
      for (const w of this.waiters.splice(0)) w.reject(this.closed);
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', end);
  }

  private parse(): void {
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) return;
      const f = { type: String.fromCharCode(this.buf[4]), payload: this.buf.subarray(5, 4 + len) };
      this.buf = this.buf.subarray(4 + len);
      const w = this.waiters.shift();
      if (w) w.resolve(f); else this.frames.push(f);
    }
  }

  /** How a close reads from now on (the planner hands a client's connection over to berth-init). */
  describeCloseAs(describe: () => Error): void {
    this.describeClose = describe;
  }

  send(type: string, payload: Buffer | string = Buffer.alloc(0)): void {
    const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const h = Buffer.alloc(5);
    h.writeUInt32LE(p.length + 1, 0);
    h[4] = type.charCodeAt(0);
    if (!this.sock.destroyed) this.sock.write(Buffer.concat([h, p]));
  }

  next(): Promise<Frame> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  close(): void { this.sock.destroy(); }
}

export function unexpected(f: Frame, wanted: string): Error {
  return internal(`berth-init: expected ${wanted}, got message '${f.type}'`);
}
