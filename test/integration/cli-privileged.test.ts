// --privileged as docker means it: every host device node in the container's /dev, usable (the
// device cgroup allows rwm on all), all capabilities, no seccomp; without it none of those devices.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { isRoot, skip } from '../lib/harness.js';
import { IMAGE, envWithImage, type Env } from '../lib/containers.js';
import { hostDevices } from '../../engine/host-devices.js';

let E: Env;

function readable(p: string): boolean {
  try {
    const fd = fs.openSync(p, 'r');
    try { return fs.readSync(fd, Buffer.alloc(512), 0, 512, 0) === 512; } finally { fs.closeSync(fd); }
  } catch {
    return false;
  }
}

if (!isRoot) skip('cli privileged', 'needs root (containers need namespaces, mounts and cgroups)');
else if (!fs.existsSync('/dev/loop-control')) skip('cli privileged', 'this host has no /dev/loop-control to look for');
else {
  test.before(async () => { E = await envWithImage(); });
  test.after(() => { E?.cleanup(); });

  test('host device nodes: listed with their numbers and modes; none of them without --privileged', () => {
    const loop = hostDevices().find((d) => d.path === '/dev/loop-control')!;
    assert.is(`${loop.type} ${loop.major}:${loop.minor}`, 'c 10:237');
    // nested trees are walked (/dev/net/tun), the pty, shm and fd trees and symlinks are not
    const paths = hostDevices().map((d) => d.path);
    if (fs.existsSync('/dev/net/tun')) assert.ok(paths.includes('/dev/net/tun'));
    assert.not.ok(paths.some((p) => p.startsWith('/dev/pts/') || p.startsWith('/dev/shm/') || p === '/dev/console' || p === '/dev/stdin'));
  });

  test('--privileged sees and can use host devices; a default container does not see them', () => {
    // a block device this host lets root read (some sandboxes refuse their disks even to root)
    const block = hostDevices().find((d) => d.type === 'b' && readable(d.path));
    const script = [
      'ls -l /dev/loop-control',
      block ? `dd if=${block.path} bs=512 count=1 2>/dev/null | wc -c` : 'echo 512',
      'grep CapEff /proc/self/status',
    ].join('; ');
    const p = E.berth(['run', '--rm', '--privileged', IMAGE, 'sh', '-c', script]);
    assert.is(p.status, 0, p.stderr);
    const [ls, bytes, caps] = p.stdout.trim().split('\n');
    assert.match(ls, /^c[rw-]{9}\s+1\s+root\s+root\s+10,\s+237 /);
    assert.is(bytes.trim(), '512', `reading ${block?.path} through the device cgroup`);
    assert.not.match(caps, /CapEff:\t00000000a80425fb/);
    const d = E.berth(['run', '--rm', IMAGE, 'sh', '-c', `test -e /dev/loop-control && echo visible; ${block ? `test -e ${block.path} && echo visible;` : ''} ls /dev | wc -l`]);
    assert.is(d.status, 0, d.stderr);
    assert.not.match(d.stdout, 'visible');
  });

  test.run();
}
