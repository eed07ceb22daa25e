// 200 containers started detached and removed, through the CLI: nothing is left behind (mounts,
// cgroups, monitor processes, zombies, fds of the test process, container dirs, runtime state).
// Containers are removed both by `rm -f` (running or exited) and by their monitor's exit command (--rm).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { IMAGE, berthAsync, berthCgroups, envWithImage, mountsUnder, openFds, processesInCgroupsOf, processesMentioning, until, zombies, type Env } from '../lib/containers.js';

const N = Number(process.env.BERTH_LOOP_N ?? 200);
const CONCURRENCY = 4;
let E: Env;

if (!isRoot) skip('cli loop', 'needs root (containers need namespaces, mounts and cgroups)');
else {
  test.before(async () => { E = await envWithImage(); });
  test.after(() => { E?.cleanup(); });

  test(`${N} containers started detached and removed leave nothing behind`, async () => {
    // warm up once so lazily created dirs (snapshots, cgroup parents) are not counted as leaks
    E.ok(['run', '--rm', IMAGE, 'true']);
    const before = { zombies: zombies(), fds: openFds() };
    const ids = new Set<string>();
    const t0 = Date.now();
    // a few CLIs at a time, as users and scripts do; each one is mostly process start-up, so to keep
    // this cheap most containers are removed ten at a time by one `rm -f` (some still running)
    // and every tenth removes itself through its monitor's exit command (--rm)
    let next = 0;
    const worker = async () => {
      const batch: string[] = [];
      while (next < N) {
        const i = next++;
        if (i % 10 === 0) {
          ids.add((await berthAsync(E, ['run', '-d', '--rm', IMAGE, 'true'])).trim());
          continue;
        }
        const id = (await berthAsync(E, ['run', '-d', IMAGE, ...(i % 10 === 1 ? ['sleep', '30'] : ['true'])])).trim();
        ids.add(id);
        batch.push(id);
        if (batch.length === 9) await berthAsync(E, ['rm', '-f', ...batch.splice(0)]);
      }
      if (batch.length) await berthAsync(E, ['rm', '-f', ...batch]);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.is(ids.size, N);
    await until('all removed', () => E.ok(['ps', '-aq']) === '', 30_000);
    await until('monitors gone', () => processesMentioning(E.root).length === 0, 10_000);
    console.log(`${N} containers in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(mountsUnder(E.root), []);
    assert.equal(mountsUnder(E.state), []);
    // other engineers' tests make cgroups and zombies of their own: count ours
    assert.equal(berthCgroups().filter((c) => ids.has(path.basename(c))), []);
    assert.equal(processesInCgroupsOf(ids), []);
    assert.is(zombies(process.pid), 0);
    console.log(`zombies on the host: ${before.zombies} before, ${zombies()} after`);
    assert.is(openFds(), before.fds);
    assert.equal(fs.readdirSync(path.join(E.root, 'containers')).filter((n) => !n.startsWith('.names')), []);
    const rt = path.join(E.state, 'runtime');
    // compiled seccomp programs are a cache shared by all containers (runtime/seccomp/cache.ts), not state
    assert.equal(fs.existsSync(rt) ? fs.readdirSync(rt).filter((n) => !n.startsWith('seccomp-cache.')) : [], []);
  });
}

test.run();
