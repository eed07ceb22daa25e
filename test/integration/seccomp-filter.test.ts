// Compiled filters installed in a real process by a minimal C loader (what berth-init does).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { compileSeccomp } from '../../runtime/seccomp/compile.js';
import { defaultSeccompProfile } from '../../runtime/seccomp/default-profile.js';
import type { LinuxSeccomp, SeccompSyscall } from '../../runtime/spec/seccomp-schema.js';
import { run, skip, tmpDir } from '../lib/harness.js';
import { buildRawSyscall, buildSeccompLoader } from '../lib/seccomp.js';

const BB = '/bin/busybox';
const DOCKER_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

let dir = '';
let loader = '';
let n = 0;
const ready = () => {
  if (loader) return true;
  const gccOk = run('gcc', ['--version']).status === 0;
  if (!gccOk || !fs.existsSync(BB)) return false;
  dir = tmpDir('berth-seccomp-');
  loader = buildSeccompLoader(dir);
  return true;
};

/** Run argv under the compiled profile; returns the process result. */
function under(profile: LinuxSeccomp, argv: string[]) {
  const { filter, flags } = compileSeccomp(profile);
  const f = path.join(dir, `filter-${n++}.bpf`);
  fs.writeFileSync(f, filter);
  return run(loader, [f, String(flags), ...argv]);
}

const denyMkdir = (extra: Partial<SeccompSyscall> = {}): LinuxSeccomp => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', ...extra }],
});

test('mkdir is refused with EPERM; allowed syscalls still work', () => {
  if (!ready()) return skip('seccomp mkdir', 'gcc or busybox-static missing');
  const target = path.join(dir, 'blocked');
  const r = under(denyMkdir(), [BB, 'mkdir', target]);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /Operation not permitted/);
  assert.not.ok(fs.existsSync(target));
  const ok = under(denyMkdir(), [BB, 'sh', '-c', `echo ok > ${dir}/written && cat ${dir}/written`]);
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout.trim(), 'ok');
});

test('custom errnoRet comes back as that errno', () => {
  if (!ready()) return skip('seccomp errnoRet', 'gcc or busybox-static missing');
  const r = under(denyMkdir({ errnoRet: 28 }), [BB, 'mkdir', path.join(dir, 'nospace')]);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /No space left on device/);
});

test('defaultAction ERRNO with defaultErrnoRet refuses whatever is not listed', () => {
  if (!ready()) return skip('seccomp default errno', 'gcc or busybox-static missing');
  // Start from the default profile and remove mkdir/mkdirat from its allow list.
  const p = defaultSeccompProfile(DOCKER_CAPS);
  p.defaultErrnoRet = 122; // EDQUOT
  for (const s of p.syscalls!) s.names = s.names.filter((x) => x !== 'mkdir' && x !== 'mkdirat');
  const r = under(p, [BB, 'mkdir', path.join(dir, 'quota')]);
  assert.match(r.stderr, /quota exceeded/i);
});

test('argument-conditional rule: personality(PER_LINUX32) refused, personality(PER_LINUX) allowed', () => {
  if (!ready()) return skip('seccomp args', 'gcc or busybox-static missing');
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
  };
  const r32 = under(p, [BB, 'linux32', BB, 'true']);
  assert.is.not(r32.status, 0);
  assert.match(r32.stderr, /Permission denied/);
  const r64 = under(p, [BB, 'linux64', BB, 'uname', '-m']);
  assert.is(r64.status, 0, r64.stderr);
  assert.is(r64.stdout.trim(), 'x86_64');
  const masked: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0xff, valueTwo: 8, op: 'SCMP_CMP_MASKED_EQ' }] }],
  };
  assert.match(under(masked, [BB, 'linux32', BB, 'true']).stderr, /Operation not permitted/);
});

test('KILL_PROCESS ends the process with SIGSYS; LOG/TSYNC flags are accepted by the kernel', () => {
  if (!ready()) return skip('seccomp kill', 'gcc or busybox-static missing');
  const r = under(denyMkdir({ action: 'SCMP_ACT_KILL_PROCESS' }), [BB, 'mkdir', path.join(dir, 'killed')]);
  assert.is(r.signal, 'SIGSYS');
  const flagged = under({ ...denyMkdir(), flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }, [BB, 'true']);
  assert.is(flagged.status, 0, flagged.stderr);
});

test('default profile: busybox sh runs, unshare and mount are refused', () => {
  if (!ready()) return skip('seccomp default profile', 'gcc or busybox-static missing');
  const t0 = performance.now();
  const p = defaultSeccompProfile(DOCKER_CAPS);
  const { filter } = compileSeccomp(p);
  console.log(`default profile compile: ${(performance.now() - t0).toFixed(1)} ms (${filter.length / 8} instructions)`);
  const ok = under(p, [BB, 'sh', '-c', 'echo ok']);
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout, 'ok\n');
  const un = under(p, [BB, 'unshare', '-n', BB, 'true']);
  assert.is.not(un.status, 0);
  assert.match(un.stderr, /Operation not permitted/);
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  try {
    const m = under(p, [BB, 'mount', '-t', 'tmpfs', 'berth-seccomp-test', mnt]);
    assert.is.not(m.status, 0);
    assert.match(m.stderr, /Operation not permitted|permission denied/i);
  } finally {
    run('umount', [mnt]); // only mounted if the filter failed to block
  }
  // With CAP_SYS_ADMIN in the bounding set the same syscalls are let through (we are real root here).
  const admin = under(defaultSeccompProfile([...DOCKER_CAPS, 'CAP_SYS_ADMIN']), [BB, 'unshare', '-n', BB, 'true']);
  assert.is(admin.status, 0, admin.stderr);
});

test('default profile: a syscall newer than the profile fails with ENOSYS, a refused one with EPERM', () => {
  if (!ready()) return skip('seccomp enosys stub', 'gcc or busybox-static missing');
  if (process.arch !== 'x64') return skip('seccomp enosys stub', 'syscall numbers below are x86_64');
  const rawsys = buildRawSyscall(dir);
  const p = defaultSeccompProfile(DOCKER_CAPS);
  // fchmodat2 (452) exists on this kernel (EFAULT for a NULL path) but is newer than the profile.
  assert.is(run(rawsys, ['452']).stdout.trim(), '-1 14', 'without a filter: EFAULT');
  assert.is(under(p, [rawsys, '452']).stdout.trim(), '-1 38', 'ENOSYS');
  assert.is(under(p, [rawsys, '165']).stdout.trim(), '-1 1', 'mount: EPERM');
  assert.match(under(p, [rawsys, '39']).stdout.trim(), /^\d+ 0$/, 'getpid allowed');
});

test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

test.run();
