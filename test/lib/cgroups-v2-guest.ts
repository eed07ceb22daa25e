// Runs INSIDE the pure cgroup v2 guest (test/integration/cgroups-v2-vm.test.ts boots it): exercises
// the v2 driver with real controllers and prints one `RESULT {"name","ok","detail"}` line per check.
// Bundled by the host test with esbuild so the slow emulated guest does not have to run tsx.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { cgroupManagerFor, detectCgroupMode, type CgroupManager } from '../../runtime/cgroups/index.js';
import type { LinuxResources } from '../../runtime/spec/resources-schema.js';

const results: { name: string; ok: boolean; detail: string }[] = [];
const managers: CgroupManager[] = [];
let n = 0;

function report(name: string, ok: boolean, detail = ''): void {
  console.log('RESULT ' + JSON.stringify({ name, ok, detail }));
  results.push({ name, ok, detail });
}

async function check(name: string, fn: () => Promise<string | void> | string | void): Promise<void> {
  try {
    const d = await fn();
    report(name, true, d ?? '');
  } catch (e) {
    report(name, false, (e as Error).stack ?? String(e));
  }
}

function must(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function mgr(resources?: LinuxResources): Promise<CgroupManager> {
  const m = cgroupManagerFor({ id: `vm${++n}` });
  managers.push(m);
  await m.create();
  m.apply(resources);
  return m;
}

const read = (m: CgroupManager, f: string) => fs.readFileSync(`${m.paths().unified}/${f}`, 'utf8').trim();

async function gated(m: CgroupManager, script: string): Promise<ChildProcess> {
  const c = spawn('/bin/busybox', ['sh', '-c', `read _go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  await m.addProcess(c.pid!);
  return c;
}

function run(c: ChildProcess, timeoutMs = 120_000): Promise<{ out: string; err: string; signal: string | null }> {
  let out = '', err = '';
  c.stdout!.on('data', (d) => { out += d; });
  c.stderr!.on('data', (d) => { err += d; });
  c.stdin!.write('go\n');
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('child timed out')); }, timeoutMs);
    c.on('close', (_code, signal) => { clearTimeout(t); resolve({ out, err, signal }); });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await check('mode is v2 and controllers get enabled below /berth', async () => {
  must(detectCgroupMode() === 'v2', `mode ${detectCgroupMode()}`);
  const m = await mgr();
  const ctl = read(m, 'cgroup.controllers');
  for (const c of ['cpu', 'memory', 'pids', 'io']) must(ctl.split(' ').includes(c), `${c} not available: ${ctl}`);
  must(m.paths().unified === `/sys/fs/cgroup/berth/vm${n}`, m.paths().unified!);
  return ctl;
});

await check('memory.max: OOM kill is counted', async () => {
  const m = await mgr({ memory: { limit: 32 << 20, swap: 32 << 20 } });
  must(read(m, 'memory.max') === String(32 << 20), read(m, 'memory.max'));
  must(read(m, 'memory.swap.max') === '0', `swap.max ${read(m, 'memory.swap.max')}`);
  const r = await run(await gated(m, 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived ${#x}'));
  must(!/survived/.test(r.out), `not killed: ${r.out}`);
  const s = m.stats();
  must(m.oomKillCount() >= 1 && s.memory.oomKills >= 1, `oom_kill ${m.oomKillCount()}`);
  must(s.memory.limit === 32 << 20, `limit ${s.memory.limit}`);
  return `oom_kill=${m.oomKillCount()} peak=${s.memory.maxUsage}`;
});

await check('pids.max stops forks', async () => {
  const m = await mgr({ pids: { limit: 4 } });
  const r = await run(await gated(m, 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; kill $(jobs -p) 2>/dev/null; exit 0'));
  must(/fork|Resource temporarily unavailable/i.test(r.err), `no fork failure: ${r.err}`);
  must(m.stats().pids.limit === 4, 'pids limit in stats');
});

await check('cpu.max throttles; cpu.weight from shares', async () => {
  const m = await mgr({ cpu: { quota: 10000, period: 100000, shares: 1024 } });
  must(read(m, 'cpu.max') === '10000 100000', read(m, 'cpu.max'));
  must(read(m, 'cpu.weight') === '100', `cpu.weight ${read(m, 'cpu.weight')}`);
  const c = await gated(m, 'while :; do :; done');
  c.stdin!.write('go\n');
  await sleep(1500);
  const s = m.stats();
  m.killAll(9);
  await new Promise((r) => c.on('close', r));
  must(s.cpu.throttledPeriods > 0, `nr_throttled ${s.cpu.throttledPeriods}`);
  must(s.cpu.usageNs > 0 && s.cpu.usageNs < 0.5e9, `usage ${s.cpu.usageNs} ns in 1.5 s at 10%`);
  return `throttled=${s.cpu.throttledPeriods} usage=${s.cpu.usageNs}`;
});

await check('io weight and io.max', async () => {
  const m = await mgr();
  const hasWeight = fs.existsSync(`${m.paths().unified}/io.weight`) || fs.existsSync(`${m.paths().unified}/io.bfq.weight`);
  const notes: string[] = [];
  if (hasWeight) {
    m.apply({ blockIO: { weight: 500 } });
    const bfq = fs.existsSync(`${m.paths().unified}/io.bfq.weight`);
    const v = read(m, bfq ? 'io.bfq.weight' : 'io.weight');
    must(v.includes(bfq ? '500' : 'default 4950'), `io weight ${v}`);
    notes.push(`weight: ${v}`);
  } else notes.push('no io.weight file in this kernel (iocost/bfq not built): weight not checked');
  const dev = fs.existsSync('/sys/block/vda/dev') ? fs.readFileSync('/sys/block/vda/dev', 'utf8').trim() : undefined;
  if (dev) {
    const [major, minor] = dev.split(':').map(Number) as [number, number];
    m.apply({ blockIO: { throttleReadBpsDevice: [{ major, minor, rate: 1048576 }] } });
    must(read(m, 'io.max').includes(`${dev} rbps=1048576`), `io.max ${read(m, 'io.max')}`);
    notes.push(`io.max: ${read(m, 'io.max')}`);
  }
  return notes.join('; ');
});

await check('unified map is written verbatim', async () => {
  const m = await mgr({ unified: { 'memory.high': '50000000', 'pids.max': '9' } });
  must(read(m, 'memory.high') === String(Math.floor(50000000 / 4096) * 4096), `memory.high ${read(m, 'memory.high')}`);
  must(read(m, 'pids.max') === '9', read(m, 'pids.max'));
});

await check('device filter denies /dev/null, allows /dev/zero', async () => {
  const m = await mgr({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }] });
  const r = await run(await gated(m, 'echo hi > /dev/null && echo opened; head -c 3 /dev/zero | wc -c'));
  must(!/opened/.test(r.out) && /not permitted/i.test(r.err), `out=${r.out} err=${r.err}`);
  must(/^3$/m.test(r.out), `/dev/zero: ${r.out}`);
});

await check('freeze, thaw, cgroup.kill, stats', async () => {
  const m = await mgr();
  const c = await gated(m, 'sleep 100 & sleep 100 & wait');
  c.stdin!.write('go\n');
  for (let i = 0; i < 200 && m.pids().length < 3; i++) await sleep(20);
  must(m.pids().length === 3, `pids ${m.pids()}`);
  await m.freeze();
  must(m.isFrozen(), 'not frozen');
  m.thaw();
  must(!m.isFrozen(), 'still frozen');
  const s = m.stats();
  must(s.pids.current === 3 && s.memory.usage > 0, JSON.stringify({ pids: s.pids, mem: s.memory.usage }));
  m.killAll(9);
  const sig = await new Promise((r) => c.on('close', (_c, sg) => r(sg)));
  must(sig === 'SIGKILL', `signal ${sig}`);
});

await check('destroy leaves nothing', async () => {
  for (const m of managers) { m.killAll(9); await m.destroy(); }
  const left = fs.existsSync('/sys/fs/cgroup/berth') ? fs.readdirSync('/sys/fs/cgroup/berth').filter((x) => x.startsWith('vm')) : [];
  must(left.length === 0, `left: ${left}`);
});

console.log(`GUEST DONE ${results.filter((r) => r.ok).length}/${results.length}`);
