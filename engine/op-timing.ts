// Where one engine operation (create, start, remove of one container) spends its time, for
// BERTH_TIMING=1. lib/timing.ts keeps one line per process, which suits a CLI call; a daemon runs many
// operations, so each one here prints its own line when it ends:
//   berth-timing: engine.create 1a2b3c4d5e6f lock=0.6 resolve=0.9 mount=3.1 ... total=11.8
// Disabled, every call is a no-op on a shared object.
const enabled = Boolean(process.env.BERTH_TIMING);

export interface OpTimer {
  /** the time since the previous mark (or the start), under `name` */
  mark(name: string): void;
  /** for steps that run alongside others: `name@t`, the time since the start */
  point(name: string): void;
  /** prints the line; later marks are ignored */
  end(): void;
}

const off: OpTimer = { mark() {}, point() {}, end() {} };

export function opTimer(op: string, id: string): OpTimer {
  if (!enabled) return off;
  const t0 = performance.now();
  let prev = t0;
  let done = false;
  const parts: string[] = [];
  return {
    mark(name) {
      if (done) return;
      const now = performance.now();
      parts.push(`${name}=${(now - prev).toFixed(1)}`);
      prev = now;
    },
    point(name) {
      if (!done) parts.push(`${name}@${(performance.now() - t0).toFixed(1)}`);
    },
    end() {
      if (done) return;
      done = true;
      process.stderr.write(`berth-timing: engine.${op} ${id.slice(0, 12)} ${parts.join(' ')} total=${(performance.now() - t0).toFixed(1)}\n`);
    },
  };
}
