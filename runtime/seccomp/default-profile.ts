// berth's default seccomp profile: the same policy as Docker's default (moby
// profiles/seccomp/default.json), kept as data with its conditions and resolved per container
// the way moby does: by the container's capabilities, the host architecture and kernel version.
import { release } from 'node:os';
import type { LinuxSeccomp, SeccompArch, SeccompSyscall } from '../spec/seccomp-schema.js';

/** Go-style architecture names, as moby's conditions use them. */
export type GoArch = 'amd64' | 'x86' | 'x32' | 'arm' | 'arm64' | 'mips' | 'mips64' | 'mips64n32' | 'mipsel' | 'mipsel64' | 'mipsel64n32' | 'ppc64le' | 's390' | 's390x' | 'riscv64' | 'loong64';

interface Condition {
  caps?: string[];
  arches?: GoArch[];
  minKernel?: string;
}

interface ProfileEntry extends SeccompSyscall {
  includes?: Condition;
  excludes?: Condition;
}

/** Native architecture -> the SCMP_ARCH_* set a filter for it must cover (moby's archMap). */
const archMap: Partial<Record<GoArch, SeccompArch[]>> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  mips64: ['SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'],
  mips64n32: ['SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'],
  mipsel64: ['SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'],
  mipsel64n32: ['SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
};

// Syscalls every container may make, whatever its capabilities.
const baseAllowed = `
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
writev`.trim().split(/\s+/);

const allow = (names: string[], more: Omit<ProfileEntry, 'names' | 'action'> = {}): ProfileEntry =>
  ({ names, action: 'SCMP_ACT_ALLOW', ...more });
const whenCap = (cap: string, names: string[]): ProfileEntry => allow(names, { includes: { caps: [cap] } });
// personality(2) only with the persona values ordinary programs use (Linux, 32-bit, uname26...).
const personality = (value: number): ProfileEntry =>
  allow(['personality'], { args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
// clone(2) without any CLONE_NEW* namespace flag (mask 0x7E020000).
const CLONE_NS_MASK = 2114060288;

const entries: ProfileEntry[] = [
  allow(baseAllowed),
  allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], { includes: { minKernel: '4.8' } }),
  allow(['socket'], { args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }), // not AF_VSOCK
  personality(0), personality(8), personality(131072), personality(131080), personality(4294967295),
  allow(['sync_file_range2', 'swapcontext'], { includes: { arches: ['ppc64le'] } }),
  allow(['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
    { includes: { arches: ['arm', 'arm64'] } }),
  allow(['arch_prctl'], { includes: { arches: ['amd64', 'x32'] } }),
  allow(['modify_ldt'], { includes: { arches: ['amd64', 'x32', 'x86'] } }),
  allow(['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], { includes: { arches: ['s390', 's390x'] } }),
  allow(['riscv_flush_icache'], { includes: { arches: ['riscv64'] } }),
  whenCap('CAP_DAC_READ_SEARCH', ['open_by_handle_at']),
  whenCap('CAP_SYS_ADMIN', [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd',
    'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ]),
  allow(['clone'], {
    args: [{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
  }),
  // s390 passes clone's flags as the second argument.
  allow(['clone'], {
    args: [{ index: 1, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }],
    includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] },
  }),
  // clone3's flags live in memory the filter cannot inspect: ENOSYS makes libcs fall back to clone.
  { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
  whenCap('CAP_SYS_BOOT', ['reboot']),
  whenCap('CAP_SYS_CHROOT', ['chroot']),
  whenCap('CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']),
  whenCap('CAP_SYS_PACCT', ['acct']),
  whenCap('CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']),
  whenCap('CAP_SYS_RAWIO', ['iopl', 'ioperm']),
  whenCap('CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']),
  whenCap('CAP_SYS_TTY_CONFIG', ['vhangup']),
  whenCap('CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']),
  whenCap('CAP_SYSLOG', ['syslog']),
  whenCap('CAP_BPF', ['bpf']),
  whenCap('CAP_PERFMON', ['perf_event_open']),
];

export function hostGoArch(): GoArch {
  switch (process.arch) {
    case 'x64': return 'amd64';
    case 'ia32': return 'x86';
    case 'arm64': return 'arm64';
    case 'arm': return 'arm';
    case 'ppc64': return 'ppc64le';
    case 's390x': return 's390x';
    case 'riscv64': return 'riscv64';
    case 'loong64': return 'loong64';
    case 'mips': return 'mips';
    case 'mipsel': return 'mipsel';
    default: return process.arch as GoArch;
  }
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string) => v.split(/[.-]/).slice(0, 2).map((x) => parseInt(x, 10) || 0);
  const [a, b] = parse(kernel);
  const [c, d] = parse(min);
  return a !== c ? a > c : b >= d;
}

const normCap = (c: string) => {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
};

export interface DefaultProfileOptions {
  /** Host architecture in Go naming; defaults to this machine's. */
  arch?: GoArch;
  /** Kernel release (uname -r); defaults to this machine's. */
  kernel?: string;
}

/**
 * The default profile for a container whose bounding set is `caps`: moby's rules, so a capability
 * that lets a process do something (e.g. CAP_SYS_ADMIN -> mount) also opens the syscalls for it.
 */
export function defaultSeccompProfile(caps: string[], opts: DefaultProfileOptions = {}): LinuxSeccomp {
  const arch = opts.arch ?? hostGoArch();
  const kernel = opts.kernel ?? release();
  const have = new Set(caps.map(normCap));
  const syscalls: SeccompSyscall[] = [];
  for (const { includes, excludes, ...rule } of entries) {
    if (excludes) {
      if (excludes.arches?.includes(arch)) continue;
      if (excludes.caps?.some((c) => have.has(c))) continue;
      if (excludes.minKernel && kernelAtLeast(kernel, excludes.minKernel)) continue;
    }
    if (includes) {
      if (includes.arches && !includes.arches.includes(arch)) continue;
      if (includes.caps && !includes.caps.every((c) => have.has(c))) continue;
      if (includes.minKernel && !kernelAtLeast(kernel, includes.minKernel)) continue;
    }
    syscalls.push({ ...rule, names: [...rule.names], ...(rule.args ? { args: rule.args.map((a) => ({ ...a })) } : {}) });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: [...(archMap[arch] ?? [])],
    syscalls,
  };
}
