/*
 * berth-runtime: the thin client of the resident planner (runtime/planner). Node's own start costs
 * ~60 ms, a runc call ~30 ms in all: so a warm planner process plans, and this small static program
 * stands in for the runtime process. It sends its argv, cwd and umask, writes what the planner says to
 * its stdout/stderr, relays its signals, and runs berth-init as its own child whenever the planner
 * asks, so whoever ran the runtime stays the container's parent exactly as with runc (for `create`,
 * berth-init's parent exits and the container re-parents to the caller's subreaper, a shim or monitor;
 * a foreground `run` makes this client the subreaper and reaps the container here).
 *
 * Without a planner (nothing listens on the socket) it execs the Node CLI, bin/berth-runtime-node, with
 * the same argv: behaviour is then exactly the Node CLI's.
 *   BERTH_RUNTIME_PLANNER=PATH   the planner's socket (default /run/berth-runtime/planner.sock)
 *   BERTH_RUNTIME_PLANNER=off    always the Node CLI
 *   BERTH_TIMING=1               print where the time went (client side) to stderr
 *
 * Protocol: runtime/planner/protocol.ts (frames: u32 LE length of type + payload, u8 type, payload).
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
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"
#include "client-common.h"

#define DEFAULT_SOCKET "/run/berth-runtime/planner.sock"
#define MAX_FRAME (64u << 20)
/* the request's environment, strings with NULs: MAX_ENV_BYTES in runtime/planner/protocol.ts */
#define MAX_ENV (4u << 20)
#define MAX_KIDS 64

extern char **environ;

static const char *sock_path;
static int conn = -1, sigfd = -1;
static sigset_t old_mask;
static char **orig_argv;
static int stdout_broken;

/* berth-init children (their exit goes back as 'X <token>') */
static struct { pid_t pid; char token[64]; } inits[MAX_KIDS];
/* adopted children already reaped, and the pids the planner is waiting for */
static struct { pid_t pid; int status; } reaped[MAX_KIDS];
static pid_t waiting[MAX_KIDS];

/* ---- timing (BERTH_TIMING) ---------------------------------------------------------------------- */
static struct timing tm;

static void mark(const char *name) { timing_mark(&tm, name); }

static void timing_report(void) {
  if (tm.on) fprintf(stderr, "berth-timing:%s total=%.1f\n", tm.line, timing_now_ms() - tm.start);
}

/* ---- helpers -------------------------------------------------------------------------------------- */
static void die(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "berth-runtime: %s\n", msg);
  exit(1);
}

static int send_frame(int fd, char type, const void *payload, size_t len) {
  unsigned char h[5];
  uint32_t n = (uint32_t)len + 1;
  h[0] = n & 0xff; h[1] = (n >> 8) & 0xff; h[2] = (n >> 16) & 0xff; h[3] = (n >> 24) & 0xff;
  h[4] = (unsigned char)type;
  if (write_all(fd, h, 5, 1) < 0) return -1;
  return len ? write_all(fd, payload, len, 1) : 0;
}

static void send_text(char type, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  if (send_frame(conn, type, buf, (size_t)n) < 0) die("the planner at %s went away mid-request", sock_path);
}

static int connect_planner(void) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(sock_path) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, sock_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* The Node CLI beside us: <repo>/bin/berth-runtime-node, we being <repo>/native/build/<this>. */
static void exec_node_cli(void) {
  char self[PATH_MAX], cli[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) die("cannot find the Node CLI: readlink /proc/self/exe: %s", strerror(errno));
  self[n] = 0;
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(self, '/');
    if (!slash) die("cannot find the Node CLI from %s", self);
    *slash = 0;
  }
  snprintf(cli, sizeof cli, "%s/bin/berth-runtime-node", self);
  orig_argv[0] = cli;
  if (sigfd >= 0) sigprocmask(SIG_SETMASK, &old_mask, NULL); /* the Node CLI gets the caller's signal mask */
  execv(cli, orig_argv);
  die("cannot run the Node CLI %s: %s", cli, strerror(errno));
}

