// cgroup v2 controllers, proven in a pure cgroup v2 QEMU guest (this host is hybrid: its cgroup2
// hierarchy has no controllers). The guest runs test/lib/cgroups-v2-guest.ts, bundled here first so
// the emulated guest only starts plain node; each guest check becomes one test below.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { REPO, isRoot, skip } from '../lib/harness.js';

const VM = '/work/shared/tools/run-in-v2vm.sh';
const usable = isRoot && fs.existsSync(VM) && process.env.BERTH_SKIP_VM !== '1';
const EXPECTED = [
  'mode is v2 and controllers get enabled below /berth',
  'memory.max: OOM kill is counted',
  'pids.max stops forks',
  'cpu.max throttles; cpu.weight from shares',
  'io weight and io.max',
  'unified map is written verbatim',
  'device filter denies /dev/null, allows /dev/zero',
  'freeze, thaw, cgroup.kill, stats',
  'destroy leaves nothing',
];

let results = new Map<string, { ok: boolean; detail: string }>();
let failure = '';

test.before(async () => {
  if (!usable) return;
  // Inside node_modules so the bundle's require('ffi-rs') resolves to the repo's node_modules.
  const outDir = path.join(REPO, 'node_modules/.cache/berth-v2vm');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `cgroups-guest-${process.pid}.mjs`);
  try {
    await build({
      absWorkingDir: REPO, entryPoints: ['test/lib/cgroups-v2-guest.ts'], outfile: out, bundle: true,
      platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning',
    });
    const r = spawnSync(VM, [`node ${out}`], {
      encoding: 'utf8', timeout: 240_000,
      // The repo is shared read-write at its own path: a clone under /tmp is otherwise hidden by the guest's own /tmp.
      env: { ...process.env, V2VM_WORKDIR: REPO, V2VM_TIMEOUT: '200', V2VM_DISK_MB: '16' },
    });
    for (const line of (r.stdout ?? '').split('\n')) {
      if (!line.startsWith('RESULT ')) continue;
      const x = JSON.parse(line.slice(7)) as { name: string; ok: boolean; detail: string };
      results.set(x.name, x);
    }
    if (!results.size) failure = `guest produced no results (exit ${r.status}, ${r.error ?? ''}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-3000)}`;
  } finally {
    fs.rmSync(out, { force: true });
  }
});

for (const name of EXPECTED) {
  test(`v2 guest: ${name}`, () => {
    if (!usable) return skip(`cgroups-v2-vm: ${name}`, isRoot ? `${VM} not available (or BERTH_SKIP_VM=1)` : 'needs root');
    assert.ok(results.size, failure);
    const r = results.get(name);
    assert.ok(r, `check did not run in the guest`);
    assert.ok(r!.ok, r!.detail);
    if (r!.detail) console.log(`  ${name}: ${r!.detail.split('\n')[0]}`);
  });
}

test.run();
