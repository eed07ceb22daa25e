// The parts of an image config a container is made from, checked as hostile input: environment
// entries must be KEY=value, volumes absolute and free of `..`, ports port[/proto], numeric
// uid/gid in range. The engine turns this into an OCI runtime spec; image/ knows no containers.
import { invalidArgument } from '../lib/errors.js';
import type { ImageConfig } from './schemas.js';

export interface ContainerConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal?: string;
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
}

const MAX_ID = 4294967294; // (uid_t)-1 is "no change": never a real id

export function checkUser(user: string): string {
  if (!user) return user;
  if (user.length > 256 || /[\0\n]/.test(user)) throw invalidArgument('image USER is malformed');
  const parts = user.split(':');
  if (parts.length > 2) throw invalidArgument(`image USER ${JSON.stringify(user)} must be user[:group]`);
  for (const p of parts) {
    if (/^\d+$/.test(p) && (p.length > 10 || Number(p) > MAX_ID)) throw invalidArgument(`image USER ${JSON.stringify(user)}: id ${p} is out of range`);
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(p)) throw invalidArgument(`image USER ${JSON.stringify(user)} has an invalid name ${JSON.stringify(p)}`);
  }
  return user;
}

export function containerConfig(cfg: ImageConfig): ContainerConfig {
  const c = cfg.config ?? {};
  const env = (c.Env ?? []).filter((e) => {
    if (!e.includes('=') || e.startsWith('=') || e.includes('\0')) throw invalidArgument(`image Env entry ${JSON.stringify(e.slice(0, 80))} is not KEY=value`);
    return true;
  });
  const volumes = Object.keys((c.Volumes as Record<string, unknown> | undefined) ?? {}).map((v) => {
    if (!v.startsWith('/') || v.split('/').includes('..') || v.includes('\0')) throw invalidArgument(`image volume ${JSON.stringify(v)} must be an absolute path without ..`);
    return v;
  });
  const exposedPorts = Object.keys((c.ExposedPorts as Record<string, unknown> | undefined) ?? {}).map((p) => {
    const m = /^(\d{1,5})(?:-\d{1,5})?(?:\/(tcp|udp|sctp))?$/.exec(p);
    if (!m || Number(m[1]) > 65535) throw invalidArgument(`image exposed port ${JSON.stringify(p)} is not port[/tcp|udp|sctp]`);
    return p.includes('/') ? p : `${p}/tcp`;
  });
  const wd = c.WorkingDir ?? '';
  if (wd && (!wd.startsWith('/') || wd.includes('\0'))) throw invalidArgument(`image WorkingDir ${JSON.stringify(wd)} is not an absolute path`);
  if (c.StopSignal !== undefined && !/^(SIG)?[A-Z0-9+-]{1,16}$|^\d{1,2}$/.test(c.StopSignal)) throw invalidArgument(`image StopSignal ${JSON.stringify(c.StopSignal)} is not a signal`);
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env,
    workingDir: wd || '/',
    user: checkUser(c.User ?? ''),
    stopSignal: c.StopSignal,
    labels: { ...(c.Labels ?? {}) },
    exposedPorts,
    volumes,
  };
}
