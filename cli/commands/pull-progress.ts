// Pull progress: on a terminal one bar per layer, redrawn in place; otherwise one plain line per
// state change (what logs and CI want); nothing but the final digest with --quiet.
import type { PullEvent } from '../../image/index.js';
import { humanSize, shortId } from './image-common.js';

interface LayerState { status: string; done: number; total: number }

export function progressPrinter(opts: { quiet?: boolean; tty?: boolean; out?: NodeJS.WriteStream }): { onEvent: (e: PullEvent) => void; finish(): void } {
  const out = opts.out ?? process.stderr;
  const tty = opts.tty ?? Boolean(out.isTTY);
  const layers = new Map<string, LayerState>();
  let drawn = 0;
  let lastDraw = 0;

  const bar = (s: LayerState) => {
    const width = 30;
    const frac = s.total ? Math.min(1, s.done / s.total) : 1;
    const fill = Math.round(frac * width);
    return `[${'='.repeat(Math.max(0, fill - 1))}${fill ? '>' : ''}${' '.repeat(width - fill)}] ${humanSize(s.done)}/${humanSize(s.total)}`;
  };
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    let s = drawn ? `\x1b[${drawn}A` : '';
    for (const [d, st] of layers) {
      const label = st.status === 'downloading' ? bar(st) : st.status === 'exists' ? 'Already exists' : st.status === 'verified' ? 'Download complete' : st.status === 'unpacked' ? 'Pull complete' : 'Waiting';
      s += `\x1b[2K${shortId(d)}: ${label}\n`;
    }
    drawn = layers.size;
    out.write(s);
  };

  return {
    onEvent(e) {
      if (opts.quiet) return;
      if (e.type === 'resolved') { out.write(`Resolved ${e.reference} to ${e.digest}\n`); return; }
      if (e.type === 'manifest') { if (!tty) out.write(`Manifest ${e.digest}${e.platform ? ` for ${e.platform}` : ''}\n`); return; }
      if (e.type === 'unpacked') {
        for (const st of layers.values()) st.status = 'unpacked';
        if (tty) draw(true); else out.write(`Unpacked to snapshot ${e.chainId}\n`);
        return;
      }
      if (e.type === 'done') return;
      const prev = layers.get(e.digest);
      layers.set(e.digest, { status: e.status, done: e.done, total: e.total });
      if (tty) { draw(e.status !== 'downloading'); return; }
      if (prev?.status === e.status) return; // plain mode: state changes only
      const what = e.status === 'waiting' ? `Waiting (${humanSize(e.total)})` : e.status === 'downloading' ? 'Downloading' : e.status === 'exists' ? 'Already exists' : 'Download complete';
      out.write(`${shortId(e.digest)}: ${what}\n`);
    },
    finish() { if (tty && !opts.quiet && layers.size) draw(true); },
  };
}
