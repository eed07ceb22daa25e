// Where one operation (an engine's create/start/remove, a runtime's create) spends its time, for
// BERTH_TIMING=1. lib/timing.ts keeps one line per process, which suits a CLI call; a daemon or a planner
// runs many operations at once, so each one prints its own line when it ends:
//   berth-timing: runtime.create ID read-bundle=0.9 ... total=9.1 | cgroup-mkdir@1.1=0.4 | init: plan=0.2 ...
// Marks are the critical path (time since the previous mark); points are moments (`name@t`, ms since the
// start); spans are work running beside the path (when it began and how long it took); notes are another
// process's own split (berth-init's). Disabled, every call is a no-op on a shared object.

export interface OpTimer {
  mark(name: string): void;
  point(name: string): void;
  span<T>(name: string, work: Promise<T>): Promise<T>;
  note(from: string, split: string): void;
  /** Print the line (once); later calls are ignored. */
  end(): void;
}

const off: OpTimer = { mark() {}, point() {}, span: (_n, w) => w, note() {}, end() {} };

export interface OpTimerOptions {
  /** whose BERTH_TIMING decides (a planner serves callers with their own environments) */
  env?: NodeJS.ProcessEnv;
  print?: (line: string) => void;
}

export function opTimer(scope: string, op: string, id: string, opts: OpTimerOptions = {}): OpTimer {
  if (!(opts.env ?? process.env).BERTH_TIMING) return off;
  const print = opts.print ?? ((line: string) => { process.stderr.write(line); });
  const t0 = performance.now();
  let prev = t0;
  let done = false;
  const marks: string[] = [];
  const spans: string[] = [];
  const notes: string[] = [];
  const ms = (x: number) => x.toFixed(1);
  return {
    mark(name) {
      if (done) return;
      const now = performance.now();
      marks.push(`${name}=${ms(now - prev)}`);
      prev = now;
    },
    point(name) {
      if (!done) marks.push(`${name}@${ms(performance.now() - t0)}`);
    },
    span(name, work) {
      const start = performance.now();
      const record = () => { spans.push(`${name}@${ms(start - t0)}=${ms(performance.now() - start)}`); };
      work.then(record, record);
      return work;
    },
    note(from, split) {
      if (split) notes.push(`${from}: ${split}`);
    },
    end() {
      if (done) return;
      done = true;
      const tail = [spans.join(' '), ...notes].filter(Boolean).map((s) => ` | ${s}`).join('');
      print(`berth-timing: ${scope}.${op} ${id} ${marks.join(' ')} total=${ms(performance.now() - t0)}${tail}\n`);
    },
  };
}
