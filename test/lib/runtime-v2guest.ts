// Runs INSIDE the pure cgroup v2 guest (test/integration/runtime-cgroups-v2vm.test.ts boots it): drives
// the real bin/berth-runtime CLI through pids, memory OOM, cpu.max, pause/resume, update, kill --all,
// the device filter and delete, printing one `RESULT {"name","ok","detail"}` line per check.
// Every CLI call costs seconds under emulation, so the checks share containers where they can.
// Usage: node <bundle> <repo>   (the bundle lives outside the repo, so the repo is passed in)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeBusyboxRootfs } from './harness.js';
import { defaultSpec } from '../../runtime/container/spec.js';
import type { Spec } from '../../runtime/spec/config-schema.js';

const CHECKS = [
  'mode is pure cgroup v2',
  'pids.max stops forks',
  'memory.max: OOM killer ends the container (exit 137, oom_kill counted)',
  'cpu.max throttles; events --stats prints numbers',
  'pause/resume freeze (state paused, counter stops)',
  'update --pids-limit/--memory change live limits',
  'kill --all reaches every process',
  'device filter: /dev/null allowed, a denied device refused',
  'delete --force of a running container',
  'the container process is cloned straight into its cgroup (CLONE_INTO_CGROUP)',
  'nothing left under /sys/fs/cgroup/berth/<test-id>',
] as const;

