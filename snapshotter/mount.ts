// Mount[] -> real mounts. Overlay options that outgrow mount(2)'s one-page data string go through
// the new mount API instead, which takes lower dirs one at a time ("lowerdir+", Linux >= 6.8).
import fs from 'node:fs';
import path from 'node:path';
import { mount, umount2, MS, MNT_DETACH, fsopen, fsconfigString, fsconfigFlag, fsconfigCreate, fsmount, moveMountFd, MOUNT_ATTR, SyscallError } from '../native/ffi.js';
import { invalidArgument } from '../lib/errors.js';
import type { Mount } from './types.js';

const FLAG_OPTIONS: Record<string, number> = {
  ro: MS.RDONLY, rw: 0, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC, bind: MS.BIND, rbind: MS.BIND | MS.REC,
  noatime: MS.NOATIME, relatime: MS.RELATIME,
};
const PAGE = 4096;

function split(options: string[]): { flags: number; data: string[] } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o in FLAG_OPTIONS) flags |= FLAG_OPTIONS[o];
    else data.push(o);
  }
  return { flags, data };
}

/**
 * The mounts of a snapshot whose contents are thrown away with it (a --rm container's): overlay
 * with `volatile`, so neither the container's writes nor the unmount sync the upper dir to disk (an
 * unmount otherwise waits for a syncfs of the whole host filesystem: 1-20 ms on a busy host). A
 * crash may lose such writes, which is what removing them at exit does anyway (podman does the same).
 */
export function transientMounts(mounts: Mount[]): Mount[] {
  return mounts.map((m) => (m.type === 'overlay' && !m.options.includes('volatile') ? { ...m, options: [...m.options, 'volatile'] } : m));
}

/** Mount each entry on `target` in order (later ones stack on earlier ones). */
export function mountAll(mounts: Mount[], target: string): void {
  for (const m of mounts) {
    const { flags, data } = split(m.options);
    if (m.type === 'bind' || flags & MS.BIND) {
      mount(m.source, target, '', flags & (MS.BIND | MS.REC) | MS.BIND);
      // A bind mount takes its other flags only on a remount.
      const extra = flags & ~(MS.BIND | MS.REC);
      if (extra) mount('', target, '', MS.REMOUNT | MS.BIND | extra);
      continue;
    }
    if (m.type === 'overlay') {
      if (data.includes('volatile')) clearVolatileMark(data);
      const opts = data.join(',');
      if (opts.length < PAGE) mount(m.source || 'overlay', target, 'overlay', flags, opts);
      else mountOverlayLong(data, flags, target);
      continue;
    }
    mount(m.source, target, m.type, flags, data.join(','));
  }
}

// A volatile mount leaves <workdir>/work/incompat/volatile behind, and overlay refuses to mount that
// upper dir again while it is there (even after a clean unmount). Only an unmounted snapshot gets
// here (a remount after a reboot), whose upper dir is as good as its unsynced writes left it.
function clearVolatileMark(data: string[]): void {
  const work = data.find((o) => o.startsWith('workdir='))?.slice('workdir='.length);
  if (work) fs.rmSync(path.join(work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
}

function mountOverlayLong(data: string[], flags: number, target: string): void {
  const fd = fsopen('overlay');
  try {
    for (const o of data) {
      const eq = o.indexOf('=');
      const key = eq === -1 ? o : o.slice(0, eq);
      const value = eq === -1 ? undefined : o.slice(eq + 1);
      if (key === 'lowerdir' && value !== undefined) {
        for (const dir of value.split(':')) fsconfigString(fd, 'lowerdir+', dir);
      } else if (value === undefined) fsconfigFlag(fd, key);
      else fsconfigString(fd, key, value);
    }
    fsconfigCreate(fd);
    let attrs = 0;
    if (flags & MS.RDONLY) attrs |= MOUNT_ATTR.RDONLY;
    if (flags & MS.NOSUID) attrs |= MOUNT_ATTR.NOSUID;
    if (flags & MS.NODEV) attrs |= MOUNT_ATTR.NODEV;
    if (flags & MS.NOEXEC) attrs |= MOUNT_ATTR.NOEXEC;
    const mfd = fsmount(fd, attrs);
    try {
      moveMountFd(mfd, target);
    } finally {
      fs.closeSync(mfd);
    }
  } catch (e) {
    if (e instanceof SyscallError && e.errno === 22) {
      throw invalidArgument(`overlay with ${data.find((o) => o.startsWith('lowerdir='))?.split(':').length ?? 0} lower dirs could not be mounted (${e.message}); the kernel may be older than 6.8 or the stack deeper than overlay allows`, e);
    }
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** Unmount everything stacked on `target`. */
export function unmountAll(target: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      umount2(target, 0);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === 22 /* EINVAL: not a mount point */) return;
      if (e instanceof SyscallError && e.errno === 16 /* EBUSY */) { umount2(target, MNT_DETACH); continue; }
      if (e instanceof SyscallError && e.errno === 2 /* ENOENT */) return;
      throw e;
    }
  }
}
