// A bundle is a directory with config.json (and usually rootfs): read and validate it as runc does.
import fs from 'node:fs';
import path from 'node:path';
import { fromErrno, invalidArgument } from '../../lib/errors.js';
import type { Spec } from '../spec/config-schema.js';

export interface Bundle {
  /** Absolute bundle directory (the state records it; hooks and `state` print it). */
  dir: string;
  spec: Spec;
}

export async function readBundle(bundle: string | undefined): Promise<Bundle> {
  const dir = path.resolve(bundle || process.cwd());
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fromErrno(e, `cannot read the bundle's config.json (${file})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  // Lazy: ajv costs tens of milliseconds to load, and only create/run/exec/update validate.
  const { validateSpec } = await import('../spec/config-schema.js');
  const spec = validateSpec(json, file);
  if (spec.root?.path === undefined) throw invalidArgument(`${file}: /root/path is required`);
  if (!spec.process) throw invalidArgument(`${file}: /process is required to create a container`);
  return { dir, spec };
}

/** The rootfs directory of a bundle: root.path relative to the bundle unless absolute. */
export function rootfsOf(b: Bundle): string {
  return path.resolve(b.dir, b.spec.root!.path);
}
