// CRI timestamps are int64 nanoseconds since the epoch, carried as decimal strings (see proto.ts).

export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + BigInt(Number(process.hrtime.bigint() % 1_000_000n))).toString();
}

/** RFC 3339 with up to nanosecond digits -> nanoseconds; '0' when absent or unparsable. */
export function isoToNs(iso: string | undefined): string {
  if (!iso) return '0';
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!m) return '0';
  const ms = Date.parse(m[1] + m[3]);
  if (Number.isNaN(ms)) return '0';
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return (BigInt(ms) * 1_000_000n + BigInt(frac)).toString();
}
