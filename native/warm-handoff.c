/*
 * libberth-warm-handoff.so: the warm berth process's side of the handoff (cli/warm-serve.ts calls it
 * through native/ffi.ts). Node cannot receive SCM_RIGHTS, and must not create its stdio streams before
 * fds 0-2 are the caller's, so the blocking wait, accept, receive and dup2 happen here, in one call.
 * The protocol is described in berth-client.c.
 *
 * A call is taken only from a client that is this process in all but its files: same uid, credentials,
 * capabilities, namespaces, root, cgroup, LSM label, nice, CPU affinity, oom_score_adj (else it answers
 * F and the client runs the Node CLI itself); the client's resource limits are copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int conn = -1;

int berth_warm_listen(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) return -ENAMETOOLONG;
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  /* only the holder of the key's lock binds: a socket there is a dead or departed process's */
  unlink(path);
  mode_t old = umask(077);
  int r = bind(fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (r < 0 || listen(fd, 64) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* ---- the caller's context ------------------------------------------------------------------------- */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  int ra = stat(a, &sa), rb = stat(b, &sb);
  if (ra < 0 || rb < 0) return ra < 0 && rb < 0 && errno == ENOENT;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static ssize_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t have = 0;
  ssize_t n;
  while (have < cap - 1 && (n = read(fd, buf + have, cap - 1 - have)) > 0) have += (size_t)n;
  close(fd);
  buf[have] = 0;
  return (ssize_t)have;
}

static int same_content(const char *a, const char *b) {
  char x[4096], y[4096];
  ssize_t nx = slurp(a, x, sizeof x), ny = slurp(b, y, sizeof y);
  return nx == ny && (nx < 0 || !memcmp(x, y, (size_t)nx));
}

/* The credential lines of /proc/PID/status, in order. */
static void cred_lines(const char *status, char *out, size_t cap) {
  static const char *keys[] = { "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:", NULL };
  size_t len = 0;
  out[0] = 0;
  for (const char *l = status; *l; ) {
    const char *end = strchr(l, '\n');
    size_t n = end ? (size_t)(end - l) : strlen(l);
    for (int i = 0; keys[i]; i++) {
      if (!strncmp(l, keys[i], strlen(keys[i])) && len + n + 2 < cap) {
        memcpy(out + len, l, n);
        len += n;
        out[len++] = '\n';
        out[len] = 0;
      }
    }
    l += n + (end ? 1 : 0);
  }
}

static int same_context(pid_t pid) {
  char a[64], b[64];
  static const char *ns[] = { "mnt", "net", "pid", "ipc", "uts", "user", "cgroup", "time", NULL };
  for (int i = 0; ns[i]; i++) {
    snprintf(a, sizeof a, "/proc/self/ns/%s", ns[i]);
    snprintf(b, sizeof b, "/proc/%d/ns/%s", (int)pid, ns[i]);
    if (!same_file(a, b)) return 0;
  }
  snprintf(b, sizeof b, "/proc/%d/root", (int)pid);
  if (!same_file("/proc/self/root", b)) return 0;
  static const char *files[] = { "cgroup", "oom_score_adj", "attr/current", NULL };
  for (int i = 0; files[i]; i++) {
    snprintf(a, sizeof a, "/proc/self/%s", files[i]);
    snprintf(b, sizeof b, "/proc/%d/%s", (int)pid, files[i]);
    if (!same_content(a, b)) return 0;
  }
  char sa[8192], sb[8192], ca[2048], cb[2048];
  snprintf(b, sizeof b, "/proc/%d/status", (int)pid);
  if (slurp("/proc/self/status", sa, sizeof sa) < 0 || slurp(b, sb, sizeof sb) < 0) return 0;
  cred_lines(sa, ca, sizeof ca);
  cred_lines(sb, cb, sizeof cb);
  if (strcmp(ca, cb)) return 0;
  errno = 0;
  int pa = getpriority(PRIO_PROCESS, 0), pb = getpriority(PRIO_PROCESS, (id_t)pid);
  if (errno || pa != pb) return 0;
  cpu_set_t xa, xb;
  if (sched_getaffinity(0, sizeof xa, &xa) < 0 || sched_getaffinity(pid, sizeof xb, &xb) < 0 || !CPU_EQUAL(&xa, &xb)) return 0;
  return 1;
}

/* The client's resource limits become ours; on any failure ours stay as they were. */
static int copy_rlimits(pid_t pid) {
  struct rlimit want[RLIM_NLIMITS], had[RLIM_NLIMITS];
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    if (prlimit(pid, r, NULL, &want[r]) < 0 || getrlimit(r, &had[r]) < 0) return 0;
  }
  /* as Node does at its start (so a cold `berth` has it too): the soft fd limit raised to the hard one */
  want[RLIMIT_NOFILE].rlim_cur = want[RLIMIT_NOFILE].rlim_max;
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    if (want[r].rlim_cur == had[r].rlim_cur && want[r].rlim_max == had[r].rlim_max) continue;
    if (setrlimit(r, &want[r]) < 0) {
      for (int u = 0; u < r; u++) setrlimit(u, &had[u]);
      return 0;
    }
  }
  return 1;
}

