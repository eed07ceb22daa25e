/*
 * berth: the CLI's small static front. Node's own start costs ~55 ms and loading the CLI ~20 more, so a
 * call is handed to a pre-warmed, single-use Node process ("warm berth", cli/warm-serve.ts) that has
 * already loaded the CLI and waits on a unix socket: this client passes it its argv, environment, umask,
 * working directory and its fds 0, 1, 2 (SCM_RIGHTS), relays its signals to it, and exits with the code
 * it reports. The warm process then is, for that one call, what a freshly started `berth` would be; it
 * exits after it. Nothing lives in it between calls: killing it at any time loses nothing.
 *
 * Without a warm process (none yet, a stale socket, BERTH_WARM=off, `berth serve`) it execs the Node CLI,
 * bin/berth-node, with the same argv. At the end of every call (cold or warm) it makes sure one warm
 * process is waiting or starting for this key (a flock on <key>.lock, held by that process, decides;
 * the file says what the holder does: departing_holder()).
 *   BERTH_WARM=off        never connect, never start one (always the Node CLI)
 *   BERTH_WARM_DIR=DIR    sockets, locks and pid files (default /run/berth/warm as root, else
 *                         $XDG_RUNTIME_DIR/berth/warm; without either: always the Node CLI)
 *   BERTH_WARM_IDLE=SECS  a waiting warm process exits after this long without a call (default 300)
 *   BERTH_TIMING=1        print the client's share of the time to stderr
 *
 * Key: one waiting process per hash(uid, the identity of the bundle, of this binary and of the node on PATH,
 * every BERTH_*, NODE_* and UV_* variable): those are read at load, before the handoff.
 * Protocol (frames: u32 LE length of type + payload, u8 type, payload; text fields NUL-separated):
 *   client -> warm  Q  "1", umask (octal), argc, argv..., KEY=VALUE...; SCM_RIGHTS: fds 0, 1, 2, cwd
 *   warm -> client  A  "<pid>": the call is handed off      F: not taken (other context): run cold
 *                   X  "<code>": the call's exit code, the warm process's last act
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"
#include "client-common.h"

#define MAX_ENV (4u << 20)
/* how long a warm process started by a cold call waits for that call to end before it loads anyway */
#define COLD_WAIT_MS 3000
/* how long a call waits for a warm process that is loading (else: cold) */
#define LOADING_WAIT_MS 1000

extern char **environ;

static char **orig_argv;
static char repo[PATH_MAX];
static sigset_t old_mask;
static int sigs_blocked;
/* why a call ran cold (BERTH_TIMING) */
static const char *cold_why = "env-too-large";

/* ---- timing (BERTH_TIMING) ---------------------------------------------------------------------- */
static struct timing tm;

static void mark(const char *name) { timing_mark(&tm, name); }

static void timing_report(void) {
  if (tm.on) fprintf(stderr, "berth-client-timing:%s total=%.1f\n", tm.line, timing_now_ms() - tm.start);
}

static void die(int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "berth: %s\n", msg);
  exit(code);
}

/* ---- the key -------------------------------------------------------------------------------------- */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
  return h;
}

