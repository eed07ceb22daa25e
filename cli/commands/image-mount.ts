// `berth image mount IMAGE` / `berth image unmount IMAGE` (podman's): a read-only view snapshot of
// the image's top layer chain, mounted under <state>/image-mounts/<image id>; prints the path.
// The image is unpacked first if its chain is not in the snapshot store yet.
import fs from 'node:fs';
import path from 'node:path';
import type { Register } from './index.js';
import { ImageService } from '../../image/index.js';
import { failedPrecondition } from '../../lib/errors.js';
import { imageCommand, snapshotsRoot } from './image-common.js';
import type { GlobalOptions } from '../context.js';

function mountPoint(g: GlobalOptions, id: string): string {
  return path.join(g.state, 'image-mounts', id.replace(/^sha256:/, ''));
}

function isMounted(dir: string): boolean {
  const abs = path.resolve(dir);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === abs);
}

export const register: Register = (program, globals) => {
  const image = imageCommand(program);
  image.command('mount')
    .description('mount an image read-only and print the path of its root filesystem')
    .argument('<image>', 'name or ID')
    .action(async (query: string) => {
      const g = globals();
      const svc = new ImageService(g.root);
      const d = svc.inspect(query);
      if (!d.topChainId) throw failedPrecondition(`${query} has no layers to mount`);
      const sn = await import('../../snapshotter/index.js');
      const snap = sn.openSnapshotter(snapshotsRoot(g));
      if (!(await snap.stat(d.topChainId))) await svc.unpack(query, async (layers, open) => (await sn.unpackLayers(snap, layers, open)).chainId);
      const dir = mountPoint(g, d.id);
      if (isMounted(dir)) { console.log(dir); return; }
      const key = `image-mount-${d.id.slice(7)}`;
      const mounts = (await snap.stat(key)) ? await snap.mounts(key) : await snap.view(key, d.topChainId, { 'berth.image-mount': d.id });
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      sn.mountAll(mounts, dir);
      console.log(dir);
    });
  image.command('unmount').alias('umount')
    .description('unmount an image mounted with `image mount`')
    .argument('<image>', 'name or ID')
    .action(async (query: string) => {
      const g = globals();
      const d = new ImageService(g.root).inspect(query);
      const dir = mountPoint(g, d.id);
      const sn = await import('../../snapshotter/index.js');
      if (isMounted(dir)) sn.unmountAll(dir);
      fs.rmSync(dir, { recursive: true, force: true });
      const snap = sn.openSnapshotter(snapshotsRoot(g));
      const key = `image-mount-${d.id.slice(7)}`;
      if (await snap.stat(key)) await snap.remove(key);
      console.log(d.id);
    });
};