const REPO = process.argv[2] ?? '';
const BIN = path.join(REPO, 'bin/berth-runtime');
const CG = '/sys/fs/cgroup';
const TID = `rtcg2-${process.pid}`;
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rtroot-'));
const rootfs = makeBusyboxRootfs(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rootfs-')));
fs.chmodSync(rootfs, 0o755);
const ids: string[] = [];

function report(name: (typeof CHECKS)[number], ok: boolean, detail = ''): void {
  console.log('RESULT ' + JSON.stringify({ name, ok, detail }));
}

async function check(name: (typeof CHECKS)[number], fn: () => Promise<string | void> | string | void): Promise<void> {
  const t0 = Date.now();
  const took = () => ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
  try {
    report(name, true, ((await fn()) ?? '') + took());
  } catch (e) {
    report(name, false, ((e as Error).stack ?? String(e)) + took());
  }
}

function must(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cgDir = (id: string) => `${CG}/berth/${TID}/${id}`;
const cgRead = (id: string, f: string) => fs.readFileSync(`${cgDir(id)}/${f}`, 'utf8').trim();
const keyed = (text: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

function rt(args: string[], timeout = 120_000, env: NodeJS.ProcessEnv = process.env) {
  // Output goes to files, not pipes: a detached container inherits the runtime's stdio (as with runc),
  // and spawnSync would wait for its pipes to close until the timeout.
  const out = path.join(ROOT, '.out'), err = path.join(ROOT, '.err');
  const fo = fs.openSync(out, 'w'), fe = fs.openSync(err, 'w');
  const t0 = Date.now();
  let r;
  try {
    r = spawnSync(BIN, ['--root', ROOT, ...args], { stdio: ['ignore', fo, fe], timeout, env });
  } finally {
    fs.closeSync(fo);
    fs.closeSync(fe);
  }
  // Emulation makes every call slow; the trace on stderr shows where the guest's time goes.
  console.error(`berth-runtime ${args.join(' ')}: exit ${r.status ?? r.signal} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const res = { status: r.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') + (r.error ? ` ${r.error.message}` : '') };
  fs.rmSync(out);
  fs.rmSync(err);
  return res;
}
function ok(args: string[]): string {
  const r = rt(args);
  must(r.status === 0, `berth-runtime ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A bundle in /tmp whose container lives in /berth/<test-id>/<id>. */
function bundle(id: string, args: string[], resources: NonNullable<Spec['linux']>['resources'] = {}, edit: (s: Spec) => void = () => {}): string {
  ids.push(id);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bundle-'));
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = args;
  s.root = { path: rootfs, readonly: true };
  s.linux!.cgroupsPath = `/berth/${TID}/${id}`;
  s.linux!.resources = { ...(s.linux!.resources ?? {}), ...resources };
  edit(s);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(s));
  return dir;
}
const tmpfsTmp = (s: Spec) => { s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=1777'] }); };
const alive = (pid: number) => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};
async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

await check('mode is pure cgroup v2', () => {
  const m = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - cgroup2? /.test(l));
  must(m.length === 1 && / - cgroup2 /.test(m[0]!), `cgroup mounts: ${m.join(' | ')}`);
  const ctl = fs.readFileSync(`${CG}/cgroup.subtree_control`, 'utf8').trim();
  for (const c of ['cpu', 'memory', 'pids']) must(ctl.split(' ').includes(c), `${c} not enabled at the root: ${ctl}`);
  return ctl;
});

await check('pids.max stops forks', () => {
  const r = rt(['run', '-b', bundle('pids', ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; kill $(jobs -p) 2>/dev/null; exit 0'], { pids: { limit: 4 } }), 'pids']);
  must(/fork|Resource temporarily unavailable/i.test(r.stderr), `no fork failure (exit ${r.status}): ${r.stderr}`);
  must(!fs.existsSync(cgDir('pids')), 'cgroup left after run');
  return r.stderr.split('\n')[0];
});

await check('memory.max: OOM killer ends the container (exit 137, oom_kill counted)', () => {
  // tail buffers /dev/zero looking for a newline: the container's own process grows until killed.
  const r = rt(['run', '-b', bundle('oom', ['tail', '/dev/zero'], { memory: { limit: 32 << 20, swap: 32 << 20 } }), 'oom']);
  must(r.status === 137, `exit ${r.status}: ${r.stderr}`);
  // The leaf is gone after run; v2 memory.events counts hierarchically, so the parent still shows it.
  const ev = fs.readFileSync(`${CG}/berth/${TID}/memory.events`, 'utf8');
  must(keyed(ev, 'oom_kill') >= 1, `parent memory.events: ${ev}`);
  return `oom_kill=${keyed(ev, 'oom_kill')}`;
});

// One long-lived container serves cpu.max, events, pause/resume, update and kill --all: a busy counter
// loop (throttled by cpu.max) next to two sleepers.
const MAIN = 'main';
let mainPid = 0;
// The loop appends to one open file: its size is a counter that is never caught half-written.
const counter = () => fs.statSync(`/proc/${mainPid}/root/tmp/n`).size;
await check('cpu.max throttles; events --stats prints numbers', async () => {
  ok(['run', '-d', '-b', bundle(MAIN, ['sh', '-c', 'trap "" TERM; sleep 1000 & sleep 1000 & exec 3>/tmp/n; while :; do echo x >&3; done'],
    { cpu: { quota: 20000, period: 100000 }, pids: { limit: 50 }, memory: { limit: 128 << 20 } }, tmpfsTmp), MAIN]);
  mainPid = JSON.parse(ok(['state', MAIN])).pid;
  must(cgRead(MAIN, 'cpu.max') === '20000 100000', `cpu.max ${cgRead(MAIN, 'cpu.max')}`);
  await waitFor('throttling', () => keyed(cgRead(MAIN, 'cpu.stat'), 'nr_throttled') > 2);
  const ev = JSON.parse(ok(['events', '--stats', MAIN]));
  const d = ev.data;
  must(ev.type === 'stats' && ev.id === MAIN, JSON.stringify(ev).slice(0, 300));
  must(d.cpu.throttledPeriods > 0 && d.cpu.usageNs > 0, `cpu ${JSON.stringify(d.cpu)}`);
  must(d.memory.usage > 0 && d.memory.limit === 128 << 20, `memory ${d.memory.usage} / ${d.memory.limit}`);
  must(d.pids.current === 3 && d.pids.limit === 50, `pids ${JSON.stringify(d.pids)}`);
  const st = cgRead(MAIN, 'cpu.stat');
  return `nr_periods=${keyed(st, 'nr_periods')} nr_throttled=${keyed(st, 'nr_throttled')} usage_usec=${keyed(st, 'usage_usec')}`;
});

await check('pause/resume freeze (state paused, counter stops)', async () => {
  must(mainPid > 0, 'main container did not start');
  await waitFor('counter', () => { try { return counter() > 2; } catch { return false; } });
  ok(['pause', MAIN]);
  const status = JSON.parse(ok(['state', MAIN])).status;
  must(status === 'paused', `state ${status}`);
  must(/^frozen 1$/m.test(cgRead(MAIN, 'cgroup.events')), `cgroup.events ${cgRead(MAIN, 'cgroup.events')}`);
  const frozen = counter();
  const usage = keyed(cgRead(MAIN, 'cpu.stat'), 'usage_usec');
  await sleep(1000);
  must(counter() === frozen, `counter moved while paused: ${frozen} -> ${counter()}`);
  const usage2 = keyed(cgRead(MAIN, 'cpu.stat'), 'usage_usec');
  must(usage2 - usage < 2000, `cpu usage grew while paused: ${usage} -> ${usage2} usec`);
  ok(['resume', MAIN]);
  must(/^frozen 0$/m.test(cgRead(MAIN, 'cgroup.events')), 'still frozen after resume');
  await waitFor('progress after resume', () => counter() > frozen);
  return `counter held at ${frozen} and cpu usage at ${usage2} usec while paused, counter now ${counter()}`;
});

await check('update --pids-limit/--memory change live limits', () => {
  must(mainPid > 0, 'main container did not start');
  ok(['update', '--pids-limit', '7', '--memory', '48m', MAIN]);
  must(cgRead(MAIN, 'pids.max') === '7', `pids.max ${cgRead(MAIN, 'pids.max')}`);
  must(cgRead(MAIN, 'memory.max') === String(48 << 20), `memory.max ${cgRead(MAIN, 'memory.max')}`);
  must(cgRead(MAIN, 'cpu.max') === '20000 100000', 'update must not reset cpu.max');
});

await check('kill --all reaches every process', async () => {
  must(mainPid > 0, 'main container did not start');
  const pids = cgRead(MAIN, 'cgroup.procs').split('\n').map(Number);
  must(pids.length === 3 && pids.includes(mainPid), `procs ${pids}`);
  ok(['kill', '--all', MAIN, 'KILL']);
  await waitFor('every process gone', () => pids.every((p) => !alive(p)));
  ok(['delete', MAIN]);
  must(!fs.existsSync(cgDir(MAIN)), 'cgroup left after delete');
});

await check('device filter: /dev/null allowed, a denied device refused', () => {
  // CAP_MKNOD so the node can be made (mknod itself is allowed by the default rules); /dev/kmsg (1:11)
  // has no allow rule, /dev/null (1:3) has one, on the same tmpfs: only the cgroup filter differs.
  const r = rt(['run', '-b', bundle('dev', ['sh', '-c',
    'echo hi > /dev/null && echo null-ok; mknod /tmp/null c 1 3 && echo hi > /tmp/null && echo mknull-ok; mknod /tmp/kmsg c 1 11 && head -c1 /tmp/kmsg && echo kmsg-opened; exit 0'],
  {}, (s) => {
    tmpfsTmp(s);
    for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set]!.push('CAP_MKNOD');
  }), 'dev']);
  must(/^null-ok$/m.test(r.stdout) && /^mknull-ok$/m.test(r.stdout), `allowed devices: out=${r.stdout} err=${r.stderr}`);
  must(!/kmsg-opened/.test(r.stdout) && /not permitted/i.test(r.stderr), `denied device: out=${r.stdout} err=${r.stderr}`);
  return r.stderr.trim().split('\n').pop();
});

await check('delete --force of a running container', async () => {
  ok(['run', '-d', '-b', bundle('force', ['sh', '-c', 'sleep 1000 & sleep 1000 & wait']), 'force']);
  await waitFor('3 processes', () => { try { return cgRead('force', 'cgroup.procs').split('\n').length === 3; } catch { return false; } });
  const pids = cgRead('force', 'cgroup.procs').split('\n').map(Number);
  ok(['delete', '--force', 'force']);
  must(pids.every((p) => !alive(p)), `alive after delete --force: ${pids.filter(alive)}`);
  must(!fs.existsSync(cgDir('force')), 'cgroup left');
  must(!fs.existsSync(path.join(ROOT, 'force')), 'state dir left');
});

await check('the container process is cloned straight into its cgroup (CLONE_INTO_CGROUP)', () => {
  // berth-init's own split (BERTH_TIMING) names the path it took: a clone into the cgroup, never a join.
  const r = rt(['run', '-b', bundle('into', ['true']), 'into'], 120_000, { ...process.env, BERTH_TIMING: '1' });
  must(r.status === 0, `run exited ${r.status}: ${r.stderr}`);
  const line = /^berth-timing: runtime\.create .*$/m.exec(r.stderr)?.[0] ?? '';
  must(/init-parent: .*clone-into-cgroup=/.test(line) && !/init-parent: .*\bjoin=/.test(line), `berth-init split: ${line || r.stderr}`);
  return line.slice(line.indexOf('init-parent:'));
});

await check('nothing left under /sys/fs/cgroup/berth/<test-id>', () => {
  for (const id of ids) if (fs.existsSync(path.join(ROOT, id))) rt(['delete', '--force', id]);
  const parent = `${CG}/berth/${TID}`;
  const left = fs.existsSync(parent) ? fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
  must(left.length === 0, `left: ${left}`);
  const state = fs.readdirSync(ROOT).filter((f) => !f.startsWith('.'));
  must(state.length === 0, `state dirs left: ${state}`);
  if (fs.existsSync(parent)) fs.rmdirSync(parent);
});

console.log('GUEST DONE');
