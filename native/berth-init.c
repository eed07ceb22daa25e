/*
 * berth-init: everything between clone() and execve() for berth's containers. Node is
 * multi-threaded and must never change its own namespaces (DESIGN.md), so this small static,
 * single-threaded program does it, driven by a launch plan Node built from config.json.
 *
 * Usage (spawned by runtime/launch.ts, never by hand):
 *   berth-init create <syncfd>     create a container; its init ends blocked on exec.fifo
 *   berth-init exec <syncfd>       run a process inside a running container
 *
 * <syncfd> is a unix stream socket to Node (a child_process 'pipe', which libuv makes a
 * socketpair). Messages both ways: u32 length (LE, counts the type byte and payload), u8 type, payload.
 *   Node -> init: 'J' (create, optional, before the plan) cgroup dirs, NUL-separated: berth-init
 *                 joins them itself before it clones (a lone cgroup2 dir: clones straight into it),
 *                 so the container process is born inside;
 *                 'L' launch plan (format: runtime/plan/encode.ts), 'G' go (payload: state JSON
 *                 for createContainer/startContainer hooks), 'A' abort.
 *   init -> Node: 'I' u32 berth-init's own pid (create, first: Node may place it in the container's
 *                 cgroups at once, so the clone that follows is born there), 'P' u32 pid (as seen
 *                 by Node), 'C' created (create: set up, blocked on the fifo), 'S' started (exec:
 *                 execve succeeded), 'E' one line of error text. With BERTH_TIMING set, 'P' and 'C'
 *                 carry after their fixed part a text of "step=ms" pairs: where init's time went.
 *
 * create: the parent reports its own pid, joins the container's cgroups when Node sends them (so
 * the child is born in them), reads the plan, joins namespaces given by path (user first), clone()s
 * the child with the CLONE_NEW* flags (so CLONE_NEWPID makes it pid 1), writes uid/gid maps, reports
 * the pid and releases the child. The child waits for Node's go (Node checks its cgroups, applies the
 * limits and runs prestart/createRuntime hooks meanwhile), sets up the rootfs, devices, pivot_root, hostname,
 * sysctls, console, reports 'C', tells the parent to exit (so the init reparents to the subreaper,
 * as with runc), then blocks opening exec.fifo for writing until `start` opens it for reading,
 * runs startContainer hooks, drops privileges, installs seccomp and execs the process.
 *
 * exec: joins the container's namespaces (user first, mount last, then chroot to its root),
 * forks (so the pid namespace applies), reports the child's pid, waits for go (cgroup join),
 * and reports 'S' once execve succeeded. Unless detached it stays, forwarding signals, and exits
 * with the process's status (128+signal when killed).
 *
 * Every failure is one line, `berth-init: <step>: <errno text>`, sent as 'E' (or written to
 * stderr once Node stopped listening) and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"

#define PLAN_VERSION 1
#define PLAN_MAX (64u << 20)

enum tag {
  T_MODE = 1, T_ROOTFS, T_CLONE_FLAGS, T_UNSHARE_CGROUP, T_SETNS, T_UID_MAP, T_GID_MAP, T_SETGROUPS_DENY,
  T_TIME_OFFSETS, T_MOUNT, T_ROOTFS_PROPAGATION, T_READONLY_ROOT, T_NO_PIVOT, T_MASKED_PATH,
  T_READONLY_PATH, T_DEVICE, T_BIND_DEVICES, T_DEV_SYMLINKS, T_HOSTNAME, T_DOMAINNAME, T_SYSCTL,
  T_RLIMIT, T_OOM_SCORE_ADJ, T_CAPS, T_NO_NEW_PRIVS, T_USER, T_ADDITIONAL_GIDS, T_UMASK, T_CWD, T_ENV,
  T_ARG, T_SECCOMP, T_SECCOMP_FLAGS, T_TERMINAL, T_CONSOLE_SIZE, T_CONSOLE_SOCKET, T_EXEC_FIFO,
  T_HOOK_CREATE_CONTAINER, T_HOOK_START_CONTAINER, T_PERSONALITY, T_PRESERVE_FDS, T_NEW_KEYRING,
  T_JOIN_PID, T_DETACH, T_IOPRIO, T_SCHEDULER, T_CPU_AFFINITY_INITIAL, T_CPU_AFFINITY_FINAL, T_MAX
};

#define MOUNT_BIND 1

struct mnt { uint32_t kind, nprop; uint64_t flags, prop[8]; char *src, *dst, *type, *data; };
struct dev { uint32_t type, mode, major, minor, uid, gid; char *path; };
struct hook { uint32_t timeout; char *path; char **argv; char **envp; };
struct nsent { uint32_t type; char *path; };
struct kv { char *key, *val; };
struct rlim { uint32_t res; uint64_t soft, hard; };

#define VEC(T) struct { T *v; size_t n; }
#define PUSH(vec, item) do { (vec).v = xrealloc((vec).v, ((vec).n + 1) * sizeof(*(vec).v)); (vec).v[(vec).n++] = (item); } while (0)

typedef VEC(struct hook) hooklist;

struct plan {
  uint32_t mode;
  char *rootfs;
  uint64_t clone_flags;
  int unshare_cgroup;
  VEC(struct nsent) setns;
  char *uid_map, *gid_map;
  int setgroups_deny;
  char *time_offsets;
  VEC(struct mnt) mounts;
  uint64_t rootfs_propagation;
  int readonly_root, no_pivot, bind_devices, dev_symlinks;
  VEC(char *) masked;
  VEC(char *) readonly;
  VEC(struct dev) devices;
  char *hostname, *domainname;
  VEC(struct kv) sysctl;
  VEC(struct rlim) rlimits;
  int has_oom; int32_t oom_score_adj;
  int has_caps; uint64_t caps[5]; /* bounding, effective, inheritable, permitted, ambient */
  int no_new_privs;
  uint32_t uid, gid;
  VEC(gid_t) gids;
  int has_umask; uint32_t umask;
  char *cwd;
  VEC(char *) env;
  VEC(char *) args;
  unsigned char *seccomp; uint32_t seccomp_len, seccomp_flags;
  int terminal; uint32_t rows, cols;
  char *console_socket, *exec_fifo;
  hooklist hook_create;
  hooklist hook_start;
  int has_personality; uint32_t personality;
  uint32_t preserve_fds;
  int new_keyring;
  uint32_t join_pid;
  int detach;
  int has_ioprio; uint32_t ioprio;
  int has_sched; struct { uint32_t policy; int32_t nice; uint32_t priority; uint64_t flags, runtime, deadline, period; } sched;
  cpu_set_t *cpu_initial, *cpu_final;
  char *exe; /* args[0] resolved at create time, so a missing binary fails create (as runc) */
};

static int sync_fd = -1;

/* A cgroup v2 dir the clone goes straight into (clone3 with CLONE_INTO_CGROUP, as crun does): no
   cgroup.procs write, so no wait for an RCU grace period. -1: berth-init joined by writing instead. */
static int into_cgroup = -1;
static char *into_cgroup_dir;

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
/* struct clone_args of <linux/sched.h> (kernel 5.7+), spelled out: that header clashes with <sched.h>. */
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* ---- timing (BERTH_TIMING): "step=ms" pairs sent along with 'P' and 'C' ------------------------ */
static struct timing tm;

static void tmark(const char *name) { timing_mark(&tm, name); }

/* ---- errors ---------------------------------------------------------------------------- */

static void send_msg(int fd, char type, const void *data, uint32_t len);

/* Set while Node may still send us the plan: a failure then keeps the socket open until Node closes it,
   so its write of the plan cannot fail and take our error frame with it. */
static int before_plan;