/* ---- children ------------------------------------------------------------------------------------- */
static int status_code(int st) {
  return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void spawn_init(char *payload, uint32_t len) {
  char *f[4];
  char *p = payload, *end = payload + len;
  for (int i = 0; i < 4; i++) {
    f[i] = p;
    while (p < end && *p) p++;
    if (p >= end && i < 3) die("the planner sent a malformed spawn request");
    if (p < end) *p++ = 0;
  }
  const char *token = f[0], *mode = f[1], *init = f[2];
  int nfds = atoi(f[3]);
  for (int fd = 3; fd < 3 + nfds; fd++) {
    if (fd == conn || fd == sigfd || fcntl(fd, F_GETFD) < 0) {
      send_text('E', "%s preserve-fds %d: fd %d is not open", token, nfds, fd);
      return;
    }
  }
  int slot = -1;
  for (int i = 0; i < MAX_KIDS; i++) if (!inits[i].pid) { slot = i; break; }
  int s = slot < 0 ? -1 : connect_planner();
  if (s < 0) {
    send_text('E', "%s cannot connect berth-init to the planner: %s", token, slot < 0 ? "too many at once" : strerror(errno));
    return;
  }
  if (send_frame(s, 'T', token, strlen(token)) < 0) {
    close(s);
    send_text('E', "%s cannot connect berth-init to the planner: %s", token, strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(s);
    send_text('E', "%s fork: %s", token, strerror(errno));
    return;
  }
  if (pid == 0) {
    /* The container inherits the signal mask through berth-init's exec: give back the caller's. */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    int target = 3 + nfds;
    if (s == target) fcntl(s, F_SETFD, 0);
    else if (dup2(s, target) < 0) _exit(127);
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", target);
    char *args[] = { "berth-init", (char *)mode, fdarg, NULL };
    execv(init, args);
    fprintf(stderr, "berth-runtime: cannot run %s: %s\n", init, strerror(errno));
    _exit(127);
  }
  close(s);
  inits[slot].pid = pid;
  snprintf(inits[slot].token, sizeof inits[slot].token, "%s", token);
  mark("plan");
}

static void report_wait(pid_t pid, int code) {
  send_text('W', "%d %d", (int)pid, code);
}

static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    int code = status_code(st), done = 0;
    for (int i = 0; i < MAX_KIDS && !done; i++) {
      if (inits[i].pid == pid) {
        send_text('X', "%s %d", inits[i].token, code);
        inits[i].pid = 0;
        done = 1;
        mark("init");
      }
    }
    for (int i = 0; i < MAX_KIDS && !done; i++) {
      if (waiting[i] == pid) {
        waiting[i] = 0;
        report_wait(pid, code);
        done = 1;
        mark("wait");
      }
    }
    /* An orphan nobody asked about yet (a subreaper adopts them): keep its status for a later 'W'. */
    for (int i = 0; i < MAX_KIDS && !done; i++) {
      if (!reaped[i].pid) { reaped[i].pid = pid; reaped[i].status = code; done = 1; }
    }
  }
}

static void want_wait(pid_t pid) {
  for (int i = 0; i < MAX_KIDS; i++) {
    if (reaped[i].pid == pid) {
      reaped[i].pid = 0;
      report_wait(pid, reaped[i].status);
      return;
    }
  }
  siginfo_t si;
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
    report_wait(pid, 255); /* not our child: nothing will ever come */
    return;
  }
  for (int i = 0; i < MAX_KIDS; i++) if (!waiting[i]) { waiting[i] = pid; reap(); return; }
  report_wait(pid, 255);
}

/* ---- the request ---------------------------------------------------------------------------------- */
/* Whether the environment fits the request whole; a client with more runs the Node CLI, which has all of it. */
static int env_fits(void) {
  size_t len = 0;
  for (char **e = environ; *e; e++) if ((len += strlen(*e) + 1) > MAX_ENV) return 0;
  return 1;
}

static void send_request(int argc, char **argv) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) exec_node_cli();
  mode_t um = umask(0);
  umask(um);
  struct nulbuf nb = { 0 };
#define PUT(str) do { if (nulbuf_put(&nb, (str)) < 0) die("out of memory"); } while (0)
  char num[32];
  PUT("1");
  snprintf(num, sizeof num, "%d", (int)getpid()); PUT(num);
  PUT(cwd);
  snprintf(num, sizeof num, "%o", (unsigned)um); PUT(num);
  snprintf(num, sizeof num, "%d", argc - 1); PUT(num);
  for (int i = 1; i < argc; i++) PUT(argv[i]);
  /* The whole environment: hooks without env of their own run with it, as runc's do (env_fits). */
  for (char **e = environ; *e; e++) if (strchr(*e, '=') != NULL) PUT(*e);
