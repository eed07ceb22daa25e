// The pause container's root filesystem: one read-only directory that every pod's pause shares (the
// runtime mounts /proc, /dev, /sys and the pod's /etc files inside each pause's own mount namespace,
// so nothing is written into it). Named for the berth-pause binary's digest, so an upgraded binary gets
// a new directory; made once, atomically (built aside, renamed into place), and checked once per process.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { nativeBinary } from '../lib/paths.js';

const made = new Map<string, string>();

/** `<dir>/pause-<digest>`, made if missing. */
export function pauseRootfs(dir: string): string {
  const known = made.get(dir);
  if (known) return known;
  const bin = nativeBinary('berth-pause');
  const digest = crypto.createHash('sha256').update(fs.readFileSync(bin)).digest('hex').slice(0, 16);
  const target = path.join(dir, `pause-${digest}`);
  if (!fs.existsSync(path.join(target, 'pause'))) build(bin, target);
  made.set(dir, target);
  return target;
}

function build(bin: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  const tmp = `${target}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    for (const d of ['proc', 'dev', 'sys', 'etc']) fs.mkdirSync(path.join(tmp, d), { recursive: true, mode: 0o755 });
    // mount points of the pod's files: the root is read-only, so they must exist beforehand
    for (const f of ['hosts', 'resolv.conf', 'hostname']) fs.writeFileSync(path.join(tmp, 'etc', f), '', { mode: 0o644 });
    fs.copyFileSync(bin, path.join(tmp, 'pause'));
    fs.chmodSync(path.join(tmp, 'pause'), 0o755);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // another server (or call) made it meanwhile: theirs is the same
    if (fs.existsSync(path.join(target, 'pause'))) return;
    throw e;
  }
}
