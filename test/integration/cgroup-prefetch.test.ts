// engine/cgroup-prefetch.ts on this (hybrid) host: the parked process, its two berth-owned cgroups,
// cleanup by close(), by the next owner after a crash, and by `berth serve` on SIGTERM; the off switch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { CgroupPrefetch, prefetchParent } from '../../engine/cgroup-prefetch.js';
import { detectCgroupMode } from '../../runtime/cgroups/index.js';
import { memberDirs, parseMountinfo } from '../../runtime/cgroups/cgroup-path.js';
import { REPO, alive, isRoot, skip } from '../lib/harness.js';
import { sleepMs } from '../lib/cgroups.js';
import { docker, haveDocker, registryWithBusybox, startApiServer, DOCKER_BIN, type ApiServer } from '../lib/dockerapi.js';
import { haveRegistry } from '../lib/registry.js';

const V2_HOST = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n';
const HYBRID_HOST = [
  '32 31 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset',
  '33 31 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
  '34 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
].join('\n');

test('prefetch: off on pure cgroup v2 and with BERTH_CGROUP_PREFETCH=off; else under /berth in a v1 hierarchy other than cpuset', () => {
  assert.is(prefetchParent({}, parseMountinfo(V2_HOST)), undefined);
  assert.is(prefetchParent({ BERTH_CGROUP_PREFETCH: 'off' }, parseMountinfo(HYBRID_HOST)), undefined);
  assert.is(prefetchParent({}, parseMountinfo(HYBRID_HOST)), '/sys/fs/cgroup/pids/berth');
});

const gone = (pid: number) => !alive(pid); // a zombie counts as gone
async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !fn();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleepMs(20);
  }
}
/** prefetch-<owner>-* cgroups under the parent (the host's real one). */
const prefetchDirs = (parent: string, owner: number) => {
  try { return fs.readdirSync(parent).filter((n) => n.startsWith(`prefetch-${owner}-`)); } catch { return []; }
};

