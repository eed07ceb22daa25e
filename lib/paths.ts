// Where berth's own files live: the native binaries built by `npm install` (native/Makefile).
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { failedPrecondition } from './errors.js';

// Works from the sources (lib/paths.ts) and from the bundle (dist/*.mjs): both sit one below the root.
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function nativeBinary(name: 'berth-init' | 'berth-monitor' | 'berth-pause' | 'berth-netns' | 'berth-apply'): string {
  const p = process.env[`BERTH_${name.replace('berth-', '').toUpperCase()}`] ?? path.join(REPO_ROOT, 'native', 'build', name);
  if (!fs.existsSync(p)) throw failedPrecondition(`${p} is missing: run \`npm install\` (or \`make -C native\`) to build berth's C core`);
  return p;
}