static void fail_text(const char *text) {
  char line[4096];
  int n = snprintf(line, sizeof line, "berth-init: %s", text);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (sync_fd >= 0) send_msg(sync_fd, 'E', line, (uint32_t)n);
  else { line[n] = '\n'; (void)!write(2, line, n + 1); }
  if (before_plan && sync_fd >= 0) {
    char drain[4096];
    while (read(sync_fd, drain, sizeof drain) > 0) {}
  }
  _exit(1);
}

/* die("mount %s on %s", ...): the step, then ": <strerror(errno)>". */
__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
  int e = errno;
  char step[3000], text[3500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(step, sizeof step, fmt, ap);
  va_end(ap);
  snprintf(text, sizeof text, "%s: %s", step, strerror(e));
  fail_text(text);
  _exit(1);
}

/* A failure that is not an errno: the text is the whole message. */
__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...) {
  char text[3500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fail_text(text);
  _exit(1);
}

static void *xrealloc(void *p, size_t n) {
  void *r = realloc(p, n ? n : 1);
  if (!r) fail("out of memory");
  return r;
}

/* ---- sync channel ----------------------------------------------------------------------- */

static void write_full(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0) { if (errno == EINTR) continue; return; }
    p += w; len -= (size_t)w;
  }
}

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len) {
    ssize_t r = read(fd, p, len);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return 0;
    p += r; len -= (size_t)r;
  }
  return 1;
}

static void send_msg(int fd, char type, const void *data, uint32_t len) {
  unsigned char h[5];
  uint32_t l = len + 1;
  memcpy(h, &l, 4);
  h[4] = (unsigned char)type;
  /* One write when small, so the two halves of a message never interleave with another writer. */
  if (len < 4000) {
    unsigned char buf[4096];
    memcpy(buf, h, 5);
    if (len) memcpy(buf + 5, data, len);
    write_full(fd, buf, len + 5);
  } else {
    write_full(fd, h, 5);
    write_full(fd, data, len);
  }
}

/* Receive one message; returns its type, payload malloc'ed (NUL-terminated) in *data. */
static char recv_msg(int fd, char **data, uint32_t *len) {
  uint32_t l;
  unsigned char type;
  int r = read_full(fd, &l, 4);
  if (r <= 0) { if (r == 0) errno = EPIPE; die("reading from berth (sync socket)"); }
  if (l < 1 || l > PLAN_MAX) fail("sync socket: message of %u bytes is out of range", l);
  if (read_full(fd, &type, 1) <= 0) die("reading from berth (sync socket)");
  char *buf = xrealloc(NULL, l);
  if (l > 1 && read_full(fd, buf, l - 1) <= 0) die("reading from berth (sync socket)");
  buf[l - 1] = 0;
  *data = buf;
  *len = l - 1;
  return (char)type;
}

/* ---- plan parsing ------------------------------------------------------------------------ */

struct rd { const unsigned char *p; uint32_t left; uint32_t tag; };

static uint32_t rd_u32(struct rd *r) {
  if (r->left < 4) fail("launch plan: record %u is truncated", r->tag);
  uint32_t v; memcpy(&v, r->p, 4); r->p += 4; r->left -= 4; return v;
}
static uint64_t rd_u64(struct rd *r) {
  if (r->left < 8) fail("launch plan: record %u is truncated", r->tag);
  uint64_t v; memcpy(&v, r->p, 8); r->p += 8; r->left -= 8; return v;
}
static char *rd_cstr(struct rd *r) {
  const unsigned char *nul = memchr(r->p, 0, r->left);
  if (!nul) fail("launch plan: record %u has an unterminated string", r->tag);
  size_t n = (size_t)(nul - r->p);
  char *s = xrealloc(NULL, n + 1);
  memcpy(s, r->p, n + 1);
  r->p += n + 1; r->left -= (uint32_t)(n + 1);
  return s;
}
static char *rd_rest(struct rd *r) {
  if (memchr(r->p, 0, r->left)) fail("launch plan: record %u contains a NUL byte", r->tag);
  char *s = xrealloc(NULL, r->left + 1);
  memcpy(s, r->p, r->left);
  s[r->left] = 0;
  r->p += r->left; r->left = 0;
  return s;
}
static void rd_end(struct rd *r) {
  if (r->left) fail("launch plan: record %u has %u unexpected bytes", r->tag, r->left);
}

static void read_hook(struct rd *r, hooklist *list) {
  struct hook h;
  h.timeout = rd_u32(r);
  uint32_t nargs = rd_u32(r), nenv = rd_u32(r);
  if (nargs > 65536 || nenv > 65536) fail("launch plan: hook record is out of range");
  h.path = rd_cstr(r);
  h.argv = xrealloc(NULL, (nargs + 1) * sizeof(char *));
  for (uint32_t i = 0; i < nargs; i++) h.argv[i] = rd_cstr(r);
  h.argv[nargs] = NULL;
  h.envp = xrealloc(NULL, (nenv + 1) * sizeof(char *));
  for (uint32_t i = 0; i < nenv; i++) h.envp[i] = rd_cstr(r);
  h.envp[nenv] = NULL;
  rd_end(r);
  list->v = xrealloc(list->v, (list->n + 1) * sizeof(struct hook));
  list->v[list->n++] = h;
}

