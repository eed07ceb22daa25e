// Where a CLI call's time goes: `BERTH_TIMING=1` prints each phase (ms since the process started,
// and since the previous mark) to stderr at exit. performance.now() counts from process start, so the
// first mark also shows what Node's own start-up cost.
const enabled = Boolean(process.env.BERTH_TIMING);
const marks: [string, number][] = [];
let origin = 0;
let reporting = false;
let label = '';

export function mark(name: string): void {
  if (!enabled) return;
  if (!reporting) { reporting = true; process.once('exit', report); }
  marks.push([name, performance.now()]);
}

/**
 * A warm process's call starts at its handoff, not at the process's start: marks so far are dropped and
 * later ones count from `at` (a performance.now() value); the line names the process.
 */
export function restartTiming(at: number, name: string): void {
  marks.length = 0;
  origin = at;
  label = ` (${name})`;
}

function report(): void {
  let prev = origin;
  const parts = marks.map(([n, t]) => { const s = `${n}=${(t - prev).toFixed(1)}`; prev = t; return s; });
  process.stderr.write(`berth-timing${label}: ${parts.join(' ')} total=${(performance.now() - origin).toFixed(1)}\n`);
}
