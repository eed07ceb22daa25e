import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileSeccomp } from '../../runtime/seccomp/compile.js';
import { seccompSyscallResolveNameArch } from '../../native/ffi.js';
import { defaultSeccompProfile } from '../../runtime/seccomp/default-profile.js';
import { AUDIT_ARCH, RET, retAction, retData, runFilter, X32_SYSCALL_BIT } from '../lib/seccomp.js';

const NR = { write: 1, clone: 56, personality: 135, mount: 165, unshare: 272, clone3: 435, socket: 41, reboot: 169, ptrace: 101, open_by_handle_at: 304, arch_prctl: 158 };
const CLONE_NEWNS = 0x00020000, CLONE_THREAD = 0x00010000, SIGCHLD = 17;
const DOCKER_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
const x64 = process.arch === 'x64';

const names = (p: ReturnType<typeof defaultSeccompProfile>) => new Set((p.syscalls ?? []).flatMap((s) => s.names));

test('shape: ERRNO(EPERM) by default, amd64 covers x86_64, x86 and x32', () => {
  const p = defaultSeccompProfile(DOCKER_CAPS, { arch: 'amd64', kernel: '6.1.0' });
  assert.is(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.is(p.defaultErrnoRet, 1);
  assert.equal(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const n = names(p);
  for (const s of ['read', 'write', 'execve', 'arch_prctl', 'modify_ldt', 'chroot', 'ptrace']) assert.ok(n.has(s), s);
  for (const s of ['mount', 'unshare', 'setns', 'reboot', 'kexec_load', 'open_by_handle_at', 'init_module', 'bpf', 'riscv_flush_icache', 'set_tls']) assert.not.ok(n.has(s), s);
});

test('capabilities open their syscalls, as in moby', () => {
  const admin = names(defaultSeccompProfile([...DOCKER_CAPS, 'CAP_SYS_ADMIN'], { arch: 'amd64' }));
  for (const s of ['mount', 'umount2', 'unshare', 'setns', 'clone3', 'bpf']) assert.ok(admin.has(s), s);
  assert.ok(names(defaultSeccompProfile(['sys_boot'], { arch: 'amd64' })).has('reboot'), 'caps without CAP_ prefix, any case');
  assert.ok(names(defaultSeccompProfile(['CAP_DAC_READ_SEARCH'], { arch: 'amd64' })).has('open_by_handle_at'));
  assert.not.ok(names(defaultSeccompProfile([], { arch: 'amd64' })).has('chroot'));
});

test('clone is restricted by flags only without CAP_SYS_ADMIN; clone3 gets ENOSYS', () => {
  const plain = defaultSeccompProfile(DOCKER_CAPS, { arch: 'amd64' }).syscalls!;
  const clone = plain.filter((s) => s.names.includes('clone'));
  assert.is(clone.length, 1);
  assert.equal(clone[0].args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
  const clone3 = plain.find((s) => s.names.includes('clone3'))!;
  assert.is(clone3.action, 'SCMP_ACT_ERRNO');
  assert.is(clone3.errnoRet, 38);
  const s390 = defaultSeccompProfile(DOCKER_CAPS, { arch: 's390x' }).syscalls!.filter((s) => s.names.includes('clone'));
  assert.is(s390[0].args![0].index, 1, 's390 passes clone flags second');
  const admin = defaultSeccompProfile(['CAP_SYS_ADMIN'], { arch: 'amd64' }).syscalls!;
  assert.not.ok(admin.some((s) => s.names.includes('clone') && s.args), 'no flag filter with CAP_SYS_ADMIN');
  assert.not.ok(admin.some((s) => s.names.includes('clone3') && s.action === 'SCMP_ACT_ERRNO'));
});

test('minKernel conditions follow the kernel version', () => {
  assert.ok(names(defaultSeccompProfile([], { arch: 'amd64', kernel: '4.8.0' })).has('process_vm_readv'));
  assert.not.ok(names(defaultSeccompProfile([], { arch: 'amd64', kernel: '4.4.0-210-generic' })).has('process_vm_readv'));
});

test('each call returns a fresh profile: callers may edit it', () => {
  const a = defaultSeccompProfile([], { arch: 'amd64' });
  a.syscalls![0].names.push('mount');
  assert.not.ok(names(defaultSeccompProfile([], { arch: 'amd64' })).has('mount'));
});

test('compiled default profile decides like docker on x86_64', () => {
  if (!x64) return;
  const t0 = performance.now();
  const { filter, skipped } = compileSeccomp(defaultSeccompProfile(DOCKER_CAPS));
  const ms = performance.now() - t0;
  console.log(`default profile: ${filter.length / 8} BPF instructions, compiled in ${ms.toFixed(1)} ms, skipped [${skipped.join(', ')}]`);
  assert.is(runFilter(filter, { nr: NR.write }), RET.ALLOW);
  assert.is(runFilter(filter, { nr: NR.mount }), (RET.ERRNO | 1) >>> 0);
  assert.is(runFilter(filter, { nr: NR.unshare }), (RET.ERRNO | 1) >>> 0);
  assert.is(runFilter(filter, { nr: NR.reboot }), (RET.ERRNO | 1) >>> 0);
  assert.is(runFilter(filter, { nr: NR.clone, args: [CLONE_THREAD | SIGCHLD] }), RET.ALLOW);
  assert.is(retAction(runFilter(filter, { nr: NR.clone, args: [CLONE_NEWNS | SIGCHLD] })), RET.ERRNO);
  const c3 = runFilter(filter, { nr: NR.clone3 });
  assert.is(retAction(c3), RET.ERRNO);
  assert.is(retData(c3), 38);
  assert.is(runFilter(filter, { nr: NR.personality, args: [0xffffffff] }), RET.ALLOW);
  assert.is(retAction(runFilter(filter, { nr: NR.personality, args: [0x0400000] })), RET.ERRNO, 'ADDR_NO_RANDOMIZE refused');
  assert.is(runFilter(filter, { nr: NR.socket, args: [2] }), RET.ALLOW);
  assert.is(retAction(runFilter(filter, { nr: NR.socket, args: [40] })), RET.ERRNO, 'AF_VSOCK refused');
  assert.is(runFilter(filter, { nr: 102, arch: AUDIT_ARCH.I386 }), RET.ALLOW, 'i386 socketcall allowed');
  assert.is(retAction(runFilter(filter, { nr: 21, arch: AUDIT_ARCH.I386 })), RET.ERRNO, 'i386 mount refused');
  const admin = compileSeccomp(defaultSeccompProfile([...DOCKER_CAPS, 'CAP_SYS_ADMIN'])).filter;
  assert.is(runFilter(admin, { nr: NR.mount }), RET.ALLOW);
  assert.is(runFilter(admin, { nr: NR.clone, args: [CLONE_NEWNS | SIGCHLD] }), RET.ALLOW);
});

test('syscalls newer than the profile get ENOSYS, not EPERM (runc-style stub)', () => {
  if (!x64) return;
  const { filter } = compileSeccomp(defaultSeccompProfile(DOCKER_CAPS));
  const enosys = (RET.ERRNO | 38) >>> 0, eperm = (RET.ERRNO | 1) >>> 0;
  // Without CAP_SYS_NICE the newest syscall the profile names is futex_waitv (449).
  assert.is(runFilter(filter, { nr: 449 }), RET.ALLOW);
  assert.is(runFilter(filter, { nr: 450 }), enosys, 'set_mempolicy_home_node is not named');
  assert.is(runFilter(filter, { nr: 451 }), enosys, 'cachestat');
  assert.is(runFilter(filter, { nr: 452 }), enosys, 'fchmodat2: libc falls back to fchmodat');
  assert.is(runFilter(filter, { nr: 300 }), eperm, 'fanotify_init is known and refused');
  assert.is(runFilter(filter, { nr: -1 }), enosys, 'a number no kernel has');
  // x32's compat entries run up to 547, so only numbers above that are new there.
  assert.is(runFilter(filter, { nr: 452 | X32_SYSCALL_BIT }), eperm, 'x32 fchmodat2 is below the x32 maximum');
  assert.is(runFilter(filter, { nr: 600 | X32_SYSCALL_BIT }), enosys);
  assert.is(runFilter(filter, { nr: 0 | X32_SYSCALL_BIT }), RET.ALLOW, 'x32 read');
  assert.is(runFilter(filter, { nr: 460, arch: AUDIT_ARCH.I386 }), enosys);
  assert.is(runFilter(filter, { nr: 21, arch: AUDIT_ARCH.I386 }), eperm, 'i386 mount');
  assert.is(runFilter(filter, { nr: 1, arch: AUDIT_ARCH.AARCH64 }), RET.KILL_THREAD, 'arch not in the filter');
  const nice = compileSeccomp(defaultSeccompProfile([...DOCKER_CAPS, 'CAP_SYS_NICE'])).filter;
  assert.is(runFilter(nice, { nr: 450 }), RET.ALLOW, 'named once CAP_SYS_NICE allows it');
  assert.is(runFilter(nice, { nr: 451 }), enosys);
});

test('no stub when the default action lets unknown syscalls through', () => {
  if (!x64) return;
  for (const defaultAction of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG'] as const) {
    const { filter } = compileSeccomp({ defaultAction, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] });
    assert.is(runFilter(filter, { nr: 452 }) >>> 0, defaultAction === 'SCMP_ACT_ALLOW' ? RET.ALLOW : RET.LOG);
  }
});

test('every unconditional rule of the profile decides its syscalls on x86_64, i386 and x32; dangerous ones are refused', () => {
  if (!x64) return;
  const profile = defaultSeccompProfile(DOCKER_CAPS);
  const { filter } = compileSeccomp(profile);
  const arches = [
    { token: AUDIT_ARCH.X86_64, audit: AUDIT_ARCH.X86_64 },
    { token: AUDIT_ARCH.I386, audit: AUDIT_ARCH.I386 },
    { token: 0x4000003e /* SCMP_ARCH_X32 */, audit: AUDIT_ARCH.X86_64 },
  ];
  let checked = 0;
  for (const { token, audit } of arches) {
    for (const rule of profile.syscalls!) {
      if (rule.args) continue;
      const want = rule.action === 'SCMP_ACT_ALLOW' ? RET.ALLOW : (RET.ERRNO | (rule.errnoRet ?? 1)) >>> 0;
      for (const name of rule.names) {
        const nr = seccompSyscallResolveNameArch(token, name);
        if (nr < 0) continue; // not a syscall of this ABI (e.g. socketcall on x86_64)
        assert.is(runFilter(filter, { nr, arch: audit }) >>> 0, want, `${name} (${nr}) on arch 0x${token.toString(16)}`);
        checked++;
      }
    }
    for (const name of ['kexec_load', 'init_module', 'reboot', 'swapon', 'pivot_root', 'acct', 'settimeofday', 'add_key', 'keyctl', 'request_key', 'userfaultfd', 'bpf', 'perf_event_open', 'open_by_handle_at', 'kcmp', 'setns', 'mount', 'umount2', 'unshare']) {
      const nr = seccompSyscallResolveNameArch(token, name);
      if (nr < 0) continue;
      assert.is(runFilter(filter, { nr, arch: audit }) >>> 0, (RET.ERRNO | 1) >>> 0, `${name} refused on arch 0x${token.toString(16)}`);
    }
  }
  assert.ok(checked > 900, `checked ${checked} (syscall, arch) pairs`);
});

test.run();