static void parse_plan(struct plan *pl, const unsigned char *buf, uint32_t len) {
  memset(pl, 0, sizeof *pl);
  if (len < 16 || memcmp(buf, "BRTHPLAN", 8) != 0) fail("launch plan: bad magic (not a berth launch plan)");
  uint32_t version, count;
  memcpy(&version, buf + 8, 4);
  memcpy(&count, buf + 12, 4);
  if (version != PLAN_VERSION) fail("launch plan: version %u, this berth-init reads version %u (rebuild native/)", version, PLAN_VERSION);
  uint32_t off = 16, seen = 0;
  while (off < len) {
    if (len - off < 8) fail("launch plan: truncated record header at byte %u", off);
    struct rd r;
    memcpy(&r.tag, buf + off, 4);
    memcpy(&r.left, buf + off + 4, 4);
    if (r.left > len - off - 8) fail("launch plan: record %u overruns the plan", r.tag);
    r.p = buf + off + 8;
    off += 8 + r.left;
    seen++;
    switch (r.tag) {
    case T_MODE: pl->mode = rd_u32(&r); break;
    case T_ROOTFS: pl->rootfs = rd_rest(&r); break;
    case T_CLONE_FLAGS: pl->clone_flags = rd_u64(&r); break;
    case T_UNSHARE_CGROUP: pl->unshare_cgroup = 1; break;
    case T_SETNS: { struct nsent e; e.type = rd_u32(&r); e.path = rd_cstr(&r); PUSH(pl->setns, e); break; }
    case T_UID_MAP: pl->uid_map = rd_rest(&r); break;
    case T_GID_MAP: pl->gid_map = rd_rest(&r); break;
    case T_SETGROUPS_DENY: pl->setgroups_deny = 1; break;
    case T_TIME_OFFSETS: pl->time_offsets = rd_rest(&r); break;
    case T_MOUNT: {
      struct mnt m;
      m.kind = rd_u32(&r); m.nprop = rd_u32(&r); m.flags = rd_u64(&r);
      if (m.nprop > 8) fail("launch plan: mount has %u propagation flags", m.nprop);
      for (uint32_t i = 0; i < m.nprop; i++) m.prop[i] = rd_u64(&r);
      m.src = rd_cstr(&r); m.dst = rd_cstr(&r); m.type = rd_cstr(&r); m.data = rd_cstr(&r);
      PUSH(pl->mounts, m);
      break;
    }
    case T_ROOTFS_PROPAGATION: pl->rootfs_propagation = rd_u64(&r); break;
    case T_READONLY_ROOT: pl->readonly_root = 1; break;
    case T_NO_PIVOT: pl->no_pivot = 1; break;
    case T_MASKED_PATH: { char *s = rd_rest(&r); PUSH(pl->masked, s); break; }
    case T_READONLY_PATH: { char *s = rd_rest(&r); PUSH(pl->readonly, s); break; }
    case T_DEVICE: {
      struct dev d;
      d.type = rd_u32(&r); d.mode = rd_u32(&r); d.major = rd_u32(&r); d.minor = rd_u32(&r);
      d.uid = rd_u32(&r); d.gid = rd_u32(&r); d.path = rd_cstr(&r);
      PUSH(pl->devices, d);
      break;
    }
    case T_BIND_DEVICES: pl->bind_devices = 1; break;
    case T_DEV_SYMLINKS: pl->dev_symlinks = 1; break;
    case T_HOSTNAME: pl->hostname = rd_rest(&r); break;
    case T_DOMAINNAME: pl->domainname = rd_rest(&r); break;
    case T_SYSCTL: { struct kv k; k.key = rd_cstr(&r); k.val = rd_cstr(&r); PUSH(pl->sysctl, k); break; }
    case T_RLIMIT: { struct rlim l; l.res = rd_u32(&r); l.soft = rd_u64(&r); l.hard = rd_u64(&r); PUSH(pl->rlimits, l); break; }
    case T_OOM_SCORE_ADJ: pl->has_oom = 1; pl->oom_score_adj = (int32_t)rd_u32(&r); break;
    case T_CAPS: pl->has_caps = 1; for (int i = 0; i < 5; i++) pl->caps[i] = rd_u64(&r); break;
    case T_NO_NEW_PRIVS: pl->no_new_privs = 1; break;
    case T_USER: pl->uid = rd_u32(&r); pl->gid = rd_u32(&r); break;
    case T_ADDITIONAL_GIDS: while (r.left) { gid_t g = rd_u32(&r); PUSH(pl->gids, g); } break;
    case T_UMASK: pl->has_umask = 1; pl->umask = rd_u32(&r); break;
    case T_CWD: pl->cwd = rd_rest(&r); break;
    case T_ENV: { char *s = rd_rest(&r); PUSH(pl->env, s); break; }
    case T_ARG: { char *s = rd_rest(&r); PUSH(pl->args, s); break; }
    case T_SECCOMP:
      if (r.left == 0 || r.left % 8 || r.left / 8 > 65535) fail("launch plan: seccomp program of %u bytes is not a valid BPF program", r.left);
      pl->seccomp = xrealloc(NULL, r.left); memcpy(pl->seccomp, r.p, r.left); pl->seccomp_len = r.left; r.left = 0;
      break;
    case T_SECCOMP_FLAGS: pl->seccomp_flags = rd_u32(&r); break;
    case T_TERMINAL: pl->terminal = 1; break;
    case T_CONSOLE_SIZE: pl->rows = rd_u32(&r); pl->cols = rd_u32(&r); break;
    case T_CONSOLE_SOCKET: pl->console_socket = rd_rest(&r); break;
    case T_EXEC_FIFO: pl->exec_fifo = rd_rest(&r); break;
    case T_HOOK_CREATE_CONTAINER: read_hook(&r, &pl->hook_create); break;
    case T_HOOK_START_CONTAINER: read_hook(&r, &pl->hook_start); break;
    case T_PERSONALITY: pl->has_personality = 1; pl->personality = rd_u32(&r); break;
    case T_PRESERVE_FDS: pl->preserve_fds = rd_u32(&r); break;
    case T_NEW_KEYRING: pl->new_keyring = 1; break;
    case T_JOIN_PID: pl->join_pid = rd_u32(&r); break;
    case T_DETACH: pl->detach = 1; break;
    case T_IOPRIO: pl->has_ioprio = 1; pl->ioprio = rd_u32(&r); break;
    case T_SCHEDULER:
      pl->has_sched = 1;
      pl->sched.policy = rd_u32(&r); pl->sched.nice = (int32_t)rd_u32(&r); pl->sched.priority = rd_u32(&r);
      pl->sched.flags = rd_u64(&r); pl->sched.runtime = rd_u64(&r); pl->sched.deadline = rd_u64(&r); pl->sched.period = rd_u64(&r);
      break;
    case T_CPU_AFFINITY_INITIAL: case T_CPU_AFFINITY_FINAL: {
      cpu_set_t *set = xrealloc(NULL, CPU_ALLOC_SIZE(8192));
      CPU_ZERO_S(CPU_ALLOC_SIZE(8192), set);
      while (r.left) { uint32_t c = rd_u32(&r); if (c >= 8192) fail("launch plan: cpu %u out of range", c); CPU_SET_S(c, CPU_ALLOC_SIZE(8192), set); }
      if (r.tag == T_CPU_AFFINITY_INITIAL) pl->cpu_initial = set; else pl->cpu_final = set;
      break;
    }
    default: fail("launch plan: unknown record tag %u (berth-init and berth are different versions?)", r.tag);
    }
    rd_end(&r);
  }
  if (seen != count) fail("launch plan: %u records, header says %u", seen, count);
  if (pl->args.n == 0) fail("launch plan: no process arguments");
  if (!pl->cwd) fail("launch plan: no working directory");
  char *nul = NULL;
  PUSH(pl->args, nul);
  PUSH(pl->env, nul);
}

/* ---- small helpers ----------------------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  ssize_t w = write(fd, data, len);
  if (w < 0) die("write %s", path);
  if ((size_t)w != len) { errno = EIO; die("write %s (short write)", path); }
  close(fd);
}

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = 0, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  while (*path == '/') path++;
  if (!*path) path = ".";
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/*
 * Create `path` (absolute, inside the rootfs) and its parents, resolving every component with
 * RESOLVE_IN_ROOT so a symlink from the image can never lead outside. Returns an O_PATH fd.
 * kind: 'd' directory, 'f' empty file, 0 must exist.
 */
static int mkpath_in_root(int rootfd, const char *path, int kind) {
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof buf) { errno = ENAMETOOLONG; die("%s", path); }
  strcpy(buf, path);
  int fd = openat2_in_root(rootfd, buf, O_PATH);
  if (fd >= 0 || errno != ENOENT || !kind) { if (fd < 0) die("resolve %s in the rootfs", path); return fd; }
  char *slash = strrchr(buf, '/');
  char *name = slash ? slash + 1 : buf;
  int parent;
  if (slash && slash != buf) { *slash = 0; parent = mkpath_in_root(rootfd, buf, 'd'); *slash = '/'; }
  else parent = openat2_in_root(rootfd, "/", O_PATH);
  if (parent < 0) die("resolve the parent of %s in the rootfs", path);
  int dirfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* mkdirat needs a real fd */
  if (dirfd < 0) die("open the parent of %s in the rootfs", path);
  if (kind == 'd') {
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) die("mkdir %s in the rootfs", path);
  } else {
    int f = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0 && errno != EEXIST) die("create %s in the rootfs", path);
    if (f >= 0) close(f);
  }
  close(dirfd);
  close(parent);
  fd = openat2_in_root(rootfd, path, O_PATH);
  if (fd < 0) die("resolve %s in the rootfs", path);
  return fd;
}

static void fdpath(char *out, size_t n, int fd) { snprintf(out, n, "/proc/self/fd/%d", fd); }

