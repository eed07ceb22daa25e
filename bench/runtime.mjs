#!/usr/bin/env node
// berth-runtime vs runc vs crun: `run` of /bin/true in a busybox bundle (create+start+wait+delete),
// median over N runs, interleaved so machine noise hits every runtime alike. Prints ratios and peak RSS.
// Usage: node bench/runtime.mjs [runs]   (root)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { makeBundle, median, timeRun, peakRssKiB, have } from './lib.mjs';

const hybrid = fs.existsSync('/sys/fs/cgroup/unified');
const runs = Number(process.argv[2] ?? 30);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runtimes = [
  { name: 'berth-runtime', bin: path.join(repo, 'bin/berth-runtime') },
  { name: 'runc', bin: 'runc' },
  // crun refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"): on such hosts it can
  // only run with its cgroup manager disabled, which the output says.
  { name: 'crun', bin: 'crun', global: hybrid ? ['--cgroup-manager=disabled'] : [] },
].filter((r) => r.bin.startsWith('/') ? fs.existsSync(r.bin) : have(r.bin));

const bundle = makeBundle(['/bin/true']);
// A runtime that cannot run here at all is reported and left out rather than failing the whole run.
for (const r of [...runtimes]) {
  const root = `/run/berth-bench-${r.name}`;
  const p = spawnSync(r.bin, [...(r.global ?? []), '--root', root, 'run', '--bundle', bundle, `probe-${process.pid}`], { encoding: 'utf8' });
  spawnSync(r.bin, [...(r.global ?? []), '--root', root, 'delete', '--force', `probe-${process.pid}`]);
  if (p.status !== 0) {
    console.log(`${r.name}: cannot run on this host, left out: ${(p.stderr || p.stdout).trim().split('\n').pop()}`);
    runtimes.splice(runtimes.indexOf(r), 1);
  }
}
const times = Object.fromEntries(runtimes.map((r) => [r.name, []]));
for (let i = 0; i < runs; i++) {
  for (const r of runtimes) {
    const root = `/run/berth-bench-${r.name}`;
    const id = `bench-${process.pid}-${i}`;
    times[r.name].push(timeRun(r.bin, [...(r.global ?? []), '--root', root, 'run', '--bundle', bundle, id]));
    // `run` without --detach deletes the container itself only for some runtimes: be sure.
    spawnSync(r.bin, [...(r.global ?? []), '--root', root, 'delete', '--force', id]);
  }
}
const base = median(times.runc ?? [1]);
console.log(`runtime run /bin/true, median of ${runs} (ms), ratio to runc, peak RSS (KiB)`);
for (const r of runtimes) {
  const m = median(times[r.name]);
  const rss = peakRssKiB(r.bin, [...(r.global ?? []), '--root', `/run/berth-bench-${r.name}`, 'run', '--bundle', bundle, `rss-${process.pid}`]);
  spawnSync(r.bin, [...(r.global ?? []), '--root', `/run/berth-bench-${r.name}`, 'delete', '--force', `rss-${process.pid}`]);
  console.log(`${r.name.padEnd(14)} ${m.toFixed(1).padStart(8)} ms  x${(m / base).toFixed(2)}  rss ${rss ?? '?'} KiB${r.global?.length ? '  (' + r.global.join(' ') + ')' : ''}`);
}
// Where berth-runtime's time goes (BERTH_TIMING marks: Node start, bundle read+validate, plan+clone,
// cgroups, init's setup, start, wait, delete), median of 5 runs per phase.
if (runtimes.some((r) => r.name === 'berth-runtime')) {
  const split = {};
  for (let i = 0; i < 5; i++) {
    const p = spawnSync(path.join(repo, 'bin/berth-runtime'), ['--root', '/run/berth-bench-berth-runtime', 'run', '--bundle', bundle, `split-${process.pid}-${i}`], { encoding: 'utf8', env: { ...process.env, BERTH_TIMING: '1' } });
    const line = (p.stderr.match(/^berth-timing: (.*)$/m) ?? [])[1] ?? '';
    for (const kv of line.split(' ')) { const [k, v] = kv.split('='); if (k) (split[k] ??= []).push(Number(v)); }
  }
  console.log('berth-runtime time split (ms): ' + Object.entries(split).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', '));
}
fs.rmSync(bundle, { recursive: true, force: true });
// every runtime used the same cgroup parent: remove what is left of it
for (const c of fs.readdirSync('/sys/fs/cgroup')) {
  for (const d of ['/berth-bench/c', '/berth-bench']) try { fs.rmdirSync(`/sys/fs/cgroup/${c}${d}`); } catch {}
}
