#!/usr/bin/env node
// berth-runtime vs runc vs crun: `run` of /bin/true in a busybox bundle (create+start+wait+delete),
// median over N runs, interleaved so machine noise hits every runtime alike. Prints ratios and peak RSS.
// berth-runtime runs twice: cold (the Node CLI, BERTH_RUNTIME_PLANNER=off) and as the thin client of a
// resident planner this bench starts on a temporary socket for the run and stops afterwards.
// Usage: node bench/runtime.mjs [runs]   (root)
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
const planner = spawn(path.join(repo, 'bin/berth-runtime-node'), ['planner', '--socket', plannerSocket], { stdio: ['ignore', 'ignore', 'inherit'] });
for (let i = 0; i < 500 && !fs.existsSync(plannerSocket); i++) await new Promise((r) => setTimeout(r, 10));
const runtimes = [
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
for (let i = 0; i < runs; i++) {
  for (const r of runtimes) {
    const id = `bench-${process.pid}-${i}`;
    times[r.name].push(timeRun(r.bin, cmd(r, 'run', '--bundle', bundle, id), optsOf(r)));
    // `run` without --detach deletes the container itself only for some runtimes: be sure.
    spawnSync(r.bin, cmd(r, 'delete', '--force', id), optsOf(r));
  }
}
const base = median(times.runc ?? [1]);
console.log(`runtime run /bin/true, median of ${runs} (ms), ratio to runc, peak RSS (KiB)`);
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
// planner (the client's marks): connect, plan (request until berth-init is asked for: parse, validate,
// build the plan), init (berth-init's clone, cgroups, hooks, rootfs until 'created'), start, wait, finish (delete).
for (const r of runtimes.filter((x) => x.name.startsWith('berth-runtime'))) {
  const split = {};
  for (let i = 0; i < 5; i++) {
    const p = spawnSync(r.bin, cmd(r, 'run', '--bundle', bundle, `split-${process.pid}-${i}`), { encoding: 'utf8', ...optsOf(r, { BERTH_TIMING: '1' }) });
    const line = (p.stderr.match(/^berth-timing: (.*)$/m) ?? [])[1] ?? '';
    for (const kv of line.split(' ')) { const [k, v] = kv.split('='); if (k) (split[k] ??= []).push(Number(v)); }
  }
  console.log(`${r.name} time split (ms): ` + Object.entries(split).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', '));
}
planner.kill('SIGTERM');
await new Promise((r) => planner.exitCode !== null ? r() : planner.once('exit', r));
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