/* Flags a remount must keep (the kernel locks them in a user namespace). */
static unsigned long locked_flags(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) < 0) return 0;
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static void bind_remount(const char *target, unsigned long flags, const char *what) {
  unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT));
  if (mount(NULL, target, NULL, f, NULL) == 0) return;
  if (errno == EPERM && mount(NULL, target, NULL, f | locked_flags(target), NULL) == 0) return;
  die("remount %s with its options", what);
}


/* ---- cgroup mounts ----------------------------------------------------------------------- */

#define CGROUP2_MAGIC 0x63677270

/* The path of our cgroup in the hierarchy whose controllers are `ctrls` ("" for cgroup v2), from
   /proc/self/cgroup; Node has placed us in our cgroups before we get here. */
static int own_cgroup(const char *ctrls, char *out, size_t n) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) die("open /proc/self/cgroup");
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    if (strcmp(c1 + 1, ctrls) == 0) { snprintf(out, n, "%s", c2 + 1); found = 1; }
  }
  fclose(f);
  return found;
}

/* The controller list of a v1 hierarchy from its super options ("rw,cpu,cpuacct" -> "cpu,cpuacct"),
   in the order /proc/self/cgroup uses. */
static void v1_controllers(const char *superopts, char *out, size_t n) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", superopts);
  out[0] = 0;
  static const char *skip[] = { "rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods", NULL };
  for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int drop = strncmp(t, "release_agent=", 14) == 0;
    for (int i = 0; skip[i]; i++) if (strcmp(t, skip[i]) == 0) drop = 1;
    if (drop) continue;
    size_t l = strlen(out);
    snprintf(out + l, n - l, "%s%s", l ? "," : "", t);
  }
}

/* Mount one hierarchy (host mount point `hostmp`) at `target`: a fresh mount inside a cgroup
   namespace (it shows the namespace root), else a bind of our own cgroup, as runc does. */
static void mount_hierarchy(int rootfd, const char *hostmp, const char *fstype, const char *ctrls, const char *target, unsigned long flags, int cgroupns, const char *dst) {
  if (cgroupns) {
    if (mount(fstype, target, fstype, flags, strcmp(fstype, "cgroup") == 0 ? ctrls : NULL) < 0) die("mount %s %s on %s", fstype, ctrls, dst);
    return;
  }
  char own[PATH_MAX], src[PATH_MAX];
  if (!own_cgroup(strcmp(fstype, "cgroup2") == 0 ? "" : ctrls, own, sizeof own)) { errno = ENOENT; die("find our cgroup for %s (%s)", hostmp, ctrls); }
  snprintf(src, sizeof src, "%s%s", hostmp, own);
  if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind cgroup %s on %s", src, dst);
  /* `target` still names what was under the new mount: reopen to remount the bind itself. */
  int fd = mkpath_in_root(rootfd, dst, 0);
  char t[64];
  fdpath(t, sizeof t, fd);
  bind_remount(t, flags, dst);
  close(fd);
}

static void mount_cgroup(int rootfd, const char *dst, const char *target, unsigned long flags, int cgroupns) {
  struct statfs st;
  if (statfs("/sys/fs/cgroup", &st) < 0) die("statfs /sys/fs/cgroup");
  if (st.f_type == CGROUP2_MAGIC) { mount_hierarchy(rootfd, "/sys/fs/cgroup", "cgroup2", "", target, flags, cgroupns, dst); return; }
  /* v1 or hybrid: a tmpfs holding one mount per host hierarchy, plus the host's comount symlinks. */
  unsigned long tflags = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
  if (mount("tmpfs", target, "tmpfs", tflags, "mode=755") < 0) die("mount tmpfs for cgroups on %s", dst);
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die("open /proc/self/mountinfo");
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    char mp[PATH_MAX], fstype[64], source[256], superopts[1024];
    char *sep = strstr(line, " - ");
    if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
    if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, superopts) != 3) continue;
    if (strncmp(mp, "/sys/fs/cgroup/", 15) != 0 || strchr(mp + 15, '/')) continue;
    if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2")) continue;
    char sub[PATH_MAX], ctrls[512] = "", t[64];
    snprintf(sub, sizeof sub, "%s/%s", dst, mp + 15);
    if (strcmp(fstype, "cgroup") == 0) v1_controllers(superopts, ctrls, sizeof ctrls);
    int fd = mkpath_in_root(rootfd, sub, 'd');
    fdpath(t, sizeof t, fd);
    mount_hierarchy(rootfd, mp, fstype, ctrls, t, flags & ~(unsigned long)MS_BIND, cgroupns, sub);
    close(fd);
  }
  fclose(f);
  int hostdir = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (hostdir >= 0) {
    int fd = mkpath_in_root(rootfd, dst, 0);
    int dirfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    DIR *d = fdopendir(hostdir);
    struct dirent *e;
    while (d && dirfd >= 0 && (e = readdir(d))) {
      if (e->d_type != DT_LNK) continue;
      char to[256];
      ssize_t n = readlinkat(hostdir, e->d_name, to, sizeof to - 1);
      if (n <= 0) continue;
      to[n] = 0;
      if (symlinkat(to, dirfd, e->d_name) < 0 && errno != EEXIST) die("symlink %s/%s", dst, e->d_name);
    }
    if (d) closedir(d);
    if (dirfd >= 0) close(dirfd);
  }
  if (flags & MS_RDONLY) {
    int fd = mkpath_in_root(rootfd, dst, 0);
    char t[64];
    fdpath(t, sizeof t, fd);
    if (mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY | tflags, "mode=755") < 0) die("remount %s read-only", dst);
    close(fd);
  }
}

/* ---- rootfs ------------------------------------------------------------------------------ */

#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

static void mount_one(int rootfd, const struct mnt *m, int cgroupns) {
  char target[64];
  int kind = 'd';
  int bind = m->kind == MOUNT_BIND;
  if (bind) {
    struct stat st;
    if (stat(m->src, &st) < 0) die("mount %s on %s: source", m->src, m->dst);
    if (!S_ISDIR(st.st_mode)) kind = 'f';
  }
  int fd = mkpath_in_root(rootfd, m->dst, kind);
  fdpath(target, sizeof target, fd);
  unsigned long flags = (unsigned long)m->flags & ~(unsigned long)MS_PROPAGATION;
  if (bind) {
    if (mount(m->src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0) die("mount %s on %s", m->src, m->dst);
    /* A bind mount ignores every flag but MS_REC: the rest needs a remount (runc does the same). */
    if (flags & ~(unsigned long)(MS_BIND | MS_REC)) {
      /* The mount replaced what `fd` names; reopen to reach the new mount's root. */
      close(fd);
      fd = mkpath_in_root(rootfd, m->dst, 0);
      fdpath(target, sizeof target, fd);
      bind_remount(target, flags, m->dst);
    }
  } else if (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0) {
    mount_cgroup(rootfd, m->dst, target, flags, cgroupns);
  } else {
    if (mount(m->src, target, m->type, flags, m->data[0] ? m->data : NULL) < 0) die("mount %s on %s", m->type, m->dst);
  }
  for (uint32_t i = 0; i < m->nprop; i++) {
    close(fd);
    fd = mkpath_in_root(rootfd, m->dst, 0);
    fdpath(target, sizeof target, fd);
    if (mount(NULL, target, NULL, (unsigned long)m->prop[i], NULL) < 0) die("set propagation of %s", m->dst);
  }
  close(fd);
}

static void create_device(int rootfd, const struct dev *d, int bind) {
  char target[64];
  if (bind) {
    int fd = mkpath_in_root(rootfd, d->path, 'f');
    fdpath(target, sizeof target, fd);
    if (mount(d->path, target, NULL, MS_BIND, NULL) < 0) die("bind device %s from the host", d->path);
    close(fd);
    return;
  }
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", d->path);
  char *slash = strrchr(parent, '/');
  const char *name = slash + 1;
  if (slash == parent) strcpy(parent, "/"); else *slash = 0;
  int pfd = mkpath_in_root(rootfd, parent, 'd');
  int dirfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) die("open %s in the rootfs", parent);
  close(pfd);
  unlinkat(dirfd, name, 0);
  if (mknodat(dirfd, name, d->type | d->mode, makedev(d->major, d->minor)) < 0) die("mknod %s", d->path);
  if (fchmodat(dirfd, name, d->mode, 0) < 0) die("chmod %s", d->path);
  if (fchownat(dirfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) die("chown %s", d->path);
  close(dirfd);
}

static void dev_symlinks(int rootfd) {
  static const char *links[][2] = {
    { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
    { "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },
  };
  int pfd = mkpath_in_root(rootfd, "/dev", 'd');
  int dirfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) die("open /dev in the rootfs");
  close(pfd);
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    if (strcmp(links[i][1], "ptmx") == 0) unlinkat(dirfd, "ptmx", 0);
    if (symlinkat(links[i][0], dirfd, links[i][1]) < 0 && errno != EEXIST) die("symlink /dev/%s", links[i][1]);
  }
  close(dirfd);
}

/* Makes the mount holding `path` private: mount(MS_PRIVATE) fails with EINVAL below a mount's root,
   so walk up until it succeeds. */
static void make_mount_private(const char *path) {
  char p[PATH_MAX];
  if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) fail("rootfs path too long");
  for (;;) {
    if (mount(NULL, p, NULL, MS_PRIVATE, NULL) == 0) return;
    if (errno != EINVAL) die("make the mount of %s private", p);
    char *s = strrchr(p, '/');
    if (!s || (s == p && p[1] == 0)) die("no mount holds %s", path);
    if (s == p) p[1] = 0; else *s = 0;
  }
}

