#!/usr/bin/env node
// Bundles each CLI entry point into one ESM file under dist/, so a CLI start loads one file
// instead of resolving hundreds of modules (startup time is a measured goal).
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entries = {
  'berth-runtime': 'runtime/cli/main.ts',
  berth: 'cli/main.ts',
};
const present = Object.fromEntries(Object.entries(entries).filter(([, f]) => fs.existsSync(path.join(root, f))));
await build({
  absWorkingDir: root,
  entryPoints: present,
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external', // native addons (ffi-rs, zstd-napi) load from node_modules
  sourcemap: 'linked',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
