#!/usr/bin/env node
// `berth run --rm IMAGE true` end to end, side by side with `ctr run --rm` (Debian containerd) and
// `docker run --rm` (Debian docker.io's dockerd), all on one busybox image imported into each, each
// daemon private (own root/state/socket under /tmp) and stopped after. Medians over interleaved
// runs, ratios, and a monitor's RSS next to containerd-shim-runc-v2's. `berth` runs as a user's would:
// served by the warm process its previous call left waiting (bin/berth); `berth (cold)` with
// BERTH_WARM=off starts Node for every call.
// Usage: node bench/cli.mjs [runs]   (root; builds the CLI bundle first: node scripts/build.mjs)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
import { median, timeRun, have } from './lib.mjs';

register();
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 15);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cli-'));
const REF = 'localhost/bench/bb:latest';
const runtime = process.env.BERTH_RUNTIME_BIN ?? path.join(repo, 'bin/berth-runtime');
const cleanups = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

async function waitFor(what, fn, ms = 30_000) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function startDaemon(cmd, args, log) {
  const out = fs.openSync(log, 'w');
  const p = spawn(cmd, args, { stdio: ['ignore', out, out], detached: true });
  cleanups.push(async () => {
    if (p.exitCode !== null) return;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await new Promise((r) => p.on('exit', r));
    clearTimeout(t);
  });
  return p;
}

// ---- the image, once: an OCI archive built from busybox-static ------------------------------
const { buildTestImage } = await import('../test/lib/containers.ts');
const { privateWarmDir } = await import('../test/lib/warm-cleanup.mjs');
// the bench's warm processes are its own, ended at its end
cleanups.push(async () => endWarm());
const endWarm = privateWarmDir();
const archive = await buildTestImage(work);

const contenders = [];

// ---- berth ----------------------------------------------------------------------------------
const berthArgs = ['--root', path.join(work, 'berth-root'), '--state', path.join(work, 'berth-state')];
const berthEnv = { ...process.env, BERTH_RUNTIME_BIN: runtime };
must(path.join(repo, 'bin/berth'), [...berthArgs, 'load', '-i', archive, '--name', REF], { env: berthEnv });
contenders.push({
  name: 'berth',
  run: () => timeRun(path.join(repo, 'bin/berth'), [...berthArgs, 'run', '--rm', REF, 'true'], { env: berthEnv }),
  async monitorRss() {
    const id = must(path.join(repo, 'bin/berth'), [...berthArgs, 'run', '-d', REF, 'sleep', '60'], { env: berthEnv }).trim();
    const pid = Number(fs.readFileSync(path.join(work, 'berth-root/containers', id, 'monitor/monitor.pid'), 'utf8'));
    const rss = rssKiB(pid);
    must(path.join(repo, 'bin/berth'), [...berthArgs, 'rm', '-f', id], { env: berthEnv });
    return rss;
  },
});

contenders.push({
  name: 'berth (cold, BERTH_WARM=off)',
  run: () => timeRun(path.join(repo, 'bin/berth'), [...berthArgs, 'run', '--rm', REF, 'true'], { env: { ...berthEnv, BERTH_WARM: 'off' } }),
});

// the same CLI on runc: tells berth's own share from its runtime's
if (have('runc') && !runtime.endsWith('/runc')) {
  const runcEnv = { ...process.env, BERTH_RUNTIME_BIN: spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim() };
  contenders.push({ name: 'berth+runc', run: () => timeRun(path.join(repo, 'bin/berth'), [...berthArgs, 'run', '--rm', REF, 'true'], { env: runcEnv }) });
}

