// Seccomp end to end through berth-runtime: config.json -> compiler -> launch plan -> berth-init
// installs the filter for the container process and for processes exec'd into it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultSeccompProfile } from '../../runtime/seccomp/default-profile.js';
import type { LinuxSeccomp } from '../../runtime/spec/seccomp-schema.js';
import { isRoot, makeBusyboxRootfs, run, skip, tmpDir } from '../lib/harness.js';
import { BIN, RuntimeCli, leftovers, makeBundle, waitFor } from '../lib/runtime.js';
import { buildRawSyscall } from '../lib/seccomp.js';

const ENOSPC_MSG = /No space left on device/;
const denyMkdir: LinuxSeccomp = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }],
};

let rt: RuntimeCli | undefined;
const cli = () => (rt ??= new RuntimeCli());
const bundles: string[] = [];
const bundle = (...a: Parameters<typeof makeBundle>) => { const b = makeBundle(...a); bundles.push(b); return b; };

test('run: the container process gets the profile (mkdir -> errnoRet ENOSPC)', () => {
  if (!isRoot) return skip('seccomp in berth-runtime run', 'needs root');
  const id = `sc-run-${process.pid}`;
  // /dev is a writable tmpfs in the default spec: without the filter mkdir would succeed there.
  const b = bundle(['sh', '-c', 'mkdir /dev/berth-sc; echo "rc=$?"; echo alive'], (s) => { s.linux!.seccomp = denyMkdir; });
  try {
    const r = cli().run(['run', '--bundle', b, id]);
    assert.match(r.stderr, ENOSPC_MSG, `stderr: ${r.stderr}`);
    assert.match(r.stdout, /rc=1\nalive/);
  } finally {
    cli().cleanup(id);
  }
  assert.equal(leftovers(cli().root, id), []);
});

test('exec: a process exec\'d into the container is filtered too', async () => {
  if (!isRoot) return skip('seccomp in berth-runtime exec', 'needs root');
  const id = `sc-exec-${process.pid}`;
  const b = bundle(['sleep', '30'], (s) => { s.linux!.seccomp = denyMkdir; });
  try {
    // The container inherits create's stdio: give it a file, not a pipe spawnSync would wait on.
    const log = path.join(b, 'create.log');
    const fd = fs.openSync(log, 'w');
    const c = spawnSync(BIN, ['--root', cli().root, 'create', '--bundle', b, id], { stdio: ['ignore', fd, fd], timeout: 30_000 });
    fs.closeSync(fd);
    assert.is(c.status, 0, fs.readFileSync(log, 'utf8'));
    cli().ok(['start', id]);
    await waitFor('running', () => cli().state(id).status === 'running');
    const r = cli().run(['exec', id, 'mkdir', '/dev/berth-sc-exec']);
    assert.is.not(r.status, 0);
    assert.match(r.stderr, ENOSPC_MSG, `stderr: ${r.stderr}`);
    assert.is(cli().run(['exec', id, 'true']).status, 0);
  } finally {
    cli().cleanup(id);
  }
});

test('default profile in a container: shell works, a syscall newer than the profile gets ENOSYS', () => {
  if (!isRoot) return skip('default seccomp profile in berth-runtime', 'needs root');
  if (process.arch !== 'x64') return skip('default seccomp profile in berth-runtime', 'syscall numbers below are x86_64');
  // A rootfs of our own with the static raw-syscall prober in it.
  const rootfs = makeBusyboxRootfs(tmpDir('berth-sc-rootfs-'));
  const work = tmpDir('berth-sc-build-');
  fs.copyFileSync(buildRawSyscall(work), path.join(rootfs, 'bin/rawsys'));
  fs.rmSync(work, { recursive: true, force: true });
  const id = `sc-default-${process.pid}`;
  const b = bundle(['sh', '-c', 'echo ok; rawsys 452; rawsys 272'], (s) => {
    s.root = { path: rootfs, readonly: true };
    s.linux!.seccomp = defaultSeccompProfile(s.process!.capabilities!.bounding as string[]);
  });
  try {
    const r = cli().run(['run', '--bundle', b, id]);
    assert.is(r.status, 0, r.stderr);
    // fchmodat2 (452): ENOSYS from the stub; unshare (272): EPERM from the profile.
    assert.equal(r.stdout.trim().split('\n'), ['ok', '-1 38', '-1 1']);
  } finally {
    cli().cleanup(id);
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
});

test('a profile berth cannot compile fails create and names the field', () => {
  if (!isRoot) return skip('seccomp create error', 'needs root');
  const id = `sc-bad-${process.pid}`;
  const b = bundle(['true'], (s) => {
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', args: [{ index: 9, value: 0, op: 'SCMP_CMP_EQ' }] }] };
  });
  try {
    const r = cli().run(['create', '--bundle', b, id]);
    assert.is.not(r.status, 0);
    assert.match(r.stderr, /syscalls\[0\]\.args\[0\]\.index/);
  } finally {
    cli().cleanup(id);
  }
  assert.equal(leftovers(cli().root, id), []);
});

test.after(() => {
  for (const b of bundles) fs.rmSync(b, { recursive: true, force: true });
  if (rt) run('rm', ['-rf', rt.root]);
});

test.run();
