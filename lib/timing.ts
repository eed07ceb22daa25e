// Where a CLI call's time goes: `BERTH_TIMING=1` prints each phase (ms since the process started,
// and since the previous mark) to stderr at exit. performance.now() counts from process start, so the
// first mark also shows what Node's own start-up cost.
const enabled = Boolean(process.env.BERTH_TIMING);
const marks: [string, number][] = [];

export function mark(name: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.once('exit', report);
  marks.push([name, performance.now()]);
}

function report(): void {
  let prev = 0;
  const parts = marks.map(([n, t]) => { const s = `${n}=${(t - prev).toFixed(1)}`; prev = t; return s; });
  process.stderr.write(`berth-timing: ${parts.join(' ')} total=${performance.now().toFixed(1)}\n`);
}