// ---- containerd + ctr -----------------------------------------------------------------------
async function setupContainerd() {
  const d = path.join(work, 'containerd');
  fs.mkdirSync(d);
  const sock = path.join(d, 'containerd.sock');
  // CRI off: it wants networking and a daemon-wide setup the bench does not need.
  fs.writeFileSync(path.join(d, 'config.toml'), `version = 2\nroot = "${d}/root"\nstate = "${d}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${sock}"\n[ttrpc]\n  address = "${sock}.ttrpc"\n`);
  startDaemon('containerd', ['--config', path.join(d, 'config.toml')], path.join(d, 'log'));
  await waitFor('containerd socket', () => spawnSync('ctr', ['-a', sock, 'version']).status === 0);
  const ctr = (...a) => ['-a', sock, '-n', 'berth-bench-ctr', ...a];
  must('ctr', ctr('images', 'import', '--base-name', REF.replace(/:latest$/, ''), archive));
  let n = 0;
  contenders.push({
    name: 'ctr',
    run: () => timeRun('ctr', ctr('run', '--rm', REF, `b${process.pid}-${n++}`, 'true')),
    async monitorRss() {
      const id = `rss${process.pid}`;
      must('ctr', ctr('run', '-d', REF, id, 'sleep', '60'));
      const shim = spawnSync('pgrep', ['-f', `containerd-shim-runc-v2 -namespace berth-bench-ctr -id ${id}`], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
      const rss = shim ? rssKiB(Number(shim)) : undefined;
      spawnSync('ctr', ctr('tasks', 'kill', '-s', 'KILL', id));
      await sleep(300);
      spawnSync('ctr', ctr('tasks', 'delete', id));
      spawnSync('ctr', ctr('containers', 'delete', id));
      return rss;
    },
  });
}

// ---- dockerd + docker -----------------------------------------------------------------------
async function setupDocker() {
  const d = path.join(work, 'docker');
  fs.mkdirSync(d);
  const host = `unix://${d}/docker.sock`;
  // docker.io 20.10 loads docker archives only: skopeo converts the same image.
  const darchive = path.join(d, 'image.tar');
  must('skopeo', ['copy', '-q', `oci-archive:${archive}`, `docker-archive:${darchive}:${REF}`]);
  startDaemon('dockerd', ['--data-root', `${d}/data`, '--exec-root', `${d}/exec`, '-H', host, '--pidfile', `${d}/pid`,
    '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--cgroup-parent', '/berth-bench-docker'], path.join(d, 'log'));
  await waitFor('dockerd socket', () => spawnSync('docker', ['-H', host, 'version']).status === 0, 60_000);
  must('docker', ['-H', host, 'load', '-i', darchive]);
  contenders.push({ name: 'docker', run: () => timeRun('docker', ['-H', host, 'run', '--rm', '--network', 'none', REF, 'true']) });
}

try {
  if (have('containerd') && have('ctr')) {
    try { await setupContainerd(); } catch (e) { console.log(`ctr: left out: ${e.message.split('\n')[0]}`); }
  } else console.log('ctr: containerd is not installed (apt-get install containerd), left out');
  if (have('dockerd') && have('docker') && have('skopeo')) {
    try { await setupDocker(); } catch (e) { console.log(`docker: left out: ${e.message.split('\n')[0]}`); }
  } else console.log('docker: dockerd, docker or skopeo missing (apt-get install docker.io), left out');

  for (const c of contenders) { c.run(); c.run(); } // warm caches
  const times = Object.fromEntries(contenders.map((c) => [c.name, []]));
  // Interleaved so machine noise hits everyone alike, with a pause before each run: dockerd and
  // containerd finish their --rm cleanup in the background, which would otherwise bill the next contender.
  const settle = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  for (let i = 0; i < runs; i++) for (const c of contenders) { settle(); times[c.name].push(c.run()); }
  console.log(`run --rm IMAGE true, median of ${runs} (runtime for berth: ${path.basename(runtime)})`);
  const base = median(times.berth);
  for (const c of contenders) {
    const m = median(times[c.name]);
    console.log(`  ${c.name.padEnd(29)} ${m.toFixed(1).padStart(7)} ms   berth/${c.name} = ${(base / m).toFixed(2)}`);
  }
  console.log('per-container monitor RSS');
  const rss = {};
  for (const c of contenders) if (c.monitorRss) rss[c.name] = await c.monitorRss();
  if (rss.berth) console.log(`  berth-monitor            ${rss.berth} KiB`);
  if (rss.ctr) console.log(`  containerd-shim-runc-v2  ${rss.ctr} KiB   ratio ${(rss.berth / rss.ctr).toFixed(3)}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  // containerd's and dockerd's mounts under the work dir are gone with them; remove what is left
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((x) => x.split(' ')[4]).filter((p) => p?.startsWith(work)).reverse()) {
    spawnSync('umount', ['-l', l]);
  }
  fs.rmSync(work, { recursive: true, force: true });
  // the cgroup parents ctr (its namespace) and dockerd (--cgroup-parent) made; rmdir only empties them
  for (const ctrl of fs.readdirSync('/sys/fs/cgroup')) {
    for (const p of ['berth-bench-ctr', 'berth-bench-docker']) {
      try { fs.rmdirSync(path.join('/sys/fs/cgroup', ctrl, p)); } catch { /* absent, or not empty: left for a look */ }
    }
  }
}