static uint64_t fnv_stat(uint64_t h, const char *path, int *ok) {
  struct stat st;
  if (stat(path, &st) < 0) { *ok = 0; return h; }
  uint64_t v[7] = { st.st_dev, st.st_ino, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                    (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec };
  return fnv(h, v, sizeof v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int keyed(const char *e) {
  /* read before the handoff: by the CLI at module load, by Node and libuv at their start (UV_THREADPOOL_SIZE) */
  return !strncmp(e, "BERTH_", 6) || !strncmp(e, "NODE_", 5) || !strncmp(e, "UV_", 3);
}

/* The node bin/berth-node's `#!/usr/bin/env node` would run: the first executable node on PATH. */
static uint64_t fnv_node(uint64_t h, int *ok) {
  const char *path = getenv("PATH");
  char p[PATH_MAX];
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *d = path; ; ) {
    const char *end = strchrnul(d, ':');
    if (end > d && (size_t)(end - d) < sizeof p - 8) {
      snprintf(p, sizeof p, "%.*s/node", (int)(end - d), d);
      if (access(p, X_OK) == 0) return fnv_stat(h, p, ok);
    }
    if (!*end) break;
    d = end + 1;
  }
  *ok = 0;
  return h;
}

/* 0 when this install cannot be keyed (no bundle): then no warm process at all. */
static int make_key(char *out, size_t cap) {
  char p[PATH_MAX + 64];
  int ok = 1;
  uint64_t h = 0xcbf29ce484222325ULL;
  uid_t uid = getuid(), euid = geteuid();
  h = fnv(h, &uid, sizeof uid);
  h = fnv(h, &euid, sizeof euid);
  snprintf(p, sizeof p, "%s/dist/berth.cjs", repo); h = fnv_stat(h, p, &ok);
  snprintf(p, sizeof p, "%s/bin/berth-node", repo); h = fnv_stat(h, p, &ok);
  h = fnv_stat(h, "/proc/self/exe", &ok);
  h = fnv_node(h, &ok);
  if (!ok) return 0;
  size_t n = 0;
  for (char **e = environ; *e; e++) if (keyed(*e)) n++;
  char **ks = malloc((n + 1) * sizeof *ks);
  if (!ks) return 0;
  n = 0;
  for (char **e = environ; *e; e++) if (keyed(*e)) ks[n++] = *e;
  qsort(ks, n, sizeof *ks, cmp_str);
  for (size_t i = 0; i < n; i++) h = fnv(h, ks[i], strlen(ks[i]) + 1);
  free(ks);
  snprintf(out, cap, "%016llx", (unsigned long long)h);
  return 1;
}

/* The directory, created 0700 when missing; refused (no warm process) unless ours and private. */
static int warm_dir(char *out, size_t cap) {
  const char *d = getenv("BERTH_WARM_DIR");
  if (d && *d) snprintf(out, cap, "%s", d);
  else if (geteuid() == 0) snprintf(out, cap, "/run/berth/warm");
  else if ((d = getenv("XDG_RUNTIME_DIR")) && *d == '/') snprintf(out, cap, "%s/berth/warm", d);
  else return 0;
  struct stat st;
  if (stat(out, &st) < 0) {
    for (char *s = out + 1; ; s++) {
      if (*s == '/' || !*s) {
        char c = *s;
        *s = 0;
        if (mkdir(out, 0700) < 0 && errno != EEXIST) return 0;
        *s = c;
        if (!c) break;
      }
    }
    if (stat(out, &st) < 0) return 0;
  }
  return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077);
}

/* ---- the cold path -------------------------------------------------------------------------------- */
static void restore_signals(void) {
  if (sigs_blocked) sigprocmask(SIG_SETMASK, &old_mask, NULL);
  sigs_blocked = 0;
}

static void exec_node_cli(void) {
  char cli[PATH_MAX + 64];
  snprintf(cli, sizeof cli, "%s/bin/berth-node", repo);
  orig_argv[0] = cli;
  restore_signals();
  execv(cli, orig_argv);
  die(125, "cannot run the Node CLI %s: %s", cli, strerror(errno));
}

/*
 * `berth serve` with a young generation that starts at its full size: a daemon's per-request garbage
 * then dies young instead of being promoted, where the default nursery (1 MB, growing) promoted a few
 * MB per pod start and each pod paid an incremental mark-compact (steps of up to 6 ms on its RPCs).
 * Measured over 20 pod starts: 13 mark-compacts by default, 1 with this; ~32 MB of address space.
 * And an old generation whose first limit is 64 MB: V8 otherwise sets it a little above what is live
 * (~20 MB here), and the buffers and code of each pod start (external memory, not promotions) reached it
 * every pod or two: 26 mark-compacts over 30 pod starts (3-15 ms pauses plus steps, on the RPCs), 5
 * with it; pod start 71 -> 53 ms in the same bench. The memory reducer still shrinks the heap when idle.
 */
#define SERVE_NODE_YOUNG "--min-semi-space-size=16"
#define SERVE_NODE_OLD "--initial-old-space-size=64"

static void exec_node_serve(char **argv) {
  char cli[PATH_MAX + 64];
  snprintf(cli, sizeof cli, "%s/bin/berth-node", repo);
  int n = 0;
  while (argv[n]) n++;
  char **av = calloc((size_t)n + 5, sizeof *av);
  if (!av) die(125, "out of memory");
  /* `/usr/bin/env node`, as bin/berth-node's own #! line finds it */
  av[0] = "env";
  av[1] = "node";
  av[2] = SERVE_NODE_YOUNG;
  av[3] = SERVE_NODE_OLD;
  av[4] = cli;
  for (int i = 1; i < n; i++) av[4 + i] = argv[i];
  restore_signals();
  execv("/usr/bin/env", av);
  die(125, "cannot run the Node CLI %s: %s", cli, strerror(errno));
}

/*
 * The lock file names its holder and what it does, "<state> <pid>": starting (waiting for the end of an
 * earlier call), loading, ready (listening), leaving (idle or outdated, exiting); empty or without a pid
 * while a client that took the lock has not forked the holder yet. A holder that is leaving, or dead
 * (killed: a process looks dead before the last of its threads has exited and closed the lock), still
 * holds the lock for a moment but will never serve: its pid then, else 0 (a holder that will serve).
 */
static pid_t departing_holder(int fd) {
  char buf[64] = "", state[16];
  int pid = 0;
  if (pread(fd, buf, sizeof buf - 1, 0) <= 0 || sscanf(buf, "%15s %d", state, &pid) != 2 || pid <= 0) return 0;
  if (!strcmp(state, "leaving")) return pid;
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int sfd = open(path, O_RDONLY | O_CLOEXEC);
  if (sfd < 0) return pid; /* gone */
  ssize_t n = read(sfd, stat, sizeof stat - 1);
  close(sfd);
  if (n <= 0) return pid;
  stat[n] = 0;
  const char *rp = strrchr(stat, ')');
  return rp && (rp[2] == 'Z' || rp[2] == 'X') ? pid : 0;
}

static void write_state(int fd, const char *state) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%s %d", state, (int)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) _exit(1);
}

