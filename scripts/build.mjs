#!/usr/bin/env node
// Bundles each CLI entry point into one ESM file under dist/, so a CLI start loads one file
// instead of resolving hundreds of modules (startup time is a measured goal).
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildValidators } from './build-validators.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entries = {
  'berth-runtime': 'runtime/cli/entry.ts',
  berth: 'cli/main.ts',
  // Worker-thread entry for parallel layer apply; loaded beside dist/berth.cjs (snapshotter/apply-pool.ts).
  'apply-worker': 'snapshotter/apply-worker.ts',
};
const present = Object.fromEntries(Object.entries(entries).filter(([, f]) => fs.existsSync(path.join(root, f))));
// Code caches of the previous build are stale: remove them (bin/load-cached.cjs makes new ones).
for (const f of fs.existsSync(path.join(root, 'dist')) ? fs.readdirSync(path.join(root, 'dist')) : []) {
  if (f.endsWith('.cache')) fs.rmSync(path.join(root, 'dist', f), { force: true });
}
await buildValidators(root);
await build({
  absWorkingDir: root,
  entryPoints: present,
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  // CommonJS loads measurably faster than ESM on Node 20, and bundling the pure-JS dependencies
  // (commander, ajv, tar-stream...) saves resolving them at every start. Native addons stay outside.
  format: 'cjs',
  target: 'node20',
  // undici: only for registries with TLS settings (image/tls.ts), loaded from node_modules then.
  external: ['ffi-rs', 'zstd-napi', '@yuuang/*', 'undici'],
  define: { 'import.meta.url': '__berthImportMetaUrl' },
  banner: { js: "const __berthImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Whitespace and syntax only (names stay, for stack traces): a third less to read and compile at
  // every CLI start. ASCII output lets bin/load-cached.cjs decode it as latin1.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  charset: 'ascii',
  sourcemap: 'linked',
  logLevel: 'warning',
});
