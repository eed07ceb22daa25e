// `docker run --rm IMAGE true` with the real docker CLI against berth's Docker API and against a
// real dockerd (Debian docker.io, private data root, no bridge, no iptables), in the same run.
// berth runs twice: with the default network (a CNI bridge network per container, as dockerd's
// default) and with --network none (loopback only): their difference is the bridge's cost. All runs
// are interleaved (berth, berth none, dockerd, berth, ...); `docker version` against each server
// shows the CLI's own floor (process start, API negotiation, one request).
// A second `berth serve` with BERTH_CGROUP_PREFETCH=off runs beside them (row "no prefetch"): what the
// cgroup prefetch (engine/cgroup-prefetch.ts) saves on cgroup v1/hybrid hosts. With BERTH_TIMING=1 the
// servers' per-create lines give berth-init's cgroup join time for each.
//   node --import tsx bench/dockerapi.mjs [runs]
// Both pull the same busybox-static image from a local registry first; the timed runs are warm.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initJoinTimes, median, have } from './lib.mjs';
import { registryWithBusybox, startApiServer, DOCKER_BIN } from '../test/lib/dockerapi.ts';

const RUNS = Number(process.argv[2] ?? 15);

function dockerTimed(socket, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(DOCKER_BIN, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: os.tmpdir(), DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(path.dirname(socket), 'cfg') } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} against ${socket} failed (${r.status}): ${r.stderr}`);
  return ms;
}

/**
 * Timed runs of each contender ({ socket, args }), interleaved run by run so drift on this shared
 * machine (other work starting or stopping) hits all alike.
 */
async function series(ref, contenders) {
  for (const socket of new Set(contenders.map((c) => c.socket))) dockerTimed(socket, ['pull', '-q', ref]);
  for (const c of contenders) for (let i = 0; i < 2; i++) dockerTimed(c.socket, ['run', '--rm', ...c.args, ref, 'true']); // warm-up
  const xs = contenders.map(() => []);
  // a pause before each run, so what a server finishes after its answer is not billed to the next; on
  // the event loop, so the servers' logs (BERTH_TIMING lines) are read meanwhile and never fill a pipe
  const settle = () => new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < RUNS; i++) {
    for (const [j, c] of contenders.entries()) { await settle(); xs[j].push(dockerTimed(c.socket, ['run', '--rm', ...c.args, ref, 'true'])); }
  }
  return xs;
}

/** The docker CLI's own floor: `docker version` (one request), against the same server. */
function floor(socket) {
  const xs = [];
  for (let i = 0; i < RUNS; i++) xs.push(dockerTimed(socket, ['version']));
  return xs;
}

async function startDockerd() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const cfg = path.join(dir, 'daemon.json');
  fs.writeFileSync(cfg, '{}');
  const child = spawn('dockerd', ['--config-file', cfg, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'dockerd.pid'), '-H', `unix://${socket}`, '--bridge=none', '--iptables=false', '--ip6tables=false',
    '--log-level=error'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  for (let i = 0; i < 300 && !fs.existsSync(socket); i++) {
    if (child.exitCode !== null) throw new Error(`dockerd exited: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // the socket exists a little before the API answers
  for (let i = 0; i < 100; i++) {
    if (spawnSync(DOCKER_BIN, ['version'], { env: { PATH: process.env.PATH, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cfg') } }).status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
      if (child.exitCode === null) { process.kill(child.pid, 'SIGKILL'); await exited; }
      // dockerd's overlay mounts are gone with it; the data root may still hold busy files briefly
      spawnSync('rm', ['-rf', dir]);
    },
  };
}

/** Runs `fn` with these environment variables set (the server it starts inherits them). */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try { return await fn(); } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;

const { reg, ref } = await registryWithBusybox();
// the bundled `berth serve`, as deployed (the tests run the sources under tsx)
const berth = await startApiServer({ serve: true });
const berthOff = await withEnv({ BERTH_CGROUP_PREFETCH: 'off' }, () => startApiServer({ serve: true }));
let dockerd;
try {
  const withDockerd = have('dockerd');
  if (withDockerd) dockerd = await startDockerd();
  else console.log('dockerd: not installed (apt-get install docker.io), skipped');
  const contenders = [{ socket: berth.socket, args: [] }, { socket: berth.socket, args: ['--network', 'none'] }, { socket: berthOff.socket, args: ['--network', 'none'] }];
  if (dockerd) contenders.push({ socket: dockerd.socket, args: [] });
  const [b, bNone, bOff, d] = await series(ref, contenders);
  console.log(`berth's OCI runtime: ${process.env.BERTH_RUNTIME_BIN ?? 'bin/berth-runtime (default)'}`);
  console.log(`berth  docker run --rm ${ref} true (default: bridge): ${fmt(b)}`);
  console.log(`berth  docker run --rm --network none ${ref} true: ${fmt(bNone)}`);
  console.log(`berth bridge / none: ${(median(b) / median(bNone)).toFixed(2)} (+${(median(b) - median(bNone)).toFixed(1)} ms)`);
  console.log(`berth  docker run --rm --network none ${ref} true, no prefetch (BERTH_CGROUP_PREFETCH=off): ${fmt(bOff)}`);
  console.log(`berth prefetch / no prefetch (--network none): ${(median(bNone) / median(bOff)).toFixed(2)} (${(median(bNone) - median(bOff)).toFixed(1)} ms)`);
  // BENCH_KEEP_LOGS=DIR: berth's server log (with BERTH_TIMING=1, every operation's split) is kept there
  if (process.env.BENCH_KEEP_LOGS) {
    fs.mkdirSync(process.env.BENCH_KEEP_LOGS, { recursive: true });
    fs.writeFileSync(path.join(process.env.BENCH_KEEP_LOGS, 'berth.log'), berth.log());
  }
  if (process.env.BERTH_TIMING) {
    await new Promise((r) => setTimeout(r, 200)); // the last lines
    const on = initJoinTimes(berth.log()), off = initJoinTimes(berthOff.log());
    console.log(on.length && off.length ? `berth-init cgroup join: prefetch ${fmt(on)}; no prefetch ${fmt(off)}` : `berth-init cgroup join: no runtime.create lines in the servers' logs`);
  }
  console.log(`docker version against berth (the CLI's floor): ${fmt(floor(berth.socket))}`);
  if (d) {
    console.log(`dockerd docker run --rm ${ref} true: ${fmt(d)}`);
    console.log(`docker version against dockerd: ${fmt(floor(dockerd.socket))}`);
    console.log(`berth / dockerd: ${(median(b) / median(d)).toFixed(2)} (--network none: ${(median(bNone) / median(d)).toFixed(2)})`);
  }
} finally {
  await dockerd?.stop();
  await berth.stop();
  await berthOff.stop();
  await reg.stop();
}
