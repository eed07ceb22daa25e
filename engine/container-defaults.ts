// Docker's secure defaults for a container spec: the capability set, masked and read-only paths,
// the standard mounts and the device rules. These are interoperability facts (what a docker user
// expects inside a container), kept as data in one place.

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function defaultMounts(opts: { shmSize?: number; privileged?: boolean } = {}) {
  const shm = opts.shmSize ?? 64 * 1024 * 1024;
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', opts.privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', opts.privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
  ];
}

/** The device cgroup rules every container gets: deny all, then the standard character devices. */
export function defaultDeviceRules() {
  const c = (major: number, minor: number | undefined, access: string) => ({ allow: true, type: 'c', major, minor, access });
  return [
    { allow: false, access: 'rwm' },
    c(1, 3, 'rwm'), // null
    c(1, 5, 'rwm'), // zero
    c(1, 7, 'rwm'), // full
    c(1, 8, 'rwm'), // random
    c(1, 9, 'rwm'), // urandom
    c(5, 0, 'rwm'), // tty
    c(5, 1, 'rwm'), // console
    c(5, 2, 'rwm'), // ptmx
    c(136, undefined, 'rwm'), // pts/*
    c(10, 200, 'rwm'), // net/tun
  ];
}
