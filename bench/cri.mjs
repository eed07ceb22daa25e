#!/usr/bin/env node
// berth's CRI (`berth serve`) next to containerd 1.6's built-in CRI plugin (Debian containerd, runc),
// in the same run, driven by one gRPC client on cri/api.proto sending both the same requests:
//   (a) pod start latency: RunPodSandbox + CreateContainer + StartContainer until ContainerStatus says
//       RUNNING, medians over interleaved runs, with each RPC's share;
//   (b) PODS pods created one after another, then removed (StopContainer, StopPodSandbox,
//       RemoveContainer, RemovePodSandbox: the kubelet's order), total time of each server;
//   (c) memory per pod with RSS_PODS pods running: the pod's own processes besides the workload
//       (berth: a berth-monitor per container + berth-pause; containerd: containerd-shim-runc-v2 + pause).
// berth runs as `berth serve` is shipped (row "berth": it embeds a planner); BENCH_CRI_VARIANTS adds
// "berth-nodecli" (the Node runtime CLI per call) and "berth+planner" (a separate planner process).
// Every server is private (root, state and socket under a temp dir) and has its own CNI bridge
// network from one template (bridge + host-local, no masquerade, no portmap, so no iptables rules);
// containerd's sandbox image holds berth's own pause binary, so both pods park the same process.
// containerd needs restrict_oom_score_adj here (this machine cannot lower an oom_score_adj).
// BENCH_CRI_SPLIT=1 adds a berth-only pass with timing wrappers around berth-runtime and the CNI
// plugins (and BERTH_TIMING=1): where berth's pod start time goes. Its times include the wrappers'.
// BERTH_TIMING=1 (inherited by berth's servers) adds berth-init's cgroup join times after part (a);
// BENCH_KEEP_LOGS=DIR keeps the servers' logs (with BERTH_TIMING=1, every operation's split).
// BENCH_CRI_SETTLE_MS: part (a)'s pause before each pod start (default 300; 1000 changed nothing here).
// BENCH_RUNC=PATH: the runc binary containerd runs (e.g. a wrapper adding --debug).
// Usage (root): node scripts/build.mjs && make -C native && node bench/cri.mjs [runs=10] [pods=100] [rssPods=20]
//   env BENCH_CRI_VARIANTS=berth,berth-noprefetch,berth-nospare,berth-nostandby,berth-cni,berth-nodecli,berth+planner  BENCH_CRI_PARTS=a,b,c  BENCH_CRI_SPLIT=1
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { register } from 'tsx/esm/api';
import { have, initJoinTimes, median, procInfo, pssKiB, rssKiB, unmountUnder } from './lib.mjs';

register();
const { loadCri } = await import('../cri/proto.ts');
const { buildTestImage } = await import('../test/lib/containers.ts');
const { makeImage, makeLayer, tarDir, writeLayout } = await import('../test/lib/image-builder.ts');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.argv[2] ?? 10);
const PODS = Number(process.argv[3] ?? 100);
const RSS_PODS = Number(process.argv[4] ?? 20);
const SPLIT = Boolean(process.env.BENCH_CRI_SPLIT);
const REF = 'localhost/bench/bb:latest';
const PAUSE_REF = 'localhost/bench/pause:latest';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cri-'));
const tag = `${process.pid}`;
const CGROUP_TREES = [`berth/kubepods/bench-${tag}`, `berth-bench-cri-${tag}`]; // relative to each hierarchy
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cleanups = [];
const serverLogs = [];

function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

// ---- one client for both servers -------------------------------------------------------------
function criClient(socket) {
  const { RuntimeService, ImageService } = loadCri();
  const rt = new RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());
  const im = new ImageService(`unix:${socket}`, grpc.credentials.createInsecure());
  const call = (c) => (method, req = {}, timeoutMs = 120_000) => new Promise((resolve, reject) => {
    c[method](req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(res)));
  });
  return { rt: call(rt), image: call(im), close: () => { rt.close(); im.close(); } };
}