static void do_pivot(const char *rootfs) {
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) die("open /");
  int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newroot < 0) die("open rootfs %s", rootfs);
  if (fchdir(newroot) < 0) die("chdir %s", rootfs);
  /* pivot_root(".", "."): the old root ends up stacked on the new one, then is detached. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root %s", rootfs);
  if (fchdir(oldroot) < 0) die("chdir to the old root");
  /* Keep the unmount from propagating back to the host. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("make the old root a slave mount");
  if (umount2(".", MNT_DETACH) < 0) die("unmount the old root");
  if (chdir("/") < 0) die("chdir /");
  close(oldroot);
  close(newroot);
}

static void do_move_root(const char *rootfs) {
  if (chdir(rootfs) < 0) die("chdir %s", rootfs);
  if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) die("move rootfs %s to /", rootfs);
  if (chroot(".") < 0) die("chroot %s", rootfs);
  if (chdir("/") < 0) die("chdir /");
}

static void mask_path(const char *p) {
  struct stat st;
  if (stat(p, &st) < 0) { if (errno == ENOENT) return; die("masked path %s", p); }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0) die("mask %s with a read-only tmpfs", p);
  } else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
    die("mask %s with /dev/null", p);
  }
}

static void readonly_path(const char *p) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) { if (errno == ENOENT) return; die("bind readonly path %s", p); }
  bind_remount(p, MS_RDONLY | MS_REC, p);
}

/* ---- hooks ------------------------------------------------------------------------------- */

static void run_hooks(const char *kind, hooklist *hooks, const char *state, size_t state_len) {
  for (size_t i = 0; i < hooks->n; i++) {
    struct hook *h = &hooks->v[i];
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0) die("%s hook %s: pipe", kind, h->path);
    pid_t pid = fork();
    if (pid < 0) die("%s hook %s: fork", kind, h->path);
    if (pid == 0) {
      dup2(in[0], 0);
      syscall(SYS_close_range, 3, ~0U, 0);
      execve(h->path, h->argv, h->envp);
      dprintf(2, "berth-init: %s hook %s: %s\n", kind, h->path, strerror(errno));
      _exit(127);
    }
    close(in[0]);
    signal(SIGPIPE, SIG_IGN);
    write_full(in[1], state, state_len);
    close(in[1]);
    struct timespec start, now, nap = { 0, 1000000 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status;
    for (;;) {
      pid_t r = waitpid(pid, &status, h->timeout ? WNOHANG : 0);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) die("%s hook %s: wait", kind, h->path);
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (h->timeout && now.tv_sec - start.tv_sec >= (time_t)h->timeout) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail("%s hook %s: timed out after %u s", kind, h->path, h->timeout);
      }
      if (h->timeout) nanosleep(&nap, NULL);
    }
    if (WIFSIGNALED(status)) fail("%s hook %s: killed by signal %d", kind, h->path, WTERMSIG(status));
    if (WEXITSTATUS(status)) fail("%s hook %s: exit status %d", kind, h->path, WEXITSTATUS(status));
  }
}

/* ---- console ----------------------------------------------------------------------------- */

static int connect_console(const char *path) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; die("console socket %s", path); }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("console socket: socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect to console socket %s", path);
  return fd;
}

/* Open a pty in the container's devpts, make it our controlling terminal and stdio, and pass the
   master to the console socket with SCM_RIGHTS (runc's protocol, which containerd and podman use). */
static void setup_console(int console_fd, uint32_t rows, uint32_t cols) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die("open /dev/ptmx in the container");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die("unlock pty");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) die("open pty peer");
  if (rows || cols) {
    struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
    if (ioctl(slave, TIOCSWINSZ, &ws) < 0) die("set console size");
  }
  char name[] = "/dev/ptmx";
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name - 1 };
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(console_fd, &msg, 0) < 0) die("send the pty master to the console socket");
  close(master);
  close(console_fd);
  for (int i = 0; i < 3; i++) if (dup2(slave, i) < 0) die("dup2 pty to fd %d", i);
  if (slave > 2) close(slave);
  if (ioctl(0, TIOCSCTTY, 0) < 0) die("make the pty the controlling terminal");
}

/* ---- process ----------------------------------------------------------------------------- */

static const char *rlimit_name(uint32_t r) {
  static const char *n[] = { "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
    "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME" };
  return r < sizeof n / sizeof n[0] ? n[r] : "RLIMIT_?";
}

static void apply_rlimits(const struct plan *pl) {
  for (size_t i = 0; i < pl->rlimits.n; i++) {
    struct rlimit l = { .rlim_cur = pl->rlimits.v[i].soft, .rlim_max = pl->rlimits.v[i].hard };
    if (setrlimit((int)pl->rlimits.v[i].res, &l) < 0)
      die("setrlimit %s (soft %llu, hard %llu)", rlimit_name(pl->rlimits.v[i].res), (unsigned long long)l.rlim_cur, (unsigned long long)l.rlim_max);
  }
}

static int last_cap(void) {
  char buf[16] = { 0 };
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 40;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? atoi(buf) : 40;
}

static void install_seccomp(const struct plan *pl) {
  struct sock_fprog prog = { .len = (unsigned short)(pl->seccomp_len / 8), .filter = (struct sock_filter *)pl->seccomp };
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, pl->seccomp_flags, &prog);
  if (r < 0) die("install seccomp filter");
}

/* A regular file with an execute bit, or why not. */
static int executable(const char *p) {
  struct stat st;
  if (stat(p, &st) < 0) return -errno;
  if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) return -EACCES;
  return 0;
}

/* Look args[0] up in the PATH of the process's own environment (not ours), as runc does; a path
   with a slash is taken relative to the process's cwd. The result is malloc'ed. */
