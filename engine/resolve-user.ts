// Resolves an image/CLI USER string ("name", "uid", "name:group", "uid:gid") to numeric ids using the
// container's own /etc/passwd and /etc/group. The rootfs is hostile input: both files are opened with
// openat2(RESOLVE_IN_ROOT) so a symlinked /etc/passwd cannot make berth read a host file, and ids are
// range-checked.
import fs from 'node:fs';
import { openat2, RESOLVE, closeFd } from '../native/ffi.js';
import { invalidArgument } from '../lib/errors.js';

export interface ResolvedUser { uid: number; gid: number; additionalGids: number[]; home: string }

const MAX_ID = 0xfffffffe; // (uid_t)-1 means "no change" to the kernel: never a valid id
const MAX_FILE = 4 << 20;

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function readInRoot(rootfs: string, file: string): string | undefined {
  let dirfd = -1;
  let fd = -1;
  try {
    dirfd = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fd = openat2(dirfd, file, fs.constants.O_RDONLY | 0o2000000 /* O_CLOEXEC */, 0, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(MAX_FILE);
    let len = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len === buf.length) throw invalidArgument(`${file} in the image is larger than ${MAX_FILE} bytes`);
    }
    return buf.subarray(0, len).toString('utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'NOT_FOUND') return undefined;
    throw e;
  } finally {
    if (fd >= 0) closeFd(fd);
    if (dirfd >= 0) fs.closeSync(dirfd);
  }
}

function parseId(s: string, what: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw invalidArgument(`${what} ${s} is out of range (0-${MAX_ID})`);
  return n;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]), gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0 || uid > MAX_ID || gid > MAX_ID) continue;
    out.push({ name: f[0], uid, gid, home: f[5] });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid) || gid < 0 || gid > MAX_ID) continue;
    out.push({ name: f[0], gid, members: f[3] ? f[3].split(',').map((m) => m.trim()).filter(Boolean) : [] });
  }
  return out;
}

/** Docker's semantics: a numeric uid not in passwd is allowed (gid 0, home /); a name must exist. */
export function resolveUser(rootfs: string, user: string | undefined, extraGroups: string[] = []): ResolvedUser {
  const spec = (user ?? '').trim();
  const [userPart, groupPart] = spec === '' ? ['0', undefined] : spec.split(':', 2);
  const passwd = parsePasswd(readInRoot(rootfs, '/etc/passwd') ?? '');
  const groups = parseGroup(readInRoot(rootfs, '/etc/group') ?? '');

  const numericUid = parseId(userPart, 'uid');
  const entry = numericUid !== undefined ? passwd.find((p) => p.uid === numericUid) : passwd.find((p) => p.name === userPart);
  if (!entry && numericUid === undefined) throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = numericUid ?? entry!.uid;
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') gid = resolveGroup(groups, groupPart);
  const name = entry?.name;
  // Supplementary groups from /etc/group only when no explicit group was given, as Docker does.
  const additional = new Set<number>();
  if (name && (groupPart === undefined || groupPart === '')) {
    for (const g of groups) if (g.members.includes(name) && g.gid !== gid) additional.add(g.gid);
  }
  for (const g of extraGroups) additional.add(resolveGroup(groups, g));
  return { uid, gid, additionalGids: [...additional], home: entry?.home || '/' };
}

function resolveGroup(groups: GroupEntry[], g: string): number {
  const n = parseId(g, 'gid');
  if (n !== undefined) return n;
  const e = groups.find((x) => x.name === g);
  if (!e) throw invalidArgument(`unable to find group ${g}: no matching entries in group file`);
  return e.gid;
}
