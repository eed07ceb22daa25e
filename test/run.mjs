#!/usr/bin/env node
// Runs every test file (each a uvu suite) in its own process, so one crash cannot hide the rest,
// and prints the closing line CI reads: `N passed, N failed[, N skipped]`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { privateWarmDir } from './lib/warm-cleanup.mjs';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test/unit', 'test/integration'];
const files = [];
for (const r of roots) walk(r);
function walk(p) {
  if (!fs.existsSync(p)) return;
  const st = fs.statSync(p);
  if (st.isFile()) { if (/\.test\.(ts|mjs|js)$/.test(p)) files.push(p); return; }
  for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
}

if (process.getuid?.() !== 0) console.log('note: not root; tests that need real namespaces, mounts and cgroups will be skipped or fail');

// Warm berth processes of this run live in a directory of its own and are ended at its end.
const endWarmProcesses = privateWarmDir();

let passed = 0, failed = 0, skipped = 0;
const failures = [];
const TIMEOUT_MS = Number(process.env.BERTH_TEST_TIMEOUT_MS ?? 600_000);

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[run.mjs] ${file} timed out after ${TIMEOUT_MS} ms\n`; child.kill('SIGKILL'); }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label) => { const m = out.match(new RegExp(`${label}:\\s+(\\d+)`)); return m ? Number(m[1]) : undefined; };
      const total = num('Total'), pass = num('Passed'), uvuSkip = num('Skipped') ?? 0;
      const ourSkips = (out.match(/^SKIP: /gm) ?? []).length;
      let p = pass ?? 0, f = total !== undefined && pass !== undefined ? total - pass - uvuSkip : 0;
      if (code !== 0 && f === 0) f = 1; // crashed or exited badly without a counted failure
      passed += p; failed += f; skipped += uvuSkip + ourSkips;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`${f ? 'FAIL' : 'ok  '} ${file} (${p} passed${f ? `, ${f} failed` : ''}${uvuSkip + ourSkips ? `, ${uvuSkip + ourSkips} skipped` : ''}, ${secs}s)`);
      for (const line of out.split('\n')) if (line.startsWith('SKIP: ')) console.log('     ' + line);
      if (f) failures.push({ file, out });
      resolve();
    });
  });
}

for (const f of files) await runFile(f);
endWarmProcesses();
for (const { file, out } of failures) {
  console.log(`\n==== output of ${file} ====`);
  console.log(out.split('\n').slice(-120).join('\n'));
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