static char *resolve_exec(const struct plan *pl) {
  const char *a0 = pl->args.v[0];
  char buf[PATH_MAX];
  if (strchr(a0, '/')) {
    if (a0[0] == '/') snprintf(buf, sizeof buf, "%s", a0);
    else snprintf(buf, sizeof buf, "%s/%s", pl->cwd, a0);
    int e = executable(buf);
    if (e) { errno = -e; die("exec %s", a0); }
    return strdup(buf);
  }
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (size_t i = 0; pl->env.v[i]; i++) if (strncmp(pl->env.v[i], "PATH=", 5) == 0) path = pl->env.v[i] + 5;
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0) snprintf(buf, sizeof buf, "%s/%s", pl->cwd, a0); /* an empty PATH entry is the cwd */
    else if (p[0] == '/') snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, a0);
    else snprintf(buf, sizeof buf, "%s/%.*s/%s", pl->cwd, (int)len, p, a0);
    if (executable(buf) == 0) return strdup(buf);
    if (!end) break;
    p = end + 1;
  }
  fail("exec %s: executable file not found in $PATH", a0);
}

/* As runc: without HOME in the environment, take the user's home from the container's /etc/passwd. */
static void default_home(struct plan *pl) {
  for (size_t i = 0; pl->env.v[i]; i++) if (strncmp(pl->env.v[i], "HOME=", 5) == 0) return;
  char home[PATH_MAX] = "/";
  FILE *f = fopen("/etc/passwd", "re");
  if (f) {
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char *field[7] = { 0 };
      char *save, *p = line;
      int n = 0;
      /* strsep keeps empty fields, which passwd allows */
      while (n < 7 && (field[n] = strsep(&p, ":")) != NULL) n++;
      (void)save;
      if (n < 6 || !field[2][0]) continue;
      char *end;
      unsigned long uid = strtoul(field[2], &end, 10);
      if (*end || uid != pl->uid) continue;
      if (field[5][0]) snprintf(home, sizeof home, "%s", field[5]);
      break;
    }
    fclose(f);
  }
  char *h = xrealloc(NULL, strlen(home) + 6);
  sprintf(h, "HOME=%s", home);
  pl->env.v[pl->env.n - 1] = h;
  char *nul = NULL;
  PUSH(pl->env, nul);
}

/* The process's final identity: fds, scheduling, capabilities, user, cwd, umask, no_new_privs.
   Done before `created` is reported (as runc does), so a capability or user the kernel refuses
   fails create instead of surfacing only at start. */