async function until(what, fn, ms = 60_000) {
  const t0 = Date.now();
  for (;;) {
    try { if (await fn()) return; } catch (e) { if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${e.message}`); }
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A server process of ours: stopped by its PID (SIGTERM, then SIGKILL after 15 s). */
function startServer(cmd, args, log, env = process.env) {
  const out = fs.openSync(log, 'w');
  serverLogs.push(log);
  const p = spawn(cmd, args, { stdio: ['ignore', out, out], env, detached: true });
  fs.closeSync(out);
  const stop = async () => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  return { proc: p, stop };
}

/** Waits for the CRI to answer, its network to be ready and the images to be known. */
async function ready(s, images) {
  await until(`${s.name} CRI Version`, async () => (await s.rt('Version', { version: 'v1' }, 2000)).runtime_name);
  await until(`${s.name} NetworkReady`, async () => (await s.rt('Status', {}, 2000)).status.conditions.find((c) => c.type === 'NetworkReady')?.status);
  for (const image of images) await until(`${s.name} image ${image}`, async () => (await s.image('ImageStatus', { image: { image } }, 2000)).image?.id);
}

// ---- images: busybox for the workload, and a pause image (berth-pause) for containerd ----------
async function pauseArchive(dir) {
  const layer = await makeLayer([{ name: 'pause', content: fs.readFileSync(path.join(repo, 'native/build/berth-pause')), mode: 0o755 }]);
  const img = makeImage({ layers: [layer], config: { Entrypoint: ['/pause'] } });
  return tarDir(writeLayout(path.join(dir, 'pause-layout'), img.manifest, [img]), path.join(dir, 'pause.tar'));
}

/** Each server's own bridge (names and subnets differ, everything else is the same). */
function cniConfDir(name, bridge, subnet) {
  const dir = path.join(work, name, 'net.d'); // the first file in it decides, for both servers
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '10-bench.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: `bench-${name.replace(/[^A-Za-z0-9]/g, '-')}`,
    plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(work, name, 'ipam') } }],
  }));
  cleanups.push(async () => { spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' }); });
  return dir;
}

// berth's variants. "berth" is `berth serve` as shipped: it hosts a planner of its own, so the
// monitors' `berth-runtime create` calls are thin-client calls into the server process. The others
// are for comparison: "berth-nodecli" runs the Node runtime CLI per call (BERTH_RUNTIME_PLANNER=off),
// "berth+planner" a separate warm `berth-runtime planner` process, "berth-cni" runs the CNI plugins
// instead of berth's native driver for the bench's bridge + host-local conflist.
const VARIANTS = {
  berth: { bridge: 'bbench-d0', subnet: '10.253.5.0/24', embedded: true },
  'berth-nodecli': { bridge: 'bbench-b0', subnet: '10.253.0.0/24' },
  // the CNI plugins exec'd as for any network (the bench's conflist otherwise runs on the native driver)
  'berth-cni': { bridge: 'bbench-e0', subnet: '10.253.6.0/24', embedded: true, env: { BERTH_NET_DRIVER: 'cni' } },
  'berth+planner': { bridge: 'bbench-p0', subnet: '10.253.3.0/24', planner: true },
  // as shipped, without the cgroup prefetch (engine/cgroup-prefetch.ts): what it saves on v1/hybrid hosts
  'berth-noprefetch': { bridge: 'bbench-f0', subnet: '10.253.7.0/24', embedded: true, env: { BERTH_CGROUP_PREFETCH: 'off' } },
  // as shipped, without the spare network namespace (engine/network/netns-spare.ts)
  'berth-nospare': { bridge: 'bbench-g0', subnet: '10.253.8.0/24', embedded: true, env: { BERTH_NETNS_SPARE: 'off' } },
  // as shipped, without standby monitors (shim/monitor-standby.ts)
  'berth-nostandby': { bridge: 'bbench-h0', subnet: '10.253.10.0/24', embedded: true, env: { BERTH_MONITOR_STANDBY: 'off' } },
  'berth-split': { bridge: 'bbench-s0', subnet: '10.253.2.0/24', embedded: true, split: true },
  'berth-nodecli-split': { bridge: 'bbench-t0', subnet: '10.253.4.0/24', split: true },
};
// BENCH_CRI_VARIANTS=berth,berth-noprefetch,berth-nospare,berth-nostandby,berth-cni,berth-nodecli,berth+planner picks berth's rows (default: berth alone);
// BENCH_CRI_PARTS=a,b,c picks the parts (default: all).
const CHOSEN = (process.env.BENCH_CRI_VARIANTS ?? 'berth').split(',').filter(Boolean);
for (const v of CHOSEN) if (!VARIANTS[v] || v.endsWith('-split')) throw new Error(`BENCH_CRI_VARIANTS: unknown variant ${v} (${Object.keys(VARIANTS).filter((k) => !k.endsWith('-split')).join(', ')})`);
const PARTS = new Set((process.env.BENCH_CRI_PARTS ?? 'a,b,c').split(','));
// part (a)'s pause before each pod start (BENCH_CRI_SETTLE_MS, default 300)
const SETTLE_MS = Number(process.env.BENCH_CRI_SETTLE_MS ?? 300);

/** The planner exists in this tree (it is new): `berth-runtime planner --help` answers. */
function plannerAvailable() {
  const node = path.join(repo, 'bin/berth-runtime-node');
  return fs.existsSync(node) && spawnSync(node, ['planner', '--help'], { env: { ...process.env, BERTH_RUNTIME_PLANNER: 'off' } }).status === 0;
}

async function startBerth(archive, name) {
  const v = VARIANTS[name];
  const d = path.join(work, name);
  fs.mkdirSync(d, { recursive: true });
  const g = ['--root', path.join(d, 'root'), '--state', path.join(d, 'state')];
  const socket = path.join(d, 'cri.sock');
  const confDir = cniConfDir(name, v.bridge, v.subnet);
  const env = { ...process.env, BERTH_RUNTIME_BIN: path.join(repo, 'bin/berth-runtime'), BERTH_RUNTIME_PLANNER: 'off' };
  // the embedded planner starts only when no BERTH_RUNTIME_PLANNER is set and the runtime is bin/berth-runtime
  if (v.embedded) delete env.BERTH_RUNTIME_PLANNER;
  if (v.embedded) delete env.BERTH_RUNTIME_BIN;
  Object.assign(env, v.env ?? {});
  if (v.split) Object.assign(env, timingWrappers(d, v.embedded), { BERTH_TIMING: '1' });
  const extra = [];
  if (v.planner) {
    const psock = path.join(d, 'planner.sock');
    const planner = startServer(path.join(repo, 'bin/berth-runtime-node'), ['planner', '--socket', psock], path.join(d, 'planner.log'), { ...env, BERTH_RUNTIME_PLANNER: 'off' });
    cleanups.push(planner.stop); // runs after berth serve's cleanup (the list runs backwards)
    await until('planner socket', () => fs.existsSync(psock));
    env.BERTH_RUNTIME_PLANNER = psock;
    extra.push({ name: 'planner', pid: planner.proc.pid });
  }
  must(path.join(repo, 'bin/berth'), [...g, 'load', '-i', archive, '--name', REF], { env });
  const srv = startServer(path.join(repo, 'bin/berth'), [...g, 'serve', '--no-docker', '--cri-socket', socket, '--cni-conf-dir', confDir], path.join(d, 'log'), env);
  const s = { name, dir: d, pid: srv.proc.pid, extra, ...criClient(socket), cgroupParent: (uid) => `/kubepods/bench-${tag}/pod${uid}` };
  cleanups.push(async () => {
    await removeAllPods(s);
    s.close();
    await srv.stop();
    unmountUnder(d); // netns dir: the network library bind-mounts it onto itself
  });
  await ready(s, [REF]);
  return s;
}

async function startContainerd(archive, pause) {
  const d = path.join(work, 'containerd');
  fs.mkdirSync(d, { recursive: true });
  const socket = path.join(d, 'containerd.sock');
  const confDir = cniConfDir('containerd', 'bbench-c0', '10.253.1.0/24');
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  fs.writeFileSync(path.join(d, 'config.toml'), `version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = []
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
[${cri}]
  sandbox_image = "${PAUSE_REF}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # this machine cannot lower an oom_score_adj (the pause's -998 fails in runc): clamp to containerd's own
  restrict_oom_score_adj = true
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        BinaryName = "${process.env.BENCH_RUNC ?? spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim()}"
        Root = "${d}/runc"
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${confDir}"
    max_conf_num = 1
`);
  const srv = startServer('containerd', ['--config', path.join(d, 'config.toml')], path.join(d, 'log'));
  const s = { name: 'containerd', dir: d, pid: srv.proc.pid, extra: [], ...criClient(socket), cgroupParent: (uid) => `/berth-bench-cri-${tag}/pod${uid}` };
  cleanups.push(async () => {
    await removeAllPods(s);
    s.close();
    await srv.stop();
    unmountUnder(d);
  });
  await until('containerd socket', () => fs.existsSync(socket));
  for (const [ref, tar] of [[REF, archive], [PAUSE_REF, pause]]) {
    await until(`ctr import ${ref}`, () => spawnSync('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', '--base-name', ref.replace(/:latest$/, ''), tar]).status === 0);
  }
  await ready(s, [REF, PAUSE_REF]);
  return s;
}

/** With BERTH_TIMING=1: berth-init's cgroup join (the `join=` of each runtime.create line) in each berth server's log. */
function joinTimes(berths) {
  for (const s of berths) {
    const xs = initJoinTimes(fs.readFileSync(path.join(s.dir, 'log'), 'utf8'));
    const p90 = [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];
    const slow = xs.filter((x) => x > 5).length;
    if (xs.length) console.log(`  ${s.name}: berth-init cgroup join median ${median(xs).toFixed(1)} ms, p90 ${p90.toFixed(1)} (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, over 5 ms ${slow} of ${xs.length})`);
  }
}

// ---- one pod: sandbox + one busybox `sleep` container -----------------------------------------
let seq = 0;
async function startPod(s) {
  const n = seq++;
  const uid = `${tag}-${n}`;
  const logDir = path.join(work, 'logs', s.name, uid);
  const podConfig = {
    metadata: { name: `bench-${n}`, uid, namespace: 'bench', attempt: 0 },
    hostname: `bench-${n}`, log_directory: logDir, dns_config: { servers: [], searches: [], options: [] },
    labels: { bench: 'cri' }, annotations: {},
    linux: { cgroup_parent: s.cgroupParent(uid), security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const t0 = now();
  const { pod_sandbox_id: pod } = await s.rt('RunPodSandbox', { config: podConfig, runtime_handler: '' });
  const t1 = now();
  const { container_id: ctr } = await s.rt('CreateContainer', {
    pod_sandbox_id: pod, sandbox_config: podConfig,
    config: { metadata: { name: 'app', attempt: 0 }, image: { image: REF }, command: ['sleep', '3600'], log_path: 'app.log', linux: {} },
  });
  const t2 = now();
  await s.rt('StartContainer', { container_id: ctr });
  const t3 = now();
  for (;;) {
    const { status } = await s.rt('ContainerStatus', { container_id: ctr });
    if (status.state === 'CONTAINER_RUNNING') break;
    if (status.state !== 'CONTAINER_CREATED') throw new Error(`${s.name}: container ${ctr} is ${status.state} (${status.reason}: ${status.message})`);
    await sleep(1);
  }
  const t4 = now();
  return { pod, ctr, logDir, phases: { RunPodSandbox: t1 - t0, CreateContainer: t2 - t1, StartContainer: t3 - t2, untilRunning: t4 - t3, total: t4 - t0 } };
}

async function removePod(s, p) {
  const t = [now()];
  await s.rt('StopContainer', { container_id: p.ctr, timeout: 0 }); t.push(now());
  await s.rt('StopPodSandbox', { pod_sandbox_id: p.pod }); t.push(now());
  await s.rt('RemoveContainer', { container_id: p.ctr }); t.push(now());
  await s.rt('RemovePodSandbox', { pod_sandbox_id: p.pod }); t.push(now());
  const names = ['StopContainer', 'StopPodSandbox', 'RemoveContainer', 'RemovePodSandbox'];
  return { ...Object.fromEntries(names.map((n, i) => [n, t[i + 1] - t[i]])), total: t[4] - t[0] };
}

/** Whatever pods of ours a server still has (a failed run): stopped and removed. */
async function removeAllPods(s) {
  let items = [];
  try { ({ items } = await s.rt('ListPodSandbox', { filter: { label_selector: { bench: 'cri' } } }, 10_000)); } catch { return; }
  for (const p of items) {
    await s.rt('StopPodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    await s.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch((e) => console.log(`${s.name}: pod ${p.id} left: ${e.message}`));
  }
}

// ---- memory: the processes a pod costs besides its workload --------------------------------------
/** pause, the pause's parent (its monitor or shim) and the workload's parent (idem), each counted once. */
async function podProcesses(s, p) {
  const podInfo = JSON.parse((await s.rt('PodSandboxStatus', { pod_sandbox_id: p.pod, verbose: true })).info.info);
  const ctrInfo = JSON.parse((await s.rt('ContainerStatus', { container_id: p.ctr, verbose: true })).info.info);
  const pause = podInfo.pid, app = ctrInfo.pid;
  if (!pause || !app) throw new Error(`${s.name}: no pid in the verbose status of pod ${p.pod}`);
  return [...new Set([pause, procInfo(pause).ppid, procInfo(app).ppid])];
}

function memoryOf(pids) {
  const byComm = {};
  let rss = 0, pss = 0;
  for (const pid of pids) {
    const { comm } = procInfo(pid);
    const r = rssKiB(pid) ?? 0, q = pssKiB(pid) ?? 0;
    rss += r; pss += q;
    byComm[comm] ??= { n: 0, rss: 0, pss: 0 };
    byComm[comm].n++; byComm[comm].rss += r; byComm[comm].pss += q;
  }
  return { rss, pss, byComm };
}

// ---- cleanup of what neither server removes: pod cgroup parents, containerd's netns ------------
function cgroupCleanup() {
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    for (const tree of CGROUP_TREES) {
      const root = path.join('/sys/fs/cgroup', h, tree);
      if (!fs.existsSync(root)) continue;
      const dirs = [];
      const walk = (d) => { dirs.push(d); for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name)); };
      walk(root);
      for (const d of dirs.reverse()) {
        try { fs.rmdirSync(d); } catch (e) { console.log(`cgroup ${d} left: ${e.code}`); }
      }
    }
    // the kubepods parent berth made, if no one else's pods are in it
    try { fs.rmdirSync(path.join('/sys/fs/cgroup', h, 'berth/kubepods')); } catch { /* in use or absent */ }
  }
}

const fmt = (x) => x.toFixed(1).padStart(7);
const ratio = (a, b) => (a / b).toFixed(2);
const peers = (servers) => servers.filter((s) => s.name !== 'containerd');
const ratioHead = (servers) => peers(servers).map((s) => `${s.name}/ctrd`.padStart(20)).join('');
const ratios = (servers, get) => peers(servers).map((s) => ratio(get(s.name), get('containerd')).padStart(20)).join('');

async function latency(servers) {
  const phases = Object.fromEntries(servers.map((s) => [s.name, []]));
  const teardown = Object.fromEntries(servers.map((s) => [s.name, []]));
  for (let i = -2; i < RUNS; i++) { // two warm-up rounds
    const order = i % 2 ? [...servers].reverse() : servers;
    for (const s of order) {
      await sleep(SETTLE_MS); // let the other server's background work settle
      const p = await startPod(s);
      const r = await removePod(s, p);
      if (i >= 0) { phases[s.name].push(p.phases); teardown[s.name].push(r); }
    }
  }
  const med = (xs, k) => median(xs.map((x) => x[k]));
  console.log(`\n(a) pod start latency, median of ${RUNS} interleaved runs (ms)`);
  const keys = Object.keys(phases[servers[0].name][0]);
  const w = Math.max(...servers.map((s) => s.name.length)) + 2;
  console.log(`  ${'phase'.padEnd(16)}${servers.map((s) => s.name.padStart(w)).join('')}${ratioHead(servers)}`);
  for (const k of keys) console.log(`  ${k.padEnd(16)}${servers.map((s) => fmt(med(phases[s.name], k)).padStart(w)).join('')}${ratios(servers, (n) => med(phases[n], k))}`);
  const rkeys = Object.keys(teardown[servers[0].name][0]);
  console.log('  pod removal (ms)');
  for (const k of rkeys) console.log(`  ${k.padEnd(16)}${servers.map((s) => fmt(med(teardown[s.name], k)).padStart(w)).join('')}${ratios(servers, (n) => med(teardown[n], k))}`);
}

async function churn(servers) {
  console.log(`\n(b) ${PODS} pods created (one after another, each until running), then removed; the servers take turns pod by pod`);
  console.log('    (so a busy moment of the machine hits all alike); create/remove: the sum of each server\'s own calls');
  const pods = Object.fromEntries(servers.map((s) => [s.name, []]));
  const removal = Object.fromEntries(servers.map((s) => [s.name, 0]));
  await sleep(1000);
  for (let i = 0; i < PODS; i++) {
    for (const s of i % 2 ? [...servers].reverse() : servers) pods[s.name].push(await startPod(s));
  }
  for (let i = 0; i < PODS; i++) {
    for (const s of i % 2 ? [...servers].reverse() : servers) removal[s.name] += (await removePod(s, pods[s.name][i])).total;
  }
  const res = {};
  for (const s of servers) {
    const ps = pods[s.name];
    // does a pod start slow down as the node fills? (a scan of every pod per RPC would show here)
    const tenth = Math.max(1, Math.floor(PODS / 10));
    const startMs = (xs) => Object.fromEntries(Object.keys(xs[0].phases).map((k) => [k, median(xs.map((p) => p.phases[k]))]));
    const create = ps.reduce((a, p) => a + p.phases.total, 0);
    res[s.name] = { create, remove: removal[s.name], total: create + removal[s.name], first: startMs(ps.slice(0, tenth)), last: startMs(ps.slice(-tenth)) };
  }
  for (const k of ['create', 'remove', 'total']) {
    console.log(`  ${k.padEnd(8)}${servers.map((s) => `${s.name} ${(res[s.name][k] / 1000).toFixed(2)} s`.padStart(26)).join('')}${ratios(servers, (n) => res[n][k])}`);
  }
  console.log(`  pod start, median of the first and of the last ${Math.max(1, Math.floor(PODS / 10))} pods (ms):`);
  const show = (ph) => `${fmt(ph.total)} (${Object.entries(ph).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')})`;
  for (const s of servers) console.log(`    ${s.name.padEnd(14)} first ${show(res[s.name].first)}\n    ${''.padEnd(14)} last  ${show(res[s.name].last)}`);
}

async function memory(servers) {
  console.log(`\n(c) memory per pod with ${RSS_PODS} pods running (pause + monitors/shims; the workload not counted)`);
  const res = {};
  for (const s of servers) {
    const pods = [];
    for (let i = 0; i < RSS_PODS; i++) pods.push(await startPod(s));
    await sleep(1000);
    const pids = [];
    for (const p of pods) pids.push(...await podProcesses(s, p));
    res[s.name] = { ...memoryOf(pids), server: [{ name: 'server', pid: s.pid }, ...s.extra].map((x) => `${x.name} RSS ${rssKiB(x.pid)} KiB, PSS ${pssKiB(x.pid)} KiB`).join('; ') };
    for (const p of pods) await removePod(s, p);
  }
  for (const s of servers) {
    const m = res[s.name];
    const parts = Object.entries(m.byComm).map(([c, v]) => `${c} x${v.n} ${(v.rss / RSS_PODS).toFixed(0)}`).join(', ');
    console.log(`  ${s.name.padEnd(13)} RSS ${(m.rss / RSS_PODS).toFixed(0).padStart(6)} KiB/pod   PSS ${(m.pss / RSS_PODS).toFixed(0).padStart(6)} KiB/pod   (${parts} KiB/pod RSS)`);
    console.log(`  ${''.padEnd(13)} per node, not per pod: ${m.server}`);
  }
  for (const s of peers(servers)) console.log(`  ${s.name}/containerd: RSS per pod ${ratio(res[s.name].rss, res.containerd.rss)}, PSS per pod ${ratio(res[s.name].pss, res.containerd.pss)}`);
}

// ---- BENCH_CRI_SPLIT: where berth's pod start time goes --------------------------------------
/** Wrappers that log each berth-runtime and CNI plugin call's wall time; returned as env for berth serve. */
// With the embedded planner (embedded: true) berth-runtime is not wrapped: the server embeds its planner
// only for bin/berth-runtime itself, so there the runtime's share is in BERTH_TIMING and "rest" alone.
function timingWrappers(d, embedded = false) {
  const bin = path.join(d, 'wrap');
  fs.mkdirSync(path.join(bin, 'cni'), { recursive: true });
  const log = path.join(d, 'calls.log');
  // The wrapped program keeps the wrapper's stdio (the monitor passes the container's pipes through it).
  const wrap = (file, real, label) => fs.writeFileSync(file, `#!/bin/sh\nt0=$(date +%s%N)\n"${real}" "$@"\nrc=$?\necho "${label} $t0 $(date +%s%N) $rc" >> ${log}\nexit $rc\n`, { mode: 0o755 });
  wrap(path.join(bin, 'berth-runtime'), path.join(repo, 'bin/berth-runtime'), 'runtime:$(for a in "$@"; do case $a in create|start|kill|delete|state) echo $a; break;; esac; done)');
  for (const p of fs.readdirSync('/usr/lib/cni')) wrap(path.join(bin, 'cni', p), path.join('/usr/lib/cni', p), `cni:${p}:$CNI_COMMAND`);
  return { ...(embedded ? {} : { BERTH_RUNTIME_BIN: path.join(bin, 'berth-runtime') }), CNI_PATH: path.join(bin, 'cni'), BENCH_CALLS_LOG: log };
}

async function split(archive, name) {
  const s = await startBerth(archive, name);
  const log = path.join(s.dir, 'calls.log');
  const rows = [];
  for (let i = -1; i < RUNS; i++) {
    fs.writeFileSync(log, '');
    const tStart = Date.now();
    const p = await startPod(s);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
      const [label, t0, t1] = l.split(' ');
      return { label, start: Number(t0) / 1e6 - tStart, end: Number(t1) / 1e6 - tStart };
    });
    await removePod(s, p);
    if (i >= 0) rows.push({ phases: p.phases, calls });
  }
  // A call belongs to the RPC it started in; calls inside another call (host-local under bridge) are not added again.
  const kinds = ['runtime:create', 'runtime:start', 'cni'];
  const kindOf = (c) => (c.label.startsWith('cni:') ? 'cni' : c.label);
  const cells = rows.map((r) => {
    const top = r.calls.filter((c) => !r.calls.some((o) => o !== c && o.start <= c.start && o.end >= c.end));
    let at = 0;
    return Object.entries(r.phases).filter(([k]) => k !== 'total').map(([rpc, ms]) => {
      const mine = top.filter((c) => c.start >= at && c.start < at + ms);
      at += ms;
      const by = Object.fromEntries(kinds.map((k) => [k, mine.filter((c) => kindOf(c) === k).reduce((a, c) => a + c.end - c.start, 0)]));
      return { rpc, ms, ...by, rest: ms - kinds.reduce((a, k) => a + by[k], 0) };
    });
  });
  const overhead = wrapperOverhead(s.dir);
  console.log(`\n${name.replace(/-split$/, '')}: pod start, split (BENCH_CRI_SPLIT: wrapped runtime and CNI calls, BERTH_TIMING=1; median of ${RUNS}, ms;`);
  console.log(`each wrapped call includes the wrapper's own ~${overhead.toFixed(1)} ms)`);
  console.log(`  ${'RPC'.padEnd(16)}${['total', ...kinds, 'rest (serve)'].map((k) => k.padStart(15)).join('')}`);
  for (const [i, { rpc }] of cells[0].entries()) {
    console.log(`  ${rpc.padEnd(16)}${['ms', ...kinds, 'rest'].map((k) => fmt(median(cells.map((c) => c[i][k]))).padStart(15)).join('')}`);
  }
  console.log(`  ${'pod start'.padEnd(16)}${fmt(median(rows.map((r) => r.phases.total))).padStart(15)}`);
  console.log('  every wrapped call, in order (ms since RunPodSandbox was sent):');
  for (const [i, c] of rows[0].calls.entries()) {
    console.log(`    ${c.label.padEnd(22)} at ${fmt(median(rows.map((r) => r.calls[i]?.start ?? NaN)))}  took ${fmt(median(rows.map((r) => (r.calls[i] ? r.calls[i].end - r.calls[i].start : NaN))))}`);
  }
  // BERTH_TIMING lines of `berth-runtime create` land in the container's log (the monitor keeps the
  // runtime's stderr warnings there): the workload containers' logs hold them after their pods are gone.
  const timing = spawnSync('grep', ['-rh', '--text', 'berth-timing:', path.join(work, 'logs', s.name)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  const phases = timing.map((l) => Object.fromEntries(l.replace(/^.*berth-timing: ?/, '').split(' ').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])));
  if (phases.length) {
    console.log(`  inside \`berth-runtime create\` of the workload (BERTH_TIMING, median of ${phases.length}):`);
    console.log(`    ${Object.keys(phases[0]).map((k) => `${k}=${median(phases.map((x) => x[k] ?? NaN)).toFixed(1)}`).join(' ')}`);
  }
  // With the embedded planner the server itself prints one line per operation (engine.create,
  // engine.start, runtime.create ...): `berth-timing: OP ID k=v ... [| more]`, pause and workload alike.
  const byOp = {};
  for (const l of fs.readFileSync(path.join(s.dir, 'log'), 'utf8').split('\n')) {
    const m = /berth-timing: ((?:engine|runtime)\.\S+) \S+ ([^|]*)/.exec(l);
    if (!m) continue;
    (byOp[m[1]] ??= []).push(Object.fromEntries(m[2].trim().split(' ').map((kv) => kv.split('=')).filter(([, v]) => v !== undefined && !Number.isNaN(Number(v))).map(([k, v]) => [k, Number(v)])));
  }
  for (const [op, xs] of Object.entries(byOp)) {
    const keys = [...new Set(xs.flatMap((x) => Object.keys(x)))];
    console.log(`  ${op} in the server (BERTH_TIMING, median of ${xs.length}, pause and workload): ${keys.map((k) => `${k}=${median(xs.map((x) => x[k] ?? 0)).toFixed(1)}`).join(' ')}`);
  }
}

/** What a timing wrapper adds to a call: the wrapped /bin/true minus /bin/true, median of 20. */
function wrapperOverhead(d) {
  const w = path.join(d, 'wrap', 'true');
  fs.writeFileSync(w, `#!/bin/sh\nt0=$(date +%s%N)\n/bin/true "$@"\nrc=$?\necho "probe $t0 $(date +%s%N) $rc" >> /dev/null\nexit $rc\n`, { mode: 0o755 });
  const time = (cmd) => { const t0 = now(); spawnSync(cmd); return now() - t0; };
  const xs = [], ys = [];
  for (let i = 0; i < 20; i++) { xs.push(time(w)); ys.push(time('/bin/true')); }
  return median(xs) - median(ys);
}

// ---- main ------------------------------------------------------------------------------------
const ipForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
const netnsBefore = new Set(fs.existsSync('/var/run/netns') ? fs.readdirSync('/var/run/netns') : []);
try {
  if (!have('containerd') || !have('ctr') || !have('runc')) throw new Error('containerd, ctr and runc are needed (apt-get install containerd runc)');
  if (!fs.existsSync('/usr/lib/cni/bridge')) throw new Error('CNI plugins are needed in /usr/lib/cni (apt-get install containernetworking-plugins)');
  const archive = await buildTestImage(work);
  const pause = await pauseArchive(work);
  if (CHOSEN.includes('berth+planner') && !plannerAvailable()) throw new Error('berth+planner: no `berth-runtime planner` in this tree');
  const servers = [];
  for (const v of CHOSEN) servers.push(await startBerth(archive, v));
  servers.push(await startContainerd(archive, pause));
  console.log(`${servers.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}; containerd ${must('containerd', ['--version']).split(' ')[2]} with runc; a CNI bridge + host-local each`);
  console.log('berth: `berth serve` as shipped (embedded planner, native bridge driver); berth-cni: the same with the CNI plugins; berth-nodecli: a Node runtime CLI per call; berth+planner: a separate planner process; berth-noprefetch: as shipped with BERTH_CGROUP_PREFETCH=off; berth-nospare: as shipped with BERTH_NETNS_SPARE=off; berth-nostandby: as shipped with BERTH_MONITOR_STANDBY=off');
  if (PARTS.has('a')) await latency(servers);
  if (process.env.BERTH_TIMING) joinTimes(servers.filter((x) => x.name !== 'containerd'));
  if (PARTS.has('b')) await churn(servers);
  if (PARTS.has('c')) await memory(servers);
  if (SPLIT) {
    await split(archive, 'berth-split');
    if (CHOSEN.includes('berth-nodecli')) await split(archive, 'berth-nodecli-split');
  }
} catch (e) {
  console.log(`FAILED: ${e.stack}`);
  for (const l of serverLogs) {
    let tail;
    try { tail = fs.readFileSync(l, 'utf8').split('\n').slice(-15).join('\n'); } catch (err) { tail = err.message; }
    console.log(`---- ${l} (tail)\n${tail}`);
  }
  process.exitCode = 1;
} finally {
  for (const c of cleanups.reverse()) await c().catch((e) => console.log(`cleanup: ${e.message}`));
  cgroupCleanup();
  // containerd's pod namespaces (/var/run/netns/cni-*) go with RemovePodSandbox; any left are ours
  for (const n of fs.existsSync('/var/run/netns') ? fs.readdirSync('/var/run/netns') : []) {
    if (netnsBefore.has(n) || !n.startsWith('cni-')) continue;
    console.log(`netns ${n} was left: removed`);
    spawnSync('umount', [path.join('/var/run/netns', n)]);
    fs.rmSync(path.join('/var/run/netns', n), { force: true });
  }
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', ipForward); // the bridge plugin (isGateway) turns it on
  // BENCH_KEEP_LOGS=DIR: the servers' logs (with BERTH_TIMING=1, berth's per-operation splits) are kept there
  if (process.env.BENCH_KEEP_LOGS) {
    fs.mkdirSync(process.env.BENCH_KEEP_LOGS, { recursive: true });
    for (const l of serverLogs) fs.copyFileSync(l, path.join(process.env.BENCH_KEEP_LOGS, path.relative(work, l).replace(/\//g, '_')));
  }
  fs.rmSync(work, { recursive: true, force: true });
}
