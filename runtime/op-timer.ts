// Where one runtime operation spends its time, for BERTH_TIMING=1 in the caller's environment. A
// planner serves many calls at once, so each operation prints its own line to its caller's stderr:
//   berth-timing: runtime.create ID read-bundle=0.9 ... total=9.1 | cgroup-mkdir@1.1=0.4 join-init@2.0=8.7 | init: plan=0.2 clone=0.6 ...
// Marks are the critical path (time since the previous mark); spans are work running beside it (when it
// began, ms since the start, and how long it took); notes are another process's own split (berth-init).
// Disabled, every call is a no-op on a shared object.

export interface OpTimer {
  mark(name: string): void;
  span<T>(name: string, work: Promise<T>): Promise<T>;
  note(from: string, split: string): void;
  /** Print the line (once). */
  end(): void;
}

const off: OpTimer = { mark() {}, span: (_n, w) => w, note() {}, end() {} };

export function opTimer(env: NodeJS.ProcessEnv, op: string, id: string, print: (line: string) => void): OpTimer {
  if (!env.BERTH_TIMING) return off;
  const t0 = performance.now();
  let prev = t0;
  let done = false;
  const marks: string[] = [];
  const spans: string[] = [];
  const notes: string[] = [];
  const ms = (x: number) => x.toFixed(1);
  return {
    mark(name) {
      const now = performance.now();
      marks.push(`${name}=${ms(now - prev)}`);
      prev = now;
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
      print(`berth-timing: runtime.${op} ${id} ${marks.join(' ')} total=${ms(performance.now() - t0)}${tail}\n`);
    },
  };
}
