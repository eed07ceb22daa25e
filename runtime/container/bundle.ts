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

/**
 * Load and run the spec validator once on a typical config (with a seccomp profile), so that the
 * first create a long-lived process serves does not pay the first validation (~6 ms: generated code
 * from the code cache, the schema hash, V8's lazy compilation): an engine calls this while it waits
 * for its monitor and runtime client to start.
 */
export async function warmBundleReader(): Promise<void> {
  const [{ validateSpec }, { defaultSpec }, { defaultSeccompProfile }] = await Promise.all([
    import('../spec/config-schema.js'), import('./spec.js'), import('../seccomp/index.js'), import('../launch.js'),
  ]);
  const spec = defaultSpec();
  spec.linux!.seccomp = defaultSeccompProfile(spec.process?.capabilities?.bounding ?? []);
  validateSpec(JSON.parse(JSON.stringify(spec)));
}
