#!/usr/bin/env node
// berth-runtime vs runc vs crun: `run` of /bin/true in a busybox bundle (create+start+wait+delete),
// median over N runs, interleaved so machine noise hits every runtime alike. Prints ratios and peak RSS.
// berth-runtime runs twice: cold (the Node CLI, BERTH_RUNTIME_PLANNER=off) and as the thin client of a
// resident planner this bench starts on a temporary socket for the run and stops afterwards.
// Usage: node bench/runtime.mjs [runs]   (root)
//   BERTH_BENCH_BASE=DIR  also runs the berth-runtime of another built checkout (DIR, e.g. the last
//                         commit's: git archive HEAD | tar -x -C DIR, then build it) with a planner of
//                         its own, side by side: before/after numbers from one run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';
import { makeBundle, median, timeRun, peakRssKiB, have } from './lib.mjs';

const hybrid = fs.existsSync('/sys/fs/cgroup/unified');
const runs = Number(process.argv[2] ?? 30);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plannerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-planner-'));
const plannerSocket = path.join(plannerDir, 'planner.sock');
const baseRepo = process.env.BERTH_BENCH_BASE;
const baseSocket = path.join(plannerDir, 'base-planner.sock');
const planner = spawn(path.join(repo, 'bin/berth-runtime-node'), ['planner', '--socket', plannerSocket], { stdio: ['ignore', 'ignore', 'inherit'] });
const basePlanner = baseRepo ? spawn(path.join(baseRepo, 'bin/berth-runtime-node'), ['planner', '--socket', baseSocket], { stdio: ['ignore', 'ignore', 'inherit'] }) : undefined;
for (let i = 0; i < 500 && !(fs.existsSync(plannerSocket) && (!baseRepo || fs.existsSync(baseSocket))); i++) await new Promise((r) => setTimeout(r, 10));
const runtimes = [
  ...(baseRepo ? [{ name: 'base (planner)', root: 'berth-runtime-base', bin: path.join(baseRepo, 'bin/berth-runtime'), env: { BERTH_RUNTIME_PLANNER: baseSocket } }] : []),
  { name: 'berth-runtime', bin: path.join(repo, 'bin/berth-runtime'), env: { BERTH_RUNTIME_PLANNER: 'off' } },
  { name: 'berth-runtime (planner)', root: 'berth-runtime-planner', bin: path.join(repo, 'bin/berth-runtime'), env: { BERTH_RUNTIME_PLANNER: plannerSocket } },
  { name: 'runc', bin: 'runc' },
  // crun refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"): on such hosts it can
  // only run with its cgroup manager disabled, which the output says.
  { name: 'crun', bin: 'crun', global: hybrid ? ['--cgroup-manager=disabled'] : [] },
].filter((r) => r.bin.startsWith('/') ? fs.existsSync(r.bin) : have(r.bin));