static void finalize_process(struct plan *pl) {
  default_home(pl);
  /* Everything above the preserved fds is closed at exec (LISTEN_FDS semantics). */
  unsigned first = 3 + pl->preserve_fds;
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = (int)first; fd < 4096; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (unsigned fd = 3; fd < first; fd++) {
    int fl = fcntl((int)fd, F_GETFD);
    if (fl >= 0) fcntl((int)fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  /* Scheduling may need CAP_SYS_NICE (real-time classes): before the capability drop. */
  if (pl->has_ioprio && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)pl->ioprio) < 0)
    die("ioprio_set class %u level %u", pl->ioprio >> 13, pl->ioprio & 0x1fff);
  if (pl->has_sched) {
    struct { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t priority; uint64_t runtime, deadline, period; } a = {
      .size = 48, .policy = pl->sched.policy, .flags = pl->sched.flags, .nice = pl->sched.nice, .priority = pl->sched.priority,
      .runtime = pl->sched.runtime, .deadline = pl->sched.deadline, .period = pl->sched.period };
    if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) die("sched_setattr policy %u", pl->sched.policy);
  }
  if (pl->cpu_final && sched_setaffinity(0, CPU_ALLOC_SIZE(8192), pl->cpu_final) < 0) die("set the final CPU affinity");
  int nnp = pl->no_new_privs;
  /* A cwd outside our root (a leaked directory fd, CVE-2024-21626) shows up as "(unreachable)".
     Checked before seccomp: a profile may deny getcwd (runtime-tools' linux_seccomp does). */
  if (chdir(pl->cwd) < 0) die("chdir to cwd %s", pl->cwd);
  char cwdbuf[PATH_MAX];
  if (!getcwd(cwdbuf, sizeof cwdbuf) || cwdbuf[0] != '/') { errno = errno ? errno : ENOENT; die("cwd %s is outside the container", pl->cwd); }
  if (pl->seccomp && !nnp) install_seccomp(pl);

  if (pl->has_caps) {
    int last = last_cap();
    for (int c = 0; c <= last && c < 64; c++)
      if (!(pl->caps[0] & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
        die("drop capability %d from the bounding set", c);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("prctl PR_SET_KEEPCAPS");
  }
  if (setgroups(pl->gids.n, pl->gids.v) < 0 && !(errno == EPERM && pl->gids.n == 0)) die("setgroups");
  if (setresgid(pl->gid, pl->gid, pl->gid) < 0) die("setresgid %u", pl->gid);
  if (setresuid(pl->uid, pl->uid, pl->uid) < 0) die("setresuid %u", pl->uid);
  if (pl->has_caps) {
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die("prctl PR_SET_KEEPCAPS");
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
      data[i].effective = (uint32_t)(pl->caps[1] >> (32 * i));
      data[i].permitted = (uint32_t)(pl->caps[3] >> (32 * i));
      data[i].inheritable = (uint32_t)(pl->caps[2] >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0) die("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clear ambient capabilities");
    /* The kernel only lets a cap into the ambient set when it is permitted and inheritable.
       `runc spec` asks for ambient caps without inheritable ones and runc ignores those: do the same. */
    uint64_t ambient = pl->caps[4] & pl->caps[3] & pl->caps[2];
    for (int c = 0; c < 64; c++)
      if ((ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        die("raise ambient capability %d (it must be permitted and inheritable)", c);
  }
  /* Again as the container's user: a cwd that user may not enter fails here, as with runc. */
  if (chdir(pl->cwd) < 0) die("chdir to cwd %s", pl->cwd);
  umask(pl->has_umask ? pl->umask : 022);
  if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl PR_SET_NO_NEW_PRIVS");
}

/* Seccomp (with no_new_privs) goes as close to execve as possible, so the profile need not allow
   what init itself does before. */
static void exec_process(struct plan *pl) {
  if (pl->seccomp && pl->no_new_privs) install_seccomp(pl);
  const char *exe = pl->exe ? pl->exe : resolve_exec(pl);
  /* Ignored signals and the mask survive execve: hand the process a clean slate. */
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(exe, pl->args.v, pl->env.v);
  die("exec %s", pl->args.v[0]);
}

/* ---- create ------------------------------------------------------------------------------ */

static void join_namespaces(const struct plan *pl, int mnt_last) {
  int fds[16];
  size_t n = pl->setns.n < 16 ? pl->setns.n : 16;
  /* Open all first: once we are in another mount namespace the paths may no longer resolve. */
  for (size_t i = 0; i < n; i++) {
    fds[i] = open(pl->setns.v[i].path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die("open namespace %s", pl->setns.v[i].path);
  }
  /* User first (it grants the rights for the others), mount last (it changes what paths mean). */
  for (int pass = 0; pass < 3; pass++) {
    for (size_t i = 0; i < n; i++) {
      uint32_t t = pl->setns.v[i].type;
      int want = pass == 0 ? t == CLONE_NEWUSER : pass == 2 ? (mnt_last && t == CLONE_NEWNS) : !(t == CLONE_NEWUSER || (mnt_last && t == CLONE_NEWNS));
      if (!want) continue;
      if (setns(fds[i], (int)t) < 0) die("join namespace %s", pl->setns.v[i].path);
      close(fds[i]);
    }
  }
}

static void write_id_maps(pid_t pid, const struct plan *pl) {
  char path[64];
  if (pl->uid_map) { snprintf(path, sizeof path, "/proc/%d/uid_map", pid); write_file(path, pl->uid_map, strlen(pl->uid_map)); }
  if (pl->setgroups_deny) { snprintf(path, sizeof path, "/proc/%d/setgroups", pid); write_file(path, "deny", 4); }
  if (pl->gid_map) { snprintf(path, sizeof path, "/proc/%d/gid_map", pid); write_file(path, pl->gid_map, strlen(pl->gid_map)); }
}

static void sysctl_write(const struct kv *k) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "/proc/sys/%s", k->key);
  for (char *c = path + 10; c < path + n; c++) if (*c == '.') *c = '/';
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("sysctl %s", k->key);
  if (write(fd, k->val, strlen(k->val)) < 0) die("sysctl %s=%s", k->key, k->val);
  close(fd);
}

static void child_create(struct plan *pl, int ready_fd, int created_fd, int console_fd, int fifo) {
  char c;
  tm.len = 0; /* the parent's marks went with 'P' */
  if (read(ready_fd, &c, 1) != 1) _exit(1); /* the parent died before releasing us */
  close(ready_fd);
  tmark("released");
  if (pl->clone_flags & CLONE_NEWUSER) {
    if (setresgid(0, 0, 0) < 0) die("setresgid 0 in the new user namespace (is gid 0 mapped?)");
    if (setresuid(0, 0, 0) < 0) die("setresuid 0 in the new user namespace (is uid 0 mapped?)");
  }
  char *state; uint32_t state_len;
  char t = recv_msg(sync_fd, &state, &state_len);
  if (t == 'A') _exit(1);
  if (t != 'G') fail("sync socket: expected go, got message '%c'", t);
  tmark("wait-go");

  if (pl->unshare_cgroup && unshare(CLONE_NEWCGROUP) < 0) die("unshare cgroup namespace");
  if (setsid() < 0) die("setsid");
  if (pl->new_keyring && syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0) < 0 && errno != ENOSYS)
    die("join a new session keyring");
  umask(0);
  if (pl->has_oom) {
    char v[16];
    int n = snprintf(v, sizeof v, "%d", pl->oom_score_adj);
    write_file("/proc/self/oom_score_adj", v, (size_t)n);
  }
  for (size_t i = 0; i < pl->sysctl.n; i++) sysctl_write(&pl->sysctl.v[i]);

  /* Nothing we mount may leak back to the host: everything below / becomes a slave. A config that
     asks for shared root propagation (a bidirectional bind, CRI's rshared) keeps / shared instead, so
     those binds stay peers of the host's mounts, and makes only the rootfs's own mount private (as
     runc does): the mounts set up inside the rootfs then still stay in the container. */
  unsigned long rootprop = pl->rootfs_propagation ? (unsigned long)pl->rootfs_propagation : MS_SLAVE | MS_REC;
  /* An unbindable / would refuse the rootfs bind below: the container's / becomes unbindable only
     after pivot_root (as crun does); until then the default slave keeps mounts from leaking. */
  if (rootprop & MS_UNBINDABLE) rootprop = MS_SLAVE | MS_REC;
  if (mount(NULL, "/", NULL, rootprop, NULL) < 0) die("set the propagation of /");
  if (rootprop & MS_SHARED) make_mount_private(pl->rootfs);
  if (mount(pl->rootfs, pl->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs %s", pl->rootfs);
  int rootfd = open(pl->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("open rootfs %s", pl->rootfs);
  int cgroupns = pl->unshare_cgroup;
  for (size_t i = 0; i < pl->setns.n; i++) if (pl->setns.v[i].type == CLONE_NEWCGROUP) cgroupns = 1;
  for (size_t i = 0; i < pl->mounts.n; i++) mount_one(rootfd, &pl->mounts.v[i], cgroupns);
  for (size_t i = 0; i < pl->devices.n; i++) create_device(rootfd, &pl->devices.v[i], pl->bind_devices);
  if (pl->dev_symlinks) dev_symlinks(rootfd);
  close(rootfd);
  tmark("rootfs");
  run_hooks("createContainer", &pl->hook_create, state, state_len);
  if (pl->hook_create.n) tmark("hooks");

  /* Held across pivot_root: the fifo (opened by our parent) is reopened for writing through our fd
     table once started. */
  int procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) die("open /proc/self/fd");

  if (pl->no_pivot) do_move_root(pl->rootfs); else do_pivot(pl->rootfs);
  if (pl->rootfs_propagation && mount(NULL, "/", NULL, (unsigned long)pl->rootfs_propagation, NULL) < 0) die("set rootfs propagation");
  /* runc's order: read-only paths, then masks. */
  for (size_t i = 0; i < pl->readonly.n; i++) readonly_path(pl->readonly.v[i]);
  for (size_t i = 0; i < pl->masked.n; i++) mask_path(pl->masked.v[i]);
  if (pl->readonly_root) bind_remount("/", MS_RDONLY, "/ read-only");
  if (pl->hostname && sethostname(pl->hostname, strlen(pl->hostname)) < 0) die("sethostname %s", pl->hostname);
  if (pl->domainname && setdomainname(pl->domainname, strlen(pl->domainname)) < 0) die("setdomainname %s", pl->domainname);
  if (pl->has_personality && personality(pl->personality) < 0) die("personality");
  apply_rlimits(pl);
  tmark("pivot");
  if (pl->terminal) setup_console(console_fd, pl->rows, pl->cols);
  pl->exe = resolve_exec(pl);
  finalize_process(pl);
  tmark("finalize");

  send_msg(sync_fd, 'C', tm.line, (uint32_t)tm.len);
  close(sync_fd);
  sync_fd = -1;
  (void)!write(created_fd, "c", 1);
  close(created_fd);

  char name[16];
  snprintf(name, sizeof name, "%d", fifo);
  int w = openat(procfd, name, O_WRONLY | O_CLOEXEC);
  if (w < 0) die("open exec fifo for writing");
  if (write(w, "0", 1) != 1) die("write exec fifo");
  close(w);
  close(fifo);
  close(procfd);
  run_hooks("startContainer", &pl->hook_start, state, state_len);
  exec_process(pl);
}

/* Join each cgroup dir of the NUL-separated list (this process: "0"), as runc joins its init before
   it forks the container. On cgroup v1 the first such write after a quiet spell waits for an RCU
   grace period; Node goes on planning meanwhile. */
static void join_cgroup(const char *d) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/cgroup.procs", d);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("join cgroup %s", d);
  if (write(fd, "0", 1) != 1) die("join cgroup %s", d);
  close(fd);
}

static void join_cgroups(char *dirs, uint32_t len) {
  /* A lone cgroup2 dir (a pure v2 host): the clone itself goes in, and we stay out. */
  struct statfs st;
  if (strlen(dirs) + 1 >= len && statfs(dirs, &st) == 0 && st.f_type == CGROUP2_MAGIC) {
    into_cgroup = open(dirs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into_cgroup < 0) die("open cgroup %s", dirs);
    into_cgroup_dir = dirs;
    return;
  }
  for (char *d = dirs; d < dirs + len; d += strlen(d) + 1) if (*d) join_cgroup(d);
}

/* clone() with the namespace flags, into the cgroup when asked (falling back to joining it first
   on a kernel without clone3 or CLONE_INTO_CGROUP). */
static pid_t clone_container(uint64_t flags) {
  if (into_cgroup >= 0) {
    struct clone3_args a = { .flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)into_cgroup };
    pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG)) {
      if (pid > 0) tmark("clone-into-cgroup");
      return pid;
    }
    join_cgroup(into_cgroup_dir);
    close(into_cgroup);
    into_cgroup = -1;
  }
  return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
}

