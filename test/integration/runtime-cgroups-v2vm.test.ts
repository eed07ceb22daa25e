// berth-runtime's cgroup behaviour in a pure cgroup v2 QEMU guest (this host is hybrid: its cgroup2
// hierarchy has no controllers). ONE guest runs test/lib/runtime-v2guest.ts (bundled here so the slow
// emulated guest only starts plain node), which drives the real bin/berth-runtime through every check
// and prints one RESULT line each; each line becomes one test below.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { REPO, isRoot, skip } from '../lib/harness.js';
import { buildCli } from '../lib/runtime.js';

const VM = '/work/shared/tools/run-in-v2vm.sh';
const usable = isRoot && fs.existsSync(VM) && process.env.BERTH_SKIP_VM !== '1';
// Must match the check names in test/lib/runtime-v2guest.ts: a check that never reports fails here.
const EXPECTED = [
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
];

const results = new Map<string, { ok: boolean; detail: string }>();
let failure = '';
let skipReason = '';

test.before(async () => {
  if (!usable) return;
  buildCli(); // the guest runs the same bin/berth-runtime bundle users run
  // Inside node_modules so the bundle's imports resolve to the repo's node_modules.
  const outDir = path.join(REPO, 'node_modules/.cache/berth-v2vm');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `runtime-guest-${process.pid}.mjs`);
  try {
    await build({
      absWorkingDir: REPO, entryPoints: ['test/lib/runtime-v2guest.ts'], outfile: out, bundle: true,
      platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning',
    });
    const started = Date.now();
    const r = spawnSync(VM, [`node ${out} ${REPO}`], {
      encoding: 'utf8', timeout: 280_000,
      // The repo is shared read-write at its own path: a clone under /tmp is otherwise hidden by the guest's own /tmp.
      env: { ...process.env, V2VM_WORKDIR: REPO, V2VM_TIMEOUT: '240' },
    });
    console.log(`  v2 guest: ${((Date.now() - started) / 1000).toFixed(1)} s host time, exit ${r.status}`);
    for (const line of (r.stdout ?? '').split('\n')) {
      if (!line.startsWith('RESULT ')) continue;
      const x = JSON.parse(line.slice(7)) as { name: string; ok: boolean; detail: string };
      results.set(x.name, x);
    }
    if (!results.size) {
      // qemu could not run at all (not installable, no kernel package, qemu itself failing to start):
      // a host limitation, skipped with the reason. A guest that booted and produced nothing fails.
      const err = r.stderr ?? '';
      const qemuRc = /guest exited without a status \(qemu rc=(\d+)\)/.exec(err)?.[1];
      if (/run-in-v2vm: (cannot|must)/.test(err) || (/run-in-v2vm: installing/.test(err) && r.status === 100) || (qemuRc !== undefined && qemuRc !== '0')) {
        skipReason = `qemu guest could not run: ${err.trim().split('\n').slice(-3).join(' | ')}`;
      }
      failure = `guest produced no results (exit ${r.status}, ${r.error ?? ''}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-3000)}`;
    }
  } finally {
    fs.rmSync(out, { force: true });
  }
});

for (const name of EXPECTED) {
  test(`v2 guest runtime: ${name}`, () => {
    if (!usable) return skip(`runtime-cgroups-v2vm: ${name}`, isRoot ? `${VM} not available (or BERTH_SKIP_VM=1)` : 'needs root');
    if (skipReason) return skip(`runtime-cgroups-v2vm: ${name}`, skipReason);
    assert.ok(results.size, failure);
    const r = results.get(name);
    assert.ok(r, 'check did not run in the guest');
    assert.ok(r!.ok, r!.detail);
    if (r!.detail) console.log(`  ${name}: ${r!.detail.split('\n')[0]}`);
  });
}

test.run();