/*
 * Start a warm process for `key` unless one is waiting or starting (it holds <key>.lock). It waits for
 * `after` (this call: the client, or the Node CLI it becomes) to end, up to COLD_WAIT_MS, so it does not
 * take CPU from the call, then becomes the Node CLI in warm mode with the lock on fd 3. `ending`: this
 * client exits right after (the warm path), so a call that comes meanwhile should wait for it. When the
 * lock's holder is departing, the new process first waits for it to be gone (not this call).
 */
static void ensure_warm(const char *dir, const char *key, pid_t after, int ending) {
  char lock[PATH_MAX + 64], sock[PATH_MAX + 64], cli[PATH_MAX + 64];
  snprintf(lock, sizeof lock, "%s/%s.lock", dir, key);
  snprintf(sock, sizeof sock, "%s/%s.sock", dir, key);
  snprintf(cli, sizeof cli, "%s/bin/berth-node", repo);
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  pid_t departing = 0;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0 && !(departing = departing_holder(fd))) { close(fd); return; }
  /* "loading": from now on a call waits for this process rather than start cold (connect_warm); at once
   * when `after` is ending (this client), else once it has ended. A "loading" of a dead starter is
   * harmless: clients see its lock free. */
  if (!departing && (ftruncate(fd, 0) < 0 || (ending && pwrite(fd, "loading", 7, 0) != 7))) { close(fd); return; }
  pid_t mid = fork();
  if (mid == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    /* /dev/null on 0-2 at once: a caller waiting for the end of its output must not wait for this */
    int null = open("/dev/null", O_RDWR);
    if (null < 0) _exit(1);
    for (int i = 0; i < 3; i++) dup2(null, i);
    if (departing) {
      /* the lock is free once the departing holder has fully exited; someone else may take it first */
      int hfd = (int)syscall(SYS_pidfd_open, departing, 0);
      if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        struct pollfd hp = { .fd = hfd, .events = POLLIN };
        if (hfd >= 0) while (poll(&hp, 1, -1) < 0 && errno == EINTR) {}
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) _exit(0);
      }
      if (hfd >= 0) close(hfd);
      if (ending) write_state(fd, "loading");
    }
    if (!ending) write_state(fd, "starting");
    int pfd = (int)syscall(SYS_pidfd_open, after, 0);
    if (pfd >= 0) {
      struct pollfd pf = { .fd = pfd, .events = POLLIN };
      while (poll(&pf, 1, COLD_WAIT_MS) < 0 && errno == EINTR) {}
      close(pfd);
    }
    write_state(fd, "loading");
    /* the lock on fd 3 (without close-on-exec), nothing else */
    int lk = fcntl(fd, F_DUPFD, 10);
    if (lk < 0 || dup2(lk, 3) < 0) _exit(1);
    syscall(SYS_close_range, 4, ~0U, 0);
    /* its working directory is the call's, at handoff; waiting, it must not pin a directory or mount */
    if (chdir("/") < 0) _exit(1);
    setenv("BERTH_WARM_SOCKET", sock, 1);
    setenv("BERTH_WARM_LOCK_FD", "3", 1);
    restore_signals();
    char *args[] = { cli, NULL };
    execv(cli, args);
    _exit(127);
  }
  close(fd);
  if (mid > 0) while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {}
}