static int do_create(struct plan *pl) {
  if (!pl->rootfs || !pl->exec_fifo) fail("launch plan: create needs a rootfs and an exec fifo");
  int console_fd = -1;
  if (pl->terminal) {
    if (!pl->console_socket) fail("launch plan: terminal without a console socket");
    console_fd = connect_console(pl->console_socket);
  }
  /* Opened here, by host root, so the state dir's parents need not be searchable by the container's
     root (another uid outside when it has a user namespace), as runc does. */
  int fifo = open(pl->exec_fifo, O_PATH | O_CLOEXEC);
  if (fifo < 0) die("open exec fifo %s", pl->exec_fifo);
  join_namespaces(pl, 0);
  if (pl->setns.n) tmark("setns");
  if (pl->time_offsets) {
    if (unshare(CLONE_NEWTIME) < 0) die("unshare time namespace");
    if (pl->time_offsets[0]) write_file("/proc/self/timens_offsets", pl->time_offsets, strlen(pl->time_offsets));
  }
  int ready[2], created[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(created, O_CLOEXEC) < 0) die("pipe");
  /* A raw clone behaves like fork here (no CLONE_VM); with CLONE_NEWPID the child is pid 1. */
  pid_t pid = clone_container(pl->clone_flags);
  if (pid < 0) die("clone with namespace flags 0x%llx", (unsigned long long)pl->clone_flags);
  tmark("clone");
  if (pid == 0) {
    close(ready[1]);
    close(created[0]);
    child_create(pl, ready[0], created[1], console_fd, fifo);
    _exit(1);
  }
  close(ready[0]);
  close(created[1]);
  close(fifo);
  if (console_fd >= 0) close(console_fd);
  if (pl->clone_flags & CLONE_NEWUSER) write_id_maps(pid, pl);
  char pmsg[4 + sizeof tm.line];
  uint32_t p = (uint32_t)pid;
  memcpy(pmsg, &p, 4);
  /* the line starts with a space: Node trims it */
  memcpy(pmsg + 4, tm.line, tm.len);
  send_msg(sync_fd, 'P', pmsg, 4 + (uint32_t)tm.len);
  if (write(ready[1], "r", 1) != 1) die("release the container process");
  close(ready[1]);
  close(sync_fd);
  sync_fd = -1;
  char c;
  ssize_t r;
  do r = read(created[0], &c, 1); while (r < 0 && errno == EINTR);
  if (r == 1) return 0;
  /* The child died before it was created (it reported why); do not leave a zombie behind. */
  int status;
  waitpid(pid, &status, 0);
  return 1;
}

/* ---- exec -------------------------------------------------------------------------------- */

static pid_t exec_child = -1;
static void forward_signal(int sig) { if (exec_child > 0) kill(exec_child, sig); }

static int do_exec(struct plan *pl) {
  if (!pl->join_pid) fail("launch plan: exec needs the container's pid");
  int console_fd = -1;
  if (pl->terminal) {
    if (!pl->console_socket) fail("launch plan: terminal without a console socket");
    console_fd = connect_console(pl->console_socket);
  }
  if (pl->cpu_initial && sched_setaffinity(0, CPU_ALLOC_SIZE(8192), pl->cpu_initial) < 0) die("set the initial CPU affinity");
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/root", pl->join_pid);
  int rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("open the root of container process %u", pl->join_pid);
  join_namespaces(pl, 1);
  /* The container may have used MS_MOVE+chroot instead of pivot_root: its root is not its mount
     namespace's root, so take it from its init explicitly. */
  if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) die("enter the root of container process %u", pl->join_pid);
  close(rootfd);

  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork into the container's pid namespace");
  if (pid == 0) {
    close(go[1]);
    close(err[0]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    close(go[0]);
    /* From here errors go to the parent over `err` (close-on-exec: EOF means execve worked). */
    int e = dup(err[1]);
    close(err[1]);
    fcntl(e, F_SETFD, FD_CLOEXEC);
    close(sync_fd);
    sync_fd = e; /* fail_text sends 'E' frames: the parent relays them */
    if (setsid() < 0) die("setsid");
    if (pl->has_oom) {
      char v[16];
      int n = snprintf(v, sizeof v, "%d", pl->oom_score_adj);
      write_file("/proc/self/oom_score_adj", v, (size_t)n);
    }
    apply_rlimits(pl);
    if (pl->terminal) setup_console(console_fd, pl->rows, pl->cols);
    finalize_process(pl);
    exec_process(pl);
    _exit(1);
  }
  exec_child = pid;
  close(go[0]);
  close(err[1]);
  if (console_fd >= 0) close(console_fd);
  uint32_t p = (uint32_t)pid;
  send_msg(sync_fd, 'P', &p, 4);
  char *msg; uint32_t len;
  char t = recv_msg(sync_fd, &msg, &len);
  if (t != 'G') { kill(pid, SIGKILL); waitpid(pid, NULL, 0); _exit(1); }
  if (write(go[1], "g", 1) != 1) die("release the exec process");
  close(go[1]);
  /* Relay the child's error frame verbatim (at most 5 + 4096 bytes: fail_text caps the line), or
     report that it is running. */
  char buf[8192];
  ssize_t n, total = 0;
  while ((n = read(err[0], buf + total, sizeof buf - (size_t)total)) != 0) {
    if (n < 0) { if (errno == EINTR) continue; break; }
    total += n;
    if (total == (ssize_t)sizeof buf) break;
  }
  close(err[0]);
  if (total > 5) {
    write_full(sync_fd, buf, (size_t)total);
    waitpid(pid, NULL, 0);
    return 1;
  }
  send_msg(sync_fd, 'S', NULL, 0);
  close(sync_fd);
  sync_fd = -1;
  if (pl->detach) return 0;
  struct sigaction sa = { .sa_handler = forward_signal };
  sigemptyset(&sa.sa_mask);
  int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  int status;
  while (waitpid(pid, &status, 0) < 0) if (errno != EINTR) return 1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "create") && strcmp(argv[1], "exec"))) {
    fprintf(stderr, "berth-init: usage: berth-init create|exec <syncfd> (started by berth, not by hand)\n");
    return 2;
  }
  char *end;
  long fd = strtol(argv[2], &end, 10);
  if (*end || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
    fprintf(stderr, "berth-init: sync fd %s is not open\n", argv[2]);
    return 2;
  }
  sync_fd = (int)fd;
  fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  timing_init(&tm);
  if (strcmp(argv[1], "create") == 0) {
    uint32_t self = (uint32_t)getpid();
    send_msg(sync_fd, 'I', &self, 4);
  }
  /* Non-dumpable: processes in the container cannot open /proc/<us>/exe (or our fds) while we run
     inside their namespaces (CVE-2019-5736). execve() of the container process resets it. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("prctl PR_SET_DUMPABLE");
  char *buf; uint32_t len;
  char t = recv_msg(sync_fd, &buf, &len);
  if (t == 'J' && strcmp(argv[1], "create") == 0) {
    before_plan = 1;
    join_cgroups(buf, len);
    before_plan = 0;
    tmark(into_cgroup >= 0 ? "cgroup-fd" : "join");
    free(buf);
    t = recv_msg(sync_fd, &buf, &len);
  }
  if (t != 'L') fail("sync socket: expected a launch plan, got message '%c'", t);
  struct plan pl;
  parse_plan(&pl, (unsigned char *)buf, len);
  tmark("plan");
  if (strcmp(argv[1], "create") == 0) {
    if (pl.mode != 1) fail("launch plan: not a create plan");
    return do_create(&pl);
  }
  if (pl.mode != 2) fail("launch plan: not an exec plan");
  return do_exec(&pl);
}