#undef PUT
  if (nb.len > MAX_FRAME || send_frame(conn, 'Q', nb.b, nb.len) < 0) die("cannot send the request to the planner at %s: %s", sock_path, strerror(errno));
  free(nb.b);
}

/* One frame from the planner; returns -1 to go on, else the exit code. */
static int handle(char type, char *p, uint32_t len) {
  switch (type) {
    case 'O':
    case 'R': {
      int fd = type == 'O' ? 1 : 2;
      if (fd == 1 && stdout_broken) break;
      if (write_all(fd, p, len, 0) < 0 && fd == 1 && errno == EPIPE) stdout_broken = 1; /* as the Node CLI: a reader that left ends nothing */
      break;
    }
    case 'B':
      if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die("prctl PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
      break;
    case 'N': spawn_init(p, len); break;
    case 'W': {
      char t[32];
      snprintf(t, sizeof t, "%.*s", (int)(len < 31 ? len : 31), p);
      mark("start");
      want_wait((pid_t)atoi(t));
      break;
    }
    case 'K': {
      char t[16];
      snprintf(t, sizeof t, "%.*s", (int)(len < 15 ? len : 15), p);
      die_by_signal(atoi(t));
      break;
    }
    case 'F':
      close(conn);
      sigprocmask(SIG_SETMASK, &old_mask, NULL);
      exec_node_cli();
      break;
    case 'Z': {
      char t[16];
      snprintf(t, sizeof t, "%.*s", (int)(len < 15 ? len : 15), p);
      mark("finish");
      return atoi(t);
    }
    default:
      die("the planner sent an unknown message '%c'", type);
  }
  return -1;
}

int main(int argc, char **argv) {
  orig_argv = argv;
  timing_init(&tm);
  sock_path = getenv("BERTH_RUNTIME_PLANNER");
  if (sock_path && !strcmp(sock_path, "off")) exec_node_cli();
  if (!sock_path || !*sock_path) sock_path = DEFAULT_SOCKET;
  if (!env_fits()) exec_node_cli();
  conn = connect_planner();
  if (conn < 0) exec_node_cli();
  mark("connect");

  /* Signals arrive as data on a signalfd: relayed to the planner, or (SIGCHLD) reaped here. */
  sigset_t mask;
  sigemptyset(&mask);
  int relayed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
  for (size_t i = 0; i < sizeof relayed / sizeof relayed[0]; i++) sigaddset(&mask, relayed[i]);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  sigdelset(&mask, SIGPIPE);
  sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) die("signalfd: %s", strerror(errno));

  send_request(argc, argv);

  size_t cap = 65536, have = 0;
  /* One byte more than cap: a frame's payload is NUL-terminated in place while it is handled. */
  unsigned char *buf = malloc(cap + 1);
  if (!buf) die("out of memory");
  for (;;) {
    struct pollfd pf[2] = { { .fd = conn, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    if (pf[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if ((int)si.ssi_signo == SIGCHLD) reap();
        else send_text('S', "%d", (int)si.ssi_signo);
      }
    }
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (have == cap) {
        cap *= 2;
        buf = realloc(buf, cap + 1);
        if (!buf) die("out of memory");
      }
      ssize_t n = read(conn, buf + have, cap - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die("the planner at %s went away mid-request%s%s", sock_path, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
      have += (size_t)n;
      size_t off = 0;
      while (have - off >= 5) {
        uint32_t flen = buf[off] | (uint32_t)buf[off + 1] << 8 | (uint32_t)buf[off + 2] << 16 | (uint32_t)buf[off + 3] << 24;
        if (flen == 0 || flen > MAX_FRAME) die("the planner sent a malformed frame");
        if (have - off < 4 + (size_t)flen) {
          if (4 + (size_t)flen > cap) {
            cap = 4 + (size_t)flen;
            memmove(buf, buf + off, have - off);
            have -= off;
            off = 0;
            buf = realloc(buf, cap + 1);
            if (!buf) die("out of memory");
          }
          break;
        }
        unsigned char saved = buf[off + 4 + flen];
        buf[off + 4 + flen] = 0;
        int code = handle((char)buf[off + 4], (char *)buf + off + 5, flen - 1);
        buf[off + 4 + flen] = saved;
        off += 4 + flen;
        if (code >= 0) {
          timing_report();
          return code;
        }
      }
      memmove(buf, buf + off, have - off);
      have -= off;
    }
  }
}
