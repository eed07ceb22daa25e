// The attach socket's framing without a tty: Docker's multiplexed stream format, so the Engine
// API can relay it unchanged: [stream (1 stdout, 2 stderr), 0, 0, 0, length (u32 BE)] + payload.
export const FRAME_HEADER = 8;

export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (stream: 1 | 2, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= FRAME_HEADER) {
      const stream = this.buf[0];
      const len = this.buf.readUInt32BE(4);
      if (stream !== 1 && stream !== 2) throw new Error(`attach stream: bad frame type ${stream}`);
      if (this.buf.length < FRAME_HEADER + len) return;
      this.onFrame(stream, this.buf.subarray(FRAME_HEADER, FRAME_HEADER + len));
      this.buf = this.buf.subarray(FRAME_HEADER + len);
    }
  }

  /** Bytes of an unfinished frame (non-zero at end of stream means it was cut). */
  get pending(): number {
    return this.buf.length;
  }
}

export function encodeFrame(stream: 1 | 2, payload: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