/* ---- the handoff ---------------------------------------------------------------------------------- */
static int send_frame(int fd, char type, const char *payload) {
  size_t len = strlen(payload);
  char buf[64];
  if (len > sizeof buf - 5) return -1;
  uint32_t n = (uint32_t)len + 1;
  buf[0] = n & 0xff; buf[1] = (n >> 8) & 0xff; buf[2] = (n >> 16) & 0xff; buf[3] = (n >> 24) & 0xff;
  buf[4] = type;
  memcpy(buf + 5, payload, len);
  return send(fd, buf, len + 5, MSG_NOSIGNAL) == (ssize_t)(len + 5) ? 0 : -1;
}

static void decline(int c, int *fds, int nfds) {
  send_frame(c, 'F', "");
  for (int i = 0; i < nfds; i++) close(fds[i]);
  close(c);
}

/*
 * Waits up to timeout_ms for a call. 0: none (timeout, or one declined or broken: the client runs cold);
 * < 0: -errno; > 0: the call is ours: fds 0-2 are the client's, cwd, umask and rlimits its, the listening
 * socket and the lock are closed, the client has its 'A', and `out` (an address, cap bytes) holds the
 * request's payload, of that many bytes. berth_warm_conn() is then the connection for the exit code.
 */
int berth_warm_accept(int lfd, int lockfd, int timeout_ms, uint64_t out_addr, uint32_t cap) {
  char *out = (char *)(uintptr_t)out_addr;
  struct pollfd pf = { .fd = lfd, .events = POLLIN };
  int r = poll(&pf, 1, timeout_ms);
  if (r < 0) return errno == EINTR ? 0 : -errno;
  if (r == 0) return 0;
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return errno == EINTR || errno == ECONNABORTED || errno == EAGAIN ? 0 : -errno;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() || cred.pid <= 0) {
    close(c);
    return 0;
  }
  /* a client that connects and then says nothing must not hold the warm process forever */
  struct timeval tv = { .tv_sec = 10 };
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  int fds[4], nfds = 0;
  union { char b[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } cb;
  struct iovec iov = { .iov_base = out, .iov_len = cap };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof cb.b };
  ssize_t n;
  while ((n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *got = (int *)CMSG_DATA(cm);
    for (int i = 0; i < k; i++) {
      if (nfds < 4) fds[nfds++] = got[i];
      else close(got[i]);
    }
  }
  size_t have = n > 0 ? (size_t)n : 0;
  uint32_t flen = have >= 4 ? ((unsigned char)out[0] | (unsigned char)out[1] << 8 | (unsigned char)out[2] << 16 | (uint32_t)(unsigned char)out[3] << 24) : 0;
  if (n <= 0 || (msg.msg_flags & MSG_CTRUNC) || nfds != 4 || have < 5 || flen < 1 || (size_t)flen + 4 > cap) {
    decline(c, fds, nfds);
    return 0;
  }
  while (have < (size_t)flen + 4) {
    n = read(c, out + have, (size_t)flen + 4 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { decline(c, fds, nfds); return 0; }
    have += (size_t)n;
  }
  /* payload: "1", umask, ... */
  const char *p = out + 5;
  size_t plen = flen - 1;
  if (out[4] != 'Q' || plen < 4 || strcmp(p, "1") || !memchr(p + 2, 0, plen - 2) || !same_context(cred.pid)) {
    decline(c, fds, nfds);
    return 0;
  }
  mode_t um = (mode_t)strtoul(p + 2, NULL, 8) & 0777;
  if (!copy_rlimits(cred.pid) || fchdir(fds[3]) < 0) {
    decline(c, fds, nfds);
    return 0;
  }
  umask(um);
  for (int i = 0; i < 3; i++) {
    if (dup2(fds[i], i) < 0) return -errno; /* cannot happen with valid fds; then this process is useless */
  }
  for (int i = 0; i < 4; i++) if (fds[i] > 2) close(fds[i]);
  close(lfd);
  if (lockfd >= 0) close(lockfd);
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  if (send_frame(c, 'A', pid) < 0) return -EPIPE;
  /* the exit code is written with a plain write on the Node side: no timeout from here on */
  struct timeval zero = { 0 };
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero);
  memmove(out, out + 5, plen);
  conn = c;
  return (int)plen;
}

int berth_warm_conn(void) { return conn; }
