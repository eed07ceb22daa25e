// Warm berth processes (bin/berth starts one per environment, for the next call) register themselves in
// BERTH_WARM_DIR as warm-<pid>.pid. A test run gives them a directory of its own and ends them all, by
// pid, at its end: test/run.mjs for a whole run, test/lib/harness.ts for a test file run on its own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Point BERTH_WARM_DIR of this process (so of every CLI it runs) at a fresh directory; returns the cleanup. */
export function privateWarmDir() {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-warm-'));
  const dir = path.join(top, 'w');
  process.env.BERTH_WARM_DIR = dir;
  return () => {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const m = /^warm-(\d+)\.pid$/.exec(f);
      if (!m) continue;
      let cmdline = '';
      try { cmdline = fs.readFileSync(`/proc/${m[1]}/cmdline`, 'utf8'); } catch { continue; } // gone
      if (cmdline.includes('berth-node')) { try { process.kill(Number(m[1]), 'SIGKILL'); } catch { /* gone */ } }
    }
    // A warm process still starting finds no directory and exits (it cannot bind its socket).
    fs.rmSync(top, { recursive: true, force: true });
  };
}