const bundle = makeBundle(['/bin/true']);
const rootOf = (r) => `/run/berth-bench-${r.root ?? r.name}`;
const optsOf = (r, extra = {}) => ({ env: { ...process.env, ...r.env, ...extra } });
const cmd = (r, ...args) => [...(r.global ?? []), '--root', rootOf(r), ...args];
// A runtime that cannot run here at all is reported and left out rather than failing the whole run.
for (const r of [...runtimes]) {
  const p = spawnSync(r.bin, cmd(r, 'run', '--bundle', bundle, `probe-${process.pid}`), { encoding: 'utf8', ...optsOf(r) });
  spawnSync(r.bin, cmd(r, 'delete', '--force', `probe-${process.pid}`), optsOf(r));
  if (p.status !== 0) {
    console.log(`${r.name}: cannot run on this host, left out: ${(p.stderr || p.stdout).trim().split('\n').pop()}`);
    runtimes.splice(runtimes.indexOf(r), 1);
  }
}
const times = Object.fromEntries(runtimes.map((r) => [r.name, []]));
// Who runs right after whom matters on cgroup v1: the first cgroup.procs write after a quiet spell
// waits for an RCU grace period (5-25 ms), one soon after another's does not. So every round runs the
// runtimes in a new random order (a fixed or rotated order gives each the same predecessor every time),
// and BERTH_BENCH_GAP_MS (default 0) puts a quiet spell before each run: with ~100 every run pays the
// wait, as a lone `run` on a quiet host does.
const gapMs = Number(process.env.BERTH_BENCH_GAP_MS ?? 0);
const shuffled = (xs) => {
  const a = [...xs];
  for (let k = a.length - 1; k > 0; k--) { const j = Math.floor(Math.random() * (k + 1)); [a[k], a[j]] = [a[j], a[k]]; }
  return a;
};
for (let i = 0; i < runs; i++) {
  for (const r of shuffled(runtimes)) {
    if (gapMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, gapMs);
    const id = `bench-${process.pid}-${i}`;
    times[r.name].push(timeRun(r.bin, cmd(r, 'run', '--bundle', bundle, id), optsOf(r)));
    // `run` without --detach deletes the container itself only for some runtimes: be sure.
    spawnSync(r.bin, cmd(r, 'delete', '--force', id), optsOf(r));
  }
}
const base = median(times.runc ?? [1]);
console.log(`runtime run /bin/true, median of ${runs} (ms), ratio to runc, peak RSS (KiB); quiet spell before each run: ${gapMs} ms`);
for (const r of runtimes) {
  const m = median(times[r.name]);
  // peakRssKiB runs the command with our environment: lend it this runtime's for the call.
  const saved = { ...process.env };
  Object.assign(process.env, r.env ?? {});
  const rss = peakRssKiB(r.bin, cmd(r, 'run', '--bundle', bundle, `rss-${process.pid}`));
  for (const k of Object.keys(r.env ?? {})) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; }
  spawnSync(r.bin, cmd(r, 'delete', '--force', `rss-${process.pid}`), optsOf(r));
  const note = r.global?.length ? '  (' + r.global.join(' ') + ')' : r.name.includes('planner') ? `  (client only; planner RSS ${vmRssKiB(planner.pid)} KiB)` : '';
  console.log(`${r.name.padEnd(24)} ${m.toFixed(1).padStart(8)} ms  x${(m / base).toFixed(2)}  rss ${rss ?? '?'} KiB${note}`);
}
// Where berth-runtime's time goes, median of 5 runs per phase. Cold (BERTH_TIMING marks of the Node CLI):
// Node start, bundle read+validate, plan+clone, cgroups, init's setup, start, wait, delete. Through the
// planner (the client's marks): connect, plan (request until berth-init is asked for), init (until
// berth-init's parent exits: the container is created), start, wait, finish (delete). Then the create's
// own line (lib/op-timer.ts): its critical path, the cgroup work beside it (name@start=ms) and
// berth-init's split (init-parent: before the clone; init: the container process until 'created').
for (const r of runtimes.filter((x) => x.name.startsWith('berth-runtime') || x.name.startsWith('base'))) {
  const split = {};
  const create = {};
  const add = (into, k, v) => { if (k && Number.isFinite(Number(v))) (into[k] ??= []).push(Number(v)); };
  for (let i = 0; i < 5; i++) {
    const p = spawnSync(r.bin, cmd(r, 'run', '--bundle', bundle, `split-${process.pid}-${i}`), { encoding: 'utf8', ...optsOf(r, { BERTH_TIMING: '1' }) });
    for (const [, line] of p.stderr.matchAll(/^berth-timing: (.*)$/mg)) {
      const m = /^runtime\.create \S+ (.*)$/.exec(line);
      if (!m) { for (const kv of line.split(' ')) add(split, ...kv.split('=')); continue; }
      for (const part of m[1].split(' | ')) {
        const from = /^(init-parent|init): /.exec(part)?.[1];
        for (const kv of part.replace(/^[\w-]+: /, '').split(' ')) {
          const [k, v] = kv.split('=');
          add(create, from ? `${from}.${k}` : k.replace(/@.*/, ''), v);
        }
      }
    }
  }
  const fmt = (o) => Object.entries(o).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ');
  console.log(`${r.name} time split (ms): ${fmt(split)}`);
  console.log(`${r.name} create split (ms): ${fmt(create)}`);
}
for (const p of [planner, basePlanner].filter(Boolean)) {
  p.kill('SIGTERM');
  await new Promise((r) => p.exitCode !== null ? r() : p.once('exit', r));
}
fs.rmSync(plannerDir, { recursive: true, force: true });
fs.rmSync(bundle, { recursive: true, force: true });
// every runtime used the same cgroup parent: remove what is left of it
for (const c of fs.readdirSync('/sys/fs/cgroup')) {
  for (const d of ['/berth-bench/c', '/berth-bench']) try { fs.rmdirSync(`/sys/fs/cgroup/${c}${d}`); } catch {}
}

function vmRssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return '?';
  }
}