/* ---- the warm path -------------------------------------------------------------------------------- */
/* The request frame, its first bytes carrying fds 0, 1, 2 and the working directory. */
static int send_request(int conn, int argc, char **argv, int cwdfd) {
  mode_t um = umask(0);
  umask(um);
  /* the frame header's 5 bytes first, filled in once the length is known */
  struct nulbuf nb = { .b = malloc(4096), .len = 5, .cap = 4096 };
  if (!nb.b) return -1;
#define PUT(str) do { if (nulbuf_put(&nb, (str)) < 0) return -1; } while (0)
  char num[32];
  PUT("1");
  snprintf(num, sizeof num, "%o", (unsigned)um); PUT(num);
  snprintf(num, sizeof num, "%d", argc - 1); PUT(num);
  for (int i = 1; i < argc; i++) PUT(argv[i]);
  for (char **e = environ; *e; e++) if (strchr(*e, '=')) PUT(*e);
#undef PUT
  char *buf = nb.b;
  size_t len = nb.len;
  uint32_t n = (uint32_t)len - 4;
  buf[0] = n & 0xff; buf[1] = (n >> 8) & 0xff; buf[2] = (n >> 16) & 0xff; buf[3] = (n >> 24) & 0xff;
  buf[4] = 'Q';
  int fds[4] = { 0, 1, 2, cwdfd };
  union { char b[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } c;
  memset(&c, 0, sizeof c);
  struct iovec iov = { .iov_base = buf, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b, .msg_controllen = sizeof c.b };
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  ssize_t sent;
  while ((sent = sendmsg(conn, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
  int r = sent < 0 ? -1 : write_all(conn, buf + sent, len - (size_t)sent, 1);
  free(buf);
  return r;
}

/* Reads one frame: returns its type (payload NUL-terminated in p), 0 at EOF, -1 on error. */
static int read_frame(int conn, char *p, size_t cap) {
  unsigned char h[5];
  size_t have = 0;
  while (have < 5) {
    ssize_t n = read(conn, h + have, 5 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 && have == 0 ? 0 : -1;
    have += (size_t)n;
  }
  uint32_t len = (h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24) - 1;
  if (len >= cap) return -1;
  for (have = 0; have < len;) {
    ssize_t n = read(conn, p + have, len - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    have += (size_t)n;
  }
  p[len] = 0;
  return h[4];
}

/* What the Node CLI restores at its exit (O_NONBLOCK, terminal modes of fds 0-2): the warm one cannot,
 * it saw other files at its start, so the client, which holds the same open files, does. */
static struct { int flags; int tty; struct termios tio; } stdio_state[3];

static void save_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    stdio_state[fd].flags = fcntl(fd, F_GETFL);
    stdio_state[fd].tty = tcgetattr(fd, &stdio_state[fd].tio) == 0;
  }
}

static void restore_stdio(void) {
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU); /* a background job must not be stopped by restoring its terminal */
  sigprocmask(SIG_BLOCK, &ttou, &old);
  for (int fd = 0; fd < 3; fd++) {
    if (stdio_state[fd].flags < 0) continue;
    int now = fcntl(fd, F_GETFL);
    if (now >= 0 && ((now ^ stdio_state[fd].flags) & O_NONBLOCK)) fcntl(fd, F_SETFL, (now & ~O_NONBLOCK) | (stdio_state[fd].flags & O_NONBLOCK));
    if (stdio_state[fd].tty) while (tcsetattr(fd, TCSANOW, &stdio_state[fd].tio) < 0 && errno == EINTR) {}
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static int fatal_by_default(int sig) {
  return sig != SIGWINCH && sig != SIGCHLD && sig != SIGCONT && sig != SIGURG && sig != SIGTSTP;
}

/*
 * A connection to the key's warm process. When none listens yet but one is loading (its starter wrote
 * "loading" into the lock it holds, and it writes "ready" once it listens), wait for it: it is ahead of a
 * cold start, which would do the same loading from the beginning. Not for a starter still waiting for
 * the end of an earlier call ("starting"), nor one that died (the lock is free).
 */
static int connect_warm(const struct sockaddr_un *a, const char *dir, const char *key) {
  int lockfd = -1;
  double deadline = timing_now_ms() + LOADING_WAIT_MS;
  for (;;) {
    int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn < 0) break;
    if (connect(conn, (const struct sockaddr *)a, sizeof *a) == 0) {
      if (lockfd >= 0) close(lockfd);
      return conn;
    }
    cold_why = errno == ENOENT ? "no-socket" : errno == ECONNREFUSED ? "refused" : "connect";
    close(conn);
    if (lockfd < 0) {
      char lock[PATH_MAX + 64];
      snprintf(lock, sizeof lock, "%s/%s.lock", dir, key);
      if ((lockfd = open(lock, O_RDONLY | O_CLOEXEC)) < 0) break;
    }
    char state[16] = "";
    if (pread(lockfd, state, sizeof state - 1, 0) <= 0 || strncmp(state, "loading", 7) || timing_now_ms() > deadline) break;
    if (flock(lockfd, LOCK_SH | LOCK_NB) == 0) break; /* nobody holds it: the starter is gone */
    cold_why = "loading-timeout";
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (lockfd >= 0) close(lockfd); /* also drops a shared lock taken just now */
  return -1;
}

/* The call through a warm process; returns only when none took it (the caller then runs cold). */
static void run_warm(int argc, char **argv, const char *dir, const char *key) {
  char sock[PATH_MAX + 64];
  snprintf(sock, sizeof sock, "%s/%s.sock", dir, key);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  cold_why = "socket";
  if (strlen(sock) >= sizeof a.sun_path) return;
  strcpy(a.sun_path, sock);
  int conn = connect_warm(&a, dir, key);
  if (conn < 0) return;
  cold_why = "peer";
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() || cred.pid <= 0) { close(conn); return; }
  int cwdfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwdfd < 0) { close(conn); return; }
  mark("connect");

  /* Signals arrive as data on a signalfd and go to the warm process (the call). */
  sigset_t mask;
  sigemptyset(&mask);
  int relayed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTSTP, SIGCONT };
  for (size_t i = 0; i < sizeof relayed / sizeof relayed[0]; i++) sigaddset(&mask, relayed[i]);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  sigs_blocked = 1;
  int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  save_stdio();
  char reply[64];
  int t = sigfd < 0 || send_request(conn, argc, argv, cwdfd) < 0 ? -1 : read_frame(conn, reply, sizeof reply);
  close(cwdfd);
  if (t != 'A') {
    cold_why = t == 'F' ? "declined" : t == 0 ? "closed" : "broken";
    /* Nobody took it (the process went idle, exited, or declined): nothing of the call ran. */
    close(conn);
    if (sigfd >= 0) close(sigfd);
    restore_signals();
    return;
  }
  mark("handoff");
  pid_t warm = cred.pid;
  int last_sig = 0, code = -1;
  for (;;) {
    struct pollfd pf[2] = { { .fd = conn, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        /* job control: the call stops with its client (^Z) and goes on with it (SIGCONT). A warm
         * process's group is orphaned, where the kernel drops SIGTSTP: it gets SIGSTOP instead. */
        kill(warm, sig == SIGTSTP ? SIGSTOP : sig);
        if (sig == SIGTSTP) kill(getpid(), SIGSTOP);
        else if (fatal_by_default(sig)) last_sig = sig;
      }
    }
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      t = read_frame(conn, reply, sizeof reply);
      if (t == 'X') code = atoi(reply);
      break;
    }
  }
  close(conn);
  mark("call");
  restore_stdio();
  ensure_warm(dir, key, getpid(), 1);
  if (code < 0) {
    if (last_sig) die_by_signal(last_sig);
    timing_report();
    die(125, "the warm berth process (pid %d) ended without an exit code (killed?)", (int)warm);
  }
  timing_report();
  exit(code);
}

/* The command's name: the first argument that is neither an option nor --root's or --state's value. */
static const char *command_of(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    if (i > 1 && (!strcmp(argv[i - 1], "--root") || !strcmp(argv[i - 1], "--state"))) continue;
    return argv[i];
  }
  return NULL;
}