const usable = isRoot && fs.existsSync('/proc/self/mountinfo') && detectCgroupMode() !== 'v2';
if (!usable) skip('cgroup prefetch with real cgroups', isRoot ? 'pure cgroup v2 host: the prefetch is off there' : 'needs root (cgroups)');
else {
  const parent = prefetchParent({})!;
  const opened: CgroupPrefetch[] = [];
  const open = (env: NodeJS.ProcessEnv = {}) => { const p = new CgroupPrefetch({ env }); opened.push(p); return p; };
  test.after(async () => { for (const p of opened) await p.close(); });

  test('prefetch: lazy; a kick parks a process in a berth cgroup, the next moves it to the other; close ends it and removes both', async () => {
    const p = open();
    const [a, b] = p.dirs!;
    assert.ok(a.startsWith('/sys/fs/cgroup/') && a.includes('/berth/prefetch-'), a);
    assert.is(p.pid, undefined, 'nothing before the first kick');
    assert.not.ok(fs.existsSync(a));
    p.kick();
    await p.settled();
    const pid = p.pid!;
    assert.ok(pid > 0 && alive(pid));
    assert.is(fs.readlinkSync(`/proc/${pid}/exe`), path.join(REPO, 'native/build/berth-pause'));
    assert.ok(memberDirs(pid).has(a), 'in a');
    assert.ok(fs.readFileSync(path.join(a, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)));
    p.kick();
    await p.settled();
    assert.ok(memberDirs(pid).has(b) && !memberDirs(pid).has(a), 'moved to b');
    p.kick();
    await p.settled();
    assert.ok(memberDirs(pid).has(a), 'back in a');
    assert.is(p.pid, pid, 'one parked process throughout');
    await p.close();
    assert.ok(gone(pid), 'parked process ended');
    assert.not.ok(fs.existsSync(a) || fs.existsSync(b), 'both cgroups removed');
    p.kick();
    await p.settled();
    assert.is(p.pid, undefined, 'no kick after close');
    assert.not.ok(fs.existsSync(a));
  });

  test('prefetch: a kick while one is in flight adds nothing', async () => {
    const p = open();
    p.kick();
    await p.settled();
    const pid = p.pid!;
    p.kick();
    p.kick(); // while the first is on the threadpool
    await p.settled();
    assert.ok(memberDirs(pid).has(p.dirs![1]), 'moved once (to b), not back');
    await p.close();
  });

  test('prefetch: BERTH_CGROUP_PREFETCH=off makes kicks no-ops', async () => {
    const p = open({ BERTH_CGROUP_PREFETCH: 'off' });
    assert.not.ok(p.enabled);
    p.kick();
    await p.settled();
    assert.is(p.pid, undefined);
    assert.equal(prefetchDirs(parent, process.pid), []);
  });

  test('prefetch: the parked process dies with a killed owner; the next owner removes the dead one\'s cgroups', async () => {
    const script = `import { CgroupPrefetch } from ${JSON.stringify(path.join(REPO, 'engine/cgroup-prefetch.ts'))};
      const p = new CgroupPrefetch(); p.kick(); await p.settled(); console.log(p.pid); setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    owner.stdout!.on('data', (d) => { out += d; });
    try {
      await until('the owner to park a process', () => /^\d+\n/.test(out), 30_000);
    } finally {
      owner.kill('SIGKILL');
    }
    await new Promise((r) => owner.once('exit', r));
    const parked = Number(out.trim());
    assert.ok(parked > 0);
    await until('the parked process to die with its owner', () => gone(parked));
    assert.is(prefetchDirs(parent, owner.pid!).length, 2, 'a crash leaves the cgroups (nothing ran to remove them)');
    const next = open();
    next.kick();
    await next.settled();
    assert.equal(prefetchDirs(parent, owner.pid!), [], 'the next owner removed them');
    await next.close();
  });

  if (!haveDocker() || !haveRegistry()) skip('berth serve prefetch lifecycle', !haveDocker() ? `no docker CLI at ${DOCKER_BIN}` : 'docker-registry is not installed');
  else {
    /** Runs one container through a `berth serve` (env as given), stops the server; what it left. */
    async function serveRun(env: Record<string, string>, ref: string) {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      let s: ApiServer;
      try { s = await startApiServer({ serve: true }); } finally { process.env = saved; }
      const servePid = s.child.pid!;
      try {
        const r = await docker(s.socket, ['run', '--rm', '--network', 'none', ref, 'true']);
        assert.is(r.status, 0, r.stderr);
        const dirs = prefetchDirs(parent, servePid);
        const parked = dirs.flatMap((d) => fs.readFileSync(path.join(parent, d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
        const ppids = parked.map((p) => Number(/^PPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]));
        await s.stop();
        return { servePid, dirs, parked, ppids, after: { dirs: prefetchDirs(parent, servePid), alive: parked.filter((p) => !gone(p)) } };
      } catch (e) {
        await s.stop();
        throw e;
      }
    }

    test('berth serve: a container run kicks the prefetch; SIGTERM leaves no prefetch cgroup or process; off: none at all', async () => {
      const { reg, ref } = await registryWithBusybox();
      try {
        const on = await serveRun({}, ref);
        assert.equal(on.dirs.sort(), [`prefetch-${on.servePid}-a`, `prefetch-${on.servePid}-b`]);
        assert.is(on.parked.length, 1, 'one parked process');
        assert.equal(on.ppids, [on.servePid], 'parked by the server itself');
        assert.equal(on.after.dirs, [], 'cgroups removed on shutdown');
        assert.equal(on.after.alive, [], 'parked process ended on shutdown');
        const off = await serveRun({ BERTH_CGROUP_PREFETCH: 'off' }, ref);
        assert.equal(off.dirs, [], 'BERTH_CGROUP_PREFETCH=off: no prefetch cgroups');
        assert.equal(off.parked, []);
      } finally {
        await reg.stop();
      }
    });
  }
}

test.run();
