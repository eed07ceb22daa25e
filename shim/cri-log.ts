// Reading the CRI log a monitor writes: `<RFC3339Nano> stdout|stderr F|P <text>`, one record a
// line; P records are pieces of one long (or unterminated) line. Tail, timestamps, and follow
// across the monitor's rotation (log -> log.1 -> ... log.N).
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { BerthError } from '../lib/errors.js';

export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** true for a P record: the text continues in the next record of the same stream */
  partial: boolean;
  text: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s;

export function parseLogLine(line: string): LogRecord | undefined {
  const m = RECORD.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as LogRecord['stream'], partial: m[3] === 'P', text: m[4]! };
}

export function formatLogRecord(r: LogRecord): string {
  return `${r.time} ${r.stream} ${r.partial ? 'P' : 'F'} ${r.text}\n`;
}

/** The rotated files, oldest first, then the live log. */
export function logFiles(logPath: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; ; i++) {
    if (!fs.existsSync(`${logPath}.${i}`)) break;
    rotated.push(`${logPath}.${i}`);
  }
  return [...rotated.reverse(), logPath].filter((f) => fs.existsSync(f));
}

function parseText(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    const r = line ? parseLogLine(line) : undefined;
    if (r) out.push(r);
  }
  return out;
}

/**
 * Records from oldest to newest. `tail` counts whole lines (a run of P records and its closing
 * F record is one line), like `docker logs --tail`.
 */
export function readLogs(logPath: string, opts: { tail?: number } = {}): LogRecord[] {
  const files = logFiles(logPath);
  if (!files.length) throw new BerthError('NOT_FOUND', `log ${logPath} does not exist`);
  const all: LogRecord[] = [];
  // A last line without its newline is still being written: it is read once complete.
  for (const f of files) consume(fs.readFileSync(f, 'utf8'), all);
  return opts.tail === undefined ? all : tailRecords(all, opts.tail);
}

export function tailRecords(records: LogRecord[], n: number): LogRecord[] {
  if (n <= 0) return [];
  let lines = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    // A line ends at an F record; a trailing P run (a line still being written) counts as one too.
    if (!records[i]!.partial || i === records.length - 1) {
      if (lines === n) return records.slice(i + 1);
      lines++;
    }
  }
  return records;
}

export interface FollowOptions {
  tail?: number;
  /** keep reading as the log grows (and rotates) until `until` settles or `signal` aborts */
  follow?: boolean;
  until?: Promise<unknown>;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Existing records (after tail), then, when following, new ones as they arrive. */
export async function* followLogs(logPath: string, opts: FollowOptions = {}): AsyncGenerator<LogRecord> {
  let fd: number;
  try {
    fd = fs.openSync(logPath, 'r');
  } catch (e) {
    throw new BerthError('NOT_FOUND', `log ${logPath} does not exist`, { cause: e });
  }
  try {
    // Rotated files first, then the live one through the fd we keep, so nothing falls between.
    const old: LogRecord[] = [];
    for (const f of logFiles(logPath)) if (f !== logPath) consume(fs.readFileSync(f, 'utf8'), old);
    let pos = 0;
    let carry = '';
    // A read may end inside a multi-byte character: the decoder holds it for the next read.
    let dec = new StringDecoder('utf8');
    const first: LogRecord[] = [];
    for (let chunk = readFrom(fd, pos); chunk.length; chunk = readFrom(fd, pos)) {
      pos += chunk.length;
      carry = consume(carry + dec.write(chunk), first);
    }
    const existing = [...old, ...first];
    for (const r of opts.tail === undefined ? existing : tailRecords(existing, opts.tail)) yield r;
    if (!opts.follow) return;

    let stopping = false;
    opts.until?.then(() => { stopping = true; }, () => { stopping = true; });
    for (;;) {
      const chunk = readFrom(fd, pos);
      if (chunk.length) {
        pos += chunk.length;
        const got: LogRecord[] = [];
        carry = consume(carry + dec.write(chunk), got);
        for (const r of got) yield r;
        continue;
      }
      // At the end of this file: if the monitor rotated, the old file is finished: take the new one.
      let ino: number | undefined;
      try {
        ino = fs.statSync(logPath).ino;
      } catch {
        ino = undefined;
      }
      if (ino !== undefined && ino !== fs.fstatSync(fd).ino) {
        fs.closeSync(fd);
        fd = fs.openSync(logPath, 'r');
        pos = 0;
        carry = '';
        dec = new StringDecoder('utf8');
        continue;
      }
      // Stop only after a read found nothing more: the monitor writes the log before exit.json.
      if (stopping || opts.signal?.aborted) return;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Parse the complete lines of `text` into `out`; return the unfinished rest. */
function consume(text: string, out: LogRecord[]): string {
  const cut = text.lastIndexOf('\n');
  out.push(...parseText(text.slice(0, cut + 1)));
  return text.slice(cut + 1);
}

const readBuf = Buffer.alloc(64 * 1024);

// The returned bytes are only valid until the next call (the decoder copies what it keeps).
function readFrom(fd: number, pos: number): Buffer {
  const buf = readBuf;
  const n = fs.readSync(fd, buf, 0, buf.length, pos);
  return buf.subarray(0, n);
}