int main(int argc, char **argv) {
  orig_argv = argv;
  timing_init(&tm);
  /* As Node does at its start: a closed fd 0-2 becomes /dev/null (so it cannot be taken by a socket). */
  for (int fd = 0; fd < 3; fd++) if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) break;
  /* <repo>/native/build/berth-client */
  ssize_t n = readlink("/proc/self/exe", repo, sizeof repo - 1);
  if (n < 0) die(125, "readlink /proc/self/exe: %s", strerror(errno));
  repo[n] = 0;
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(repo, '/');
    if (!slash) die(125, "cannot find the berth install from %s", repo);
    *slash = 0;
  }
  const char *cmd = command_of(argc, argv);
  /* `serve` is a daemon: a process of its own (with its own heap flags) */
  if (cmd && !strcmp(cmd, "serve")) exec_node_serve(argv);
  const char *w = getenv("BERTH_WARM");
  if (w && !strcmp(w, "off")) exec_node_cli();
  /* without a place for sockets, no warm processes */
  char dir[PATH_MAX], key[32];
  if (!warm_dir(dir, sizeof dir) || !make_key(key, sizeof key)) {
    mark("cold-no-warm-dir-or-key");
    timing_report();
    exec_node_cli();
  }
  size_t envlen = 0;
  for (char **e = environ; *e; e++) envlen += strlen(*e) + 1;
  if (envlen <= MAX_ENV) run_warm(argc, argv, dir, key);
  mark(cold_why);
  timing_report();
  ensure_warm(dir, key, getpid(), 0);
  exec_node_cli();
}
