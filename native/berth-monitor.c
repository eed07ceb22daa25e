// berth-monitor: one small process per container (or per exec session), conmon's job.
//
// It detaches from whoever started it, becomes a child subreaper, runs
// `<runtime> create` (or `<runtime> exec -d`) with stdio it owns (pipes, or the pty master it
// receives on a console socket), reports the container pid (or the runtime's error text) on a
// sync fd, then stays for the container's lifetime: it writes output to a CRI-format log with
// size-based rotation, serves an attach socket (live output out, stdin in) and a control socket
// (resize, reopen log), reaps the container's init, writes exit.json atomically, optionally runs
// an exit command, and exits. It never runs `<runtime> start`: the caller does that after the
// pid is reported, so a start failure reaches the caller directly (see shim/README.md).
//
// `--standby --sync-fd N` (shim/monitor-standby.ts): a long-lived caller starts one ahead of need. It
// detaches and sets up as usual, then waits for ONE request on the sync fd (a socket): u32 little-endian
// length + the usual arguments, each NUL-terminated (no --sync-fd). From there it is an ordinary monitor,
// so a container start skips the caller's spawn and our exec and forks. EOF before a whole request (its
// owner closed it or died) ends it silently; errors from then on are reports on the sync fd.
//
// Single-threaded, poll() based, static; everything it opens is close-on-exec so nothing leaks
// into the runtime or the container, and the runtime gets default signal dispositions back.
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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define LINE_MAX_BYTES 16384 // a line longer than this is logged as P records of this size
#define READ_BYTES 32768
#define MAX_ATTACH 16
#define MAX_CTL 4
#define MAX_RUNTIME_ARGS 16
#define ERRBUF_BYTES 4096
#define STDIN_BUF_BYTES 65536
#define REQUEST_MAX_BYTES 65536 // a standby's request: far above any real argv, small enough to hold
#define REQUEST_MAX_ARGS 1024

enum { S_OUT = 0, S_ERR = 1 };
static const char *stream_name[2] = {"stdout", "stderr"};

static struct {
  const char *id, *bundle, *runtime, *dir, *log_path, *exec_process, *oom_file;
  const char *runtime_args[MAX_RUNTIME_ARGS];
  int n_runtime_args;
  long long log_max_size;
  int log_max_files;
  int tty, stdin_open, stdin_once, sync_fd, wait_attach;
  unsigned short tty_rows, tty_cols;
  char **exit_argv;
} opt = {.sync_fd = -1, .log_max_files = 1};

static int dirfd_ = -1, sigfd = -1;
static int out_fd[2] = {-1, -1};  // read ends: stdout, stderr (tty: [0] is the pty master)
static int in_fd = -1;             // container stdin write end (tty: the pty master)
static int master_fd = -1;         // tty only
static int errpipe_fd = -1;        // tty only: the runtime's own stderr
static int console_lfd = -1, attach_lfd = -1, ctl_lfd = -1;
static int attach_fd[MAX_ATTACH];
// The client half-closed (its stdin is over) but still reads output: stop polling it for input.
static char attach_eof[MAX_ATTACH];
static struct { int fd; size_t len; char buf[256]; } ctl[MAX_CTL];
static pid_t runtime_pid = -1, container_pid = -1;
static int runtime_done, container_done, container_status;
static struct { pid_t pid; int status; } early[16]; // children reaped before their pid was known
static int n_early;
static char errbuf[ERRBUF_BYTES];
static size_t errlen;
static char stdin_buf[STDIN_BUF_BYTES];
static size_t stdin_len;
static int stdin_close_pending;
static long long oom_baseline = -1;
static int log_fd = -1;
static long long log_size;
static char pending[2][LINE_MAX_BYTES];
static size_t pend_len[2];
static char path_buf[PATH_MAX];
static int standby; // --standby: after detaching, stderr is /dev/null; errors go to the sync fd

// ---- small helpers ---------------------------------------------------------------------------

static void sync_error(const char *prefix, const char *text, size_t n);

static void die_early(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (standby && opt.sync_fd >= 0) {
    char m[PATH_MAX + 256];
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    sync_error("berth-monitor: ", m, strlen(m));
    exit(125);
  }
  fputs("berth-monitor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(125);
}

static ssize_t write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  size_t left = len;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    left -= (size_t)w;
  }
  return (ssize_t)len;
}

static size_t json_escape(char *dst, size_t cap, const char *src, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 7 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '"' || c == '\\') { dst[o++] = '\\'; dst[o++] = (char)c; }
    else if (c == '\n') { dst[o++] = '\\'; dst[o++] = 'n'; }
    else if (c == '\t') { dst[o++] = '\\'; dst[o++] = 't'; }
    else if (c < 0x20) o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
    else dst[o++] = (char)c;
  }
  dst[o] = 0;
  return o;
}

// RFC 3339 with nanoseconds in UTC, the timestamp CRI log readers (kubelet) parse.
static size_t rfc3339nano(char *dst, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(dst, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(dst + n, cap - n, ".%09ldZ", ts.tv_nsec);
  return n;
}

// Write <dir>/<name> as temp (+ fsync when durable) + rename so readers see the old file or the whole
// new one. Not durable: what describes this live process (monitor.pid), which no OS crash leaves running.
static int write_file_atomic(const char *name, const char *data, size_t len, int durable) {
  char tmp[128];
  snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid());
  int fd = openat(dirfd_, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
    close(fd);
    unlinkat(dirfd_, tmp, 0);
    return -1;
  }
  close(fd);
  if (renameat(dirfd_, tmp, dirfd_, name) < 0) {
    unlinkat(dirfd_, tmp, 0);
    return -1;
  }
  return 0;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// ---- sync fd: one JSON line to the caller, then closed -------------------------------------------

static void sync_report(const char *json_line) {
  if (opt.sync_fd < 0) return;
  write_all(opt.sync_fd, json_line, strlen(json_line)); // the caller may be gone: ignore EPIPE
  close(opt.sync_fd);
  opt.sync_fd = -1;
}

static void sync_error(const char *prefix, const char *text, size_t n) {
  static char esc[ERRBUF_BYTES * 6 + 1], line[sizeof esc + 512];
  char p[256];
  json_escape(p, sizeof p, prefix, strlen(prefix));
  json_escape(esc, sizeof esc, text, n);
  snprintf(line, sizeof line, "{\"error\":\"%s%s\",\"monitorPid\":%d}\n", p, esc, (int)getpid());
  sync_report(line);
}

// ---- CRI log -------------------------------------------------------------------------------------

static int log_open(void) {
  log_fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return -1;
  struct stat st;
  log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
  return 0;
}

// log -> log.1 -> ... -> log.N (the oldest falls off), then a fresh log.
static void log_rotate(void) {
  char from[PATH_MAX], to[PATH_MAX];
  if (log_fd >= 0) close(log_fd);
  log_fd = -1;
  if (opt.log_max_files <= 0) {
    truncate(opt.log_path, 0);
  } else {
    for (int i = opt.log_max_files; i >= 2; i--) {
      snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
      snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
      rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", opt.log_path);
    rename(opt.log_path, to);
  }
  log_open();
}

static void log_record(int s, const char *data, size_t n, int partial) {
  static char rec[LINE_MAX_BYTES + 128];
  if (!opt.log_path) return;
  size_t o = rfc3339nano(rec, 64);
  o += (size_t)snprintf(rec + o, sizeof rec - o, " %s %c ", stream_name[s], partial ? 'P' : 'F');
  memcpy(rec + o, data, n);
  o += n;
  rec[o++] = '\n';
  if (opt.log_max_size > 0 && log_size > 0 && log_size + (long long)o > opt.log_max_size) log_rotate();
  if (log_fd < 0) return;
  // One write per record, so a reader never sees two records interleaved.
  if (write_all(log_fd, rec, o) == (ssize_t)o) log_size += (long long)o;
}

static void log_feed(int s, const char *p, size_t n) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    while (take) {
      size_t room = LINE_MAX_BYTES - pend_len[s];
      size_t c = take < room ? take : room;
      memcpy(pending[s] + pend_len[s], p, c);
      pend_len[s] += c; p += c; n -= c; take -= c;
      if (pend_len[s] == LINE_MAX_BYTES) {
        log_record(s, pending[s], pend_len[s], 1);
        pend_len[s] = 0;
      }
    }
    if (nl) {
      log_record(s, pending[s], pend_len[s], 0);
      pend_len[s] = 0;
      p++; n--;
    }
  }
}

static void log_flush_partial(void) {
  for (int s = 0; s < 2; s++)
    if (pend_len[s]) { log_record(s, pending[s], pend_len[s], 1); pend_len[s] = 0; }
}

// ---- attach clients --------------------------------------------------------------------------------

static void attach_add(int c) {
  int sndbuf = 1 << 20;
  // FORCE passes net.core.wmem_max (we are root); otherwise take what the host allows.
  if (setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  for (int i = 0; i < MAX_ATTACH; i++)
    if (attach_fd[i] < 0) { attach_fd[i] = c; attach_eof[i] = 0; return; }
  close(c);
}

static void attach_drop(int i) {
  close(attach_fd[i]);
  attach_fd[i] = -1;
  attach_eof[i] = 0;
}

// Without a tty, frames are Docker's multiplexed format: [stream(1=stdout,2=stderr),0,0,0,len BE32]
// + payload; with a tty the bytes go out raw. A client that cannot keep up is disconnected
// rather than letting it stall the log (the log is the record, attach is best effort).
static void attach_broadcast(int s, const char *p, size_t n) {
  unsigned char hdr[8] = {(unsigned char)(s + 1), 0, 0, 0,
                          (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_ATTACH; i++) {
    if (attach_fd[i] < 0) continue;
    struct iovec iov[2] = {{hdr, 8}, {(void *)p, n}};
    struct msghdr mh = {0};
    mh.msg_iov = opt.tty ? iov + 1 : iov;
    mh.msg_iovlen = opt.tty ? 1 : 2;
    size_t want = opt.tty ? n : n + 8;
    ssize_t w;
    do w = sendmsg(attach_fd[i], &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)want) attach_drop(i);
  }
}

static void output(int s, const char *p, size_t n) {
  log_feed(s, p, n);
  attach_broadcast(s, p, n);
}

// ---- container stdin ----------------------------------------------------------------------------

static void stdin_close(void) {
  if (in_fd < 0) return;
  if (opt.tty) {
    // The master is also the output side: send EOF (^D) to the line discipline instead.
    char eot = 4;
    write(in_fd, &eot, 1);
  } else {
    close(in_fd);
  }
  in_fd = -1;
  stdin_close_pending = 0;
}

static void stdin_flush(void) {
  while (stdin_len && in_fd >= 0) {
    ssize_t w = write(in_fd, stdin_buf, stdin_len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      stdin_len = 0; // the reader went away: drop what is left
      if (!opt.tty) { close(in_fd); in_fd = -1; }
      return;
    }
    memmove(stdin_buf, stdin_buf + w, stdin_len - (size_t)w);
    stdin_len -= (size_t)w;
  }
  if (!stdin_len && stdin_close_pending) stdin_close();
}

static void attach_read(int i) {
  ssize_t r;
  do r = read(attach_fd[i], stdin_buf + stdin_len, sizeof stdin_buf - stdin_len);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EAGAIN) return;
  if (r < 0 || (r == 0 && attach_eof[i])) {
    // An error, or EOF again on a socket that is now fully closed (POLLHUP): the client is gone.
    attach_drop(i);
    if (opt.stdin_once) { stdin_close_pending = 1; stdin_flush(); }
    return;
  }
  if (r == 0) {
    // Half-close: the client's input is over, but it keeps reading the output (docker run -i < file).
    // With StdinOnce the container's stdin ends with it.
    attach_eof[i] = 1;
    if (opt.stdin_once) { stdin_close_pending = 1; stdin_flush(); }
    return;
  }
  if (in_fd < 0) return; // no stdin for this container: discard
  stdin_len += (size_t)r;
  stdin_flush();
}

// ---- control socket: "resize ROWS COLS" | "reopen" -> "ok" | "error <text>" ------------------------

static int set_winsize(unsigned short rows, unsigned short cols) {
  if (master_fd < 0) { errno = ENOTTY; return -1; }
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  return ioctl(master_fd, TIOCSWINSZ, &ws);
}

static void ctl_handle(int i) {
  ssize_t r;
  do r = read(ctl[i].fd, ctl[i].buf + ctl[i].len, sizeof ctl[i].buf - 1 - ctl[i].len);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EAGAIN) return;
  if (r > 0) ctl[i].len += (size_t)r;
  ctl[i].buf[ctl[i].len] = 0;
  char *nl = strchr(ctl[i].buf, '\n');
  if (!nl && r > 0 && ctl[i].len < sizeof ctl[i].buf - 1) return; // wait for the rest of the line
  if (nl) *nl = 0;
  char reply[160];
  unsigned rows, cols;
  if (sscanf(ctl[i].buf, "resize %u %u", &rows, &cols) == 2 && rows <= 65535 && cols <= 65535) {
    if (set_winsize((unsigned short)rows, (unsigned short)cols) == 0) strcpy(reply, "ok\n");
    else snprintf(reply, sizeof reply, "error resize: %s\n", master_fd < 0 ? "container has no tty" : strerror(errno));
  } else if (strcmp(ctl[i].buf, "reopen") == 0) {
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
    if (log_open() == 0) strcpy(reply, "ok\n");
    else snprintf(reply, sizeof reply, "error reopen %s: %s\n", opt.log_path ? opt.log_path : "(no log)", strerror(errno));
  } else if (strcmp(ctl[i].buf, "close-stdin") == 0) {
    stdin_close_pending = 1;
    stdin_flush();
    strcpy(reply, "ok\n");
  } else {
    snprintf(reply, sizeof reply, "error unknown request (want: resize ROWS COLS | reopen | close-stdin)\n");
  }
  send(ctl[i].fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(ctl[i].fd);
  ctl[i].fd = -1;
  ctl[i].len = 0;
}

// ---- sockets in the container dir ------------------------------------------------------------------

// sun_path holds 108 bytes: bind through /proc/self/fd/<dirfd>/<name>, which is always short.
static int listen_in_dir(const char *name) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dirfd_, name);
  unlinkat(dirfd_, name, 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  mode_t old = umask(0177); // the socket is created 0600: only root may attach
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (r < 0 || listen(fd, 16) < 0) { close(fd); return -1; }
  return fd;
}

static int accept_client(int lfd) {
  int fd;
  do fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// The runtime connects to the console socket and sends the pty master with SCM_RIGHTS.
static int recv_console(int lfd) {
  int c = accept_client(lfd);
  if (c < 0) return -1;
  // The runtime may still be writing; the connection is ours alone, so block briefly for it.
  int fl = fcntl(c, F_GETFL);
  fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char data[256];
  union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * 4)]; } cbuf;
  struct iovec iov = {data, sizeof data};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof cbuf.b};
  ssize_t r;
  do r = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  close(c);
  if (r < 0) return -1;
  int got = -1;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    int n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *fds = (int *)CMSG_DATA(h);
    for (int k = 0; k < n; k++) {
      if (got < 0) got = fds[k];
      else close(fds[k]);
    }
  }
  if (got < 0) errno = EBADMSG;
  return got;
}

// ---- OOM ---------------------------------------------------------------------------------------------

// cgroup v2 memory.events and v1 memory.oom_control both carry an "oom_kill N" line.
static long long read_oom_kills(void) {
  if (!opt.oom_file) return -1;
  int fd = open(opt.oom_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, "oom_kill ", 9) == 0) return atoll(p + 9);
  return -1;
}

// ---- children ------------------------------------------------------------------------------------------

static void spawn_runtime(int child_in, int child_out, int child_err, const char *console_path) {
  const char *argv[MAX_RUNTIME_ARGS + 20];
  int a = 0;
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/container.pid", opt.dir);
  argv[a++] = opt.runtime;
  for (int i = 0; i < opt.n_runtime_args; i++) argv[a++] = opt.runtime_args[i];
  if (opt.exec_process) {
    argv[a++] = "exec";
    argv[a++] = "--detach";
    argv[a++] = "--process";
    argv[a++] = opt.exec_process;
  } else {
    argv[a++] = "create";
    argv[a++] = "--bundle";
    argv[a++] = opt.bundle;
  }
  argv[a++] = "--pid-file";
  argv[a++] = pidfile;
  if (console_path) {
    argv[a++] = "--console-socket";
    argv[a++] = console_path;
  }
  argv[a++] = opt.id;
  argv[a] = NULL;

  runtime_pid = fork();
  if (runtime_pid < 0) return;
  if (runtime_pid == 0) {
    // dup2 clears close-on-exec on 0..2 only: every other descriptor of ours stays behind.
    if (dup2(child_in, 0) < 0 || dup2(child_out, 1) < 0 || dup2(child_err, 2) < 0) _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (opt.bundle && chdir(opt.bundle) < 0) { /* the runtime reports a bad bundle itself */ }
    execv(opt.runtime, (char *const *)argv);
    dprintf(2, "exec %s: %s", opt.runtime, strerror(errno));
    _exit(127);
  }
}

static void run_exit_command(void) {
  if (!opt.exit_argv || !opt.exit_argv[0]) return;
  pid_t p = fork();
  if (p == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    execv(opt.exit_argv[0], opt.exit_argv);
    _exit(127);
  }
  if (p > 0) {
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
  }
}

// ---- reading output --------------------------------------------------------------------------------------

// Returns 0 on EOF/EIO (the fd is closed), 1 when more may come.
static int read_stream(int s) {
  static char buf[READ_BYTES];
  int fd = out_fd[s];
  ssize_t r;
  do r = read(fd, buf, sizeof buf);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EAGAIN) return 1;
  if (r <= 0) {
    if (fd != master_fd) close(fd);
    out_fd[s] = -1;
    return 0;
  }
  // Before the runtime has reported, stderr is the runtime's own voice: keep it for the error.
  if (s == S_ERR && !runtime_done) {
    size_t c = (size_t)r < sizeof errbuf - errlen ? (size_t)r : sizeof errbuf - errlen;
    memcpy(errbuf + errlen, buf, c);
    errlen += c;
    return 1;
  }
  output(s, buf, (size_t)r);
  return 1;
}

static void drain(int s) {
  if (out_fd[s] < 0) return;
  set_nonblock(out_fd[s]);
  for (int guard = 0; guard < 4096 && out_fd[s] >= 0; guard++) {
    int before = out_fd[s];
    if (!read_stream(s)) break;
    // read_stream returns 1 on EAGAIN too: stop when nothing is left right now.
    int avail = 0;
    if (out_fd[s] == before && ioctl(before, FIONREAD, &avail) == 0 && avail == 0) break;
  }
}

static void drain_errpipe(void) {
  if (errpipe_fd < 0) return;
  for (;;) {
    ssize_t r = read(errpipe_fd, errbuf + errlen, sizeof errbuf - errlen);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || errlen + (size_t)r >= sizeof errbuf) { if (r > 0) errlen += (size_t)r; break; }
    errlen += (size_t)r;
  }
}

// ---- lifecycle ----------------------------------------------------------------------------------------------

static int read_pid_file(void) {
  char buf[32];
  int fd = openat(dirfd_, "container.pid", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long v = strtol(buf, NULL, 10);
  return v > 0 && v < INT_MAX ? (int)v : -1;
}

static void write_exit_file(int status, const char *reason_override, const char *error_text) {
  char ts[64], json[ERRBUF_BYTES * 6 + 512];
  rfc3339nano(ts, sizeof ts);
  int code, sig = 0;
  const char *reason;
  if (WIFSIGNALED(status)) { sig = WTERMSIG(status); code = 128 + sig; reason = "signaled"; }
  else { code = WEXITSTATUS(status); reason = "exited"; }
  int oom = 0;
  long long kills = read_oom_kills();
  if (kills > 0 && kills > (oom_baseline < 0 ? 0 : oom_baseline)) { oom = 1; reason = "oom-killed"; }
  if (reason_override) reason = reason_override;
  size_t o = (size_t)snprintf(json, sizeof json, "{\"exitCode\":%d,\"signal\":", code);
  o += sig ? (size_t)snprintf(json + o, sizeof json - o, "%d", sig) : (size_t)snprintf(json + o, sizeof json - o, "null");
  o += (size_t)snprintf(json + o, sizeof json - o, ",\"exitedAt\":\"%s\",\"reason\":\"%s\",\"oomKilled\":%s,\"pid\":%d",
                        ts, reason, oom ? "true" : "false", (int)container_pid);
  if (error_text) {
    static char esc[ERRBUF_BYTES * 6 + 1];
    json_escape(esc, sizeof esc, error_text, strlen(error_text));
    o += (size_t)snprintf(json + o, sizeof json - o, ",\"error\":\"%s\"", esc);
  }
  o += (size_t)snprintf(json + o, sizeof json - o, "}\n");
  write_file_atomic("exit.json", json, o, 1);
}

static void finish(int code) {
  log_flush_partial();
  // Attached clients have every byte already: they hear the end first, and the log's fsync (for
  // `logs` after an OS crash) no longer delays whoever waits on that end (`berth run`, docker attach).
  for (int i = 0; i < MAX_ATTACH; i++) if (attach_fd[i] >= 0) attach_drop(i);
  unlinkat(dirfd_, "attach", 0);
  unlinkat(dirfd_, "ctl", 0);
  unlinkat(dirfd_, "console", 0);
  if (log_fd >= 0) fsync(log_fd);
  run_exit_command();
  exit(code);
}

static void create_failed(void) {
  drain(S_ERR);
  drain_errpipe();
  // Trim the runtime's trailing newline so the message reads as one line.
  while (errlen && (errbuf[errlen - 1] == '\n' || errbuf[errlen - 1] == '\r')) errlen--;
  errbuf[errlen < sizeof errbuf ? errlen : sizeof errbuf - 1] = 0;
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s %s failed: ", opt.runtime, opt.exec_process ? "exec" : "create");
  char full[ERRBUF_BYTES + 256];
  snprintf(full, sizeof full, "%s%s", prefix, errlen ? errbuf : "(no message)");
  // exit.json first: a caller that hears of the failure finds it recorded already.
  write_exit_file(125 << 8, "start-failed", full);
  sync_error(prefix, errlen ? errbuf : "(no message)", errlen ? strlen(errbuf) : 12);
  finish(1);
}

static void container_started(void) {
  char line[128];
  snprintf(line, sizeof line, "{\"pid\":%d,\"monitorPid\":%d}\n", (int)container_pid, (int)getpid());
  sync_report(line);
}

static void on_runtime_exit(int status) {
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    create_failed();
    return;
  }
  drain(S_ERR); // still collected into errbuf: runtime_done is not set yet
  drain_errpipe();
  if (opt.tty && master_fd < 0 && console_lfd >= 0) {
    master_fd = recv_console(console_lfd);
    if (master_fd < 0) {
      snprintf(errbuf, sizeof errbuf, "no pty master received on the console socket (%s)", strerror(errno));
      errlen = strlen(errbuf);
      create_failed();
      return;
    }
  }
  container_pid = read_pid_file();
  if (container_pid <= 0) {
    snprintf(errbuf, sizeof errbuf, "the runtime succeeded but wrote no pid to %s/container.pid", opt.dir);
    errlen = strlen(errbuf);
    create_failed();
    return;
  }
  runtime_done = 1;
  // Warnings the runtime printed on the container's stderr pipe belong in the log, not lost.
  if (errlen && errpipe_fd < 0) output(S_ERR, errbuf, errlen);
  errlen = 0;
  oom_baseline = read_oom_kills();
  for (int i = 0; i < n_early; i++)
    if (early[i].pid == container_pid) { container_done = 1; container_status = early[i].status; }
  container_started();
}

static void setup_tty(void) {
  set_nonblock(master_fd);
  out_fd[S_OUT] = master_fd;
  if (opt.stdin_open) in_fd = master_fd;
  if (opt.tty_rows && opt.tty_cols) set_winsize(opt.tty_rows, opt.tty_cols);
  close(console_lfd);
  console_lfd = -1;
  unlinkat(dirfd_, "console", 0);
}

static void reap(void) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p <= 0) return;
    if (p == runtime_pid) {
      on_runtime_exit(st);
      if (master_fd >= 0 && out_fd[S_OUT] < 0 && console_lfd >= 0) setup_tty();
    } else if (container_pid > 0 && p == container_pid) {
      container_done = 1;
      container_status = st;
    } else if (container_pid <= 0 && n_early < (int)(sizeof early / sizeof early[0])) {
      early[n_early].pid = p;
      early[n_early].status = st;
      n_early++;
    }
  }
}

static void container_exited(void) {
  // The init is gone; whatever it (or its pid namespace) wrote is in the pipe already.
  drain(S_OUT);
  drain(S_ERR);
  log_flush_partial();
  if (stdin_len) stdin_flush();
  if (in_fd >= 0 && in_fd != master_fd) close(in_fd);
  in_fd = -1;
  write_exit_file(container_status, NULL, NULL);
  finish(0);
}

// ---- arguments ----------------------------------------------------------------------------------------------

static void usage(void) {
  if (standby) die_early("a request needs --id, --runtime and --dir");
  fputs("usage: berth-monitor --id ID --runtime PATH --dir DIR --sync-fd N (--bundle DIR | --exec PROCESS.json)\n"
        "       berth-monitor --standby --sync-fd N   (then one request on the sync fd: see the top of berth-monitor.c)\n"
        "         [--runtime-arg ARG]... [--log PATH [--log-max-size BYTES] [--log-max-files N]]\n"
        "         [--tty [--tty-size ROWSxCOLS]] [--stdin [--stdin-once]] [--wait-attach] [--oom-file PATH]\n"
        "         [--exit-command PATH ARG...]\n", stderr);
  exit(125);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define VAL() (i + 1 < argc ? argv[++i] : (die_early("%s needs a value", a), (char *)NULL))
    if (!strcmp(a, "--id")) opt.id = VAL();
    else if (!strcmp(a, "--bundle")) opt.bundle = VAL();
    else if (!strcmp(a, "--exec")) opt.exec_process = VAL();
    else if (!strcmp(a, "--runtime")) opt.runtime = VAL();
    else if (!strcmp(a, "--runtime-arg")) {
      if (opt.n_runtime_args >= MAX_RUNTIME_ARGS) die_early("too many --runtime-arg (max %d)", MAX_RUNTIME_ARGS);
      opt.runtime_args[opt.n_runtime_args++] = VAL();
    } else if (!strcmp(a, "--dir")) opt.dir = VAL();
    else if (!strcmp(a, "--log")) opt.log_path = VAL();
    else if (!strcmp(a, "--log-max-size")) opt.log_max_size = atoll(VAL());
    else if (!strcmp(a, "--log-max-files")) opt.log_max_files = atoi(VAL());
    else if (!strcmp(a, "--tty")) opt.tty = 1;
    else if (!strcmp(a, "--tty-size")) {
      unsigned r, c;
      const char *v = VAL();
      if (sscanf(v, "%ux%u", &r, &c) != 2 || r > 65535 || c > 65535) die_early("--tty-size wants ROWSxCOLS, got %s", v);
      opt.tty_rows = (unsigned short)r;
      opt.tty_cols = (unsigned short)c;
    } else if (!strcmp(a, "--stdin")) opt.stdin_open = 1;
    else if (!strcmp(a, "--stdin-once")) opt.stdin_once = 1;
    else if (!strcmp(a, "--wait-attach")) opt.wait_attach = 1;
    else if (!strcmp(a, "--sync-fd")) {
      if (standby) die_early("--sync-fd is not allowed in a standby request");
      opt.sync_fd = atoi(VAL());
    }
    else if (!strcmp(a, "--oom-file")) opt.oom_file = VAL();
    else if (!strcmp(a, "--exit-command")) { opt.exit_argv = argv + i + 1; break; }
    else if (!strcmp(a, "--help")) usage();
    else die_early("unknown argument %s", a);
#undef VAL
  }
  if (!opt.id || !opt.runtime || !opt.dir) usage();
  if (!opt.bundle == !opt.exec_process) die_early("give exactly one of --bundle (create) or --exec (exec session)");
  // The runtime runs in the bundle dir and the monitor in /: relative paths would mean different files.
  const char *abs_check[][2] = {{"--runtime", opt.runtime}, {"--dir", opt.dir}, {"--bundle", opt.bundle},
                                {"--exec", opt.exec_process}, {"--log", opt.log_path}, {"--oom-file", opt.oom_file}};
  for (size_t i = 0; i < sizeof abs_check / sizeof abs_check[0]; i++)
    if (abs_check[i][1] && abs_check[i][1][0] != '/') die_early("%s must be an absolute path, got %s", abs_check[i][0], abs_check[i][1]);
  if (opt.sync_fd < 3 || fcntl(opt.sync_fd, F_GETFD) < 0) die_early("--sync-fd %d is not an open descriptor above 2", opt.sync_fd);
  if (opt.log_max_size < 0 || opt.log_max_files < 0) die_early("--log-max-size and --log-max-files must not be negative");
  if (opt.exit_argv && (!opt.exit_argv[0] || opt.exit_argv[0][0] != '/')) die_early("--exit-command needs an absolute program path");
}

// ---- standby ------------------------------------------------------------------------------------------------

static void parse_standby_args(int argc, char **argv) {
  if (argc != 4 || strcmp(argv[2], "--sync-fd")) die_early("usage: berth-monitor --standby --sync-fd N");
  opt.sync_fd = atoi(argv[3]);
  if (opt.sync_fd < 3 || fcntl(opt.sync_fd, F_GETFD) < 0) die_early("--sync-fd %s is not an open descriptor above 2", argv[3]);
}

// Reads exactly n bytes; 0 on EOF or an error first.
static int read_full(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

// One request, then the arguments parsed as if given on the command line. An owner that went away
// before sending one leaves nothing behind: no dir was opened, no file written.
static void read_standby_request(void) {
  static char body[REQUEST_MAX_BYTES + 1];
  static char *args[REQUEST_MAX_ARGS + 2];
  unsigned char len_le[4];
  if (!read_full(opt.sync_fd, len_le, sizeof len_le)) exit(0);
  uint32_t len = (uint32_t)len_le[0] | (uint32_t)len_le[1] << 8 | (uint32_t)len_le[2] << 16 | (uint32_t)len_le[3] << 24;
  if (len == 0 || len > REQUEST_MAX_BYTES) die_early("a standby request of %u bytes (want 1..%d)", len, REQUEST_MAX_BYTES);
  if (!read_full(opt.sync_fd, body, len)) exit(0);
  if (body[len - 1] != 0) die_early("a standby request must end with a NUL");
  int n = 0;
  args[n++] = "berth-monitor";
  for (size_t o = 0; o < len; o += strlen(body + o) + 1) {
    if (n > REQUEST_MAX_ARGS) die_early("a standby request of more than %d arguments", REQUEST_MAX_ARGS);
    args[n++] = body + o;
  }
  args[n] = NULL;
  parse_args(n, args);
}

static void open_dir(void) {
  dirfd_ = open(opt.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd_ < 0) die_early("open %s: %s", opt.dir, strerror(errno));
}

// ---- main ---------------------------------------------------------------------------------------------------

int main(int argc, char **argv) {
  int standing_by = argc > 1 && !strcmp(argv[1], "--standby");
  if (standing_by) parse_standby_args(argc, argv);
  else parse_args(argc, argv);
  // Whatever the caller left open without close-on-exec (a daemon's sockets, a CLI's tty) is not
  // ours to hold for the container's lifetime: keep only stdio (until detached) and the sync fd.
  if (opt.sync_fd > 3) syscall(SYS_close_range, 3, (unsigned)opt.sync_fd - 1, 0);
  syscall(SYS_close_range, (unsigned)opt.sync_fd + 1, ~0U, 0);
  if (!standing_by) open_dir();

  // Detach: the caller (a CLI or daemon) may exit or be killed at any time after this.
  pid_t p = fork();
  if (p < 0) die_early("fork: %s", strerror(errno));
  if (p > 0) {
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
  }
  if (setsid() < 0) _exit(125);
  p = fork();
  if (p < 0) _exit(125);
  if (p > 0) _exit(0);

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2); }
  chdir("/");
  // Anything the caller leaked to us (besides the sync fd, which is ours) must not reach the runtime.
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  for (int i = 0; i < MAX_ATTACH; i++) attach_fd[i] = -1;
  for (int i = 0; i < MAX_CTL; i++) ctl[i].fd = -1;

  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) { sync_error("PR_SET_CHILD_SUBREAPER: ", strerror(errno), strlen(strerror(errno))); return 1; }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) { sync_error("signalfd: ", strerror(errno), strlen(strerror(errno))); return 1; }
  if (standing_by) {
    standby = 1;
    read_standby_request();
    open_dir();
  }

  {
    char pidtxt[32];
    int n = snprintf(pidtxt, sizeof pidtxt, "%d\n", (int)getpid());
    if (write_file_atomic("monitor.pid", pidtxt, (size_t)n, 0) < 0) {
      sync_error("writing monitor.pid: ", strerror(errno), strlen(strerror(errno)));
      return 1;
    }
  }
  unlinkat(dirfd_, "exit.json", 0);
  unlinkat(dirfd_, "container.pid", 0);
  if (opt.log_path && log_open() < 0) {
    char m[PATH_MAX + 64];
    snprintf(m, sizeof m, "%s: %s", opt.log_path, strerror(errno));
    sync_error("opening the log ", m, strlen(m));
    return 1;
  }
  attach_lfd = listen_in_dir("attach");
  ctl_lfd = listen_in_dir("ctl");
  if (attach_lfd < 0 || ctl_lfd < 0) { sync_error("binding attach/ctl sockets: ", strerror(errno), strlen(strerror(errno))); return 1; }

  if (opt.wait_attach) {
    // An exec session's first output must not race its client: hold the runtime until it attaches.
    struct pollfd w = {attach_lfd, POLLIN, 0};
    int r;
    do r = poll(&w, 1, 30000);
    while (r < 0 && errno == EINTR);
    int c = r > 0 ? accept_client(attach_lfd) : -1;
    if (c < 0) { sync_error("--wait-attach: ", "no client attached within 30 s", 30); return 1; }
    attach_add(c);
  }

  int child_in, child_out, child_err;
  const char *console_path = NULL;
  int pin[2] = {-1, -1}, pout[2], perr[2];
  if (opt.tty) {
    console_lfd = listen_in_dir("console");
    if (console_lfd < 0 || pipe2(perr, O_CLOEXEC) < 0) { sync_error("console socket: ", strerror(errno), strlen(strerror(errno))); return 1; }
    // The runtime opens this path itself: use the real path when it fits, else our /proc/<pid>/fd.
    if (strlen(opt.dir) + sizeof "/console" <= sizeof ((struct sockaddr_un *)0)->sun_path)
      snprintf(path_buf, sizeof path_buf, "%s/console", opt.dir);
    else
      snprintf(path_buf, sizeof path_buf, "/proc/%d/fd/%d/console", (int)getpid(), dirfd_);
    console_path = path_buf;
    child_in = devnull;
    child_out = devnull;
    child_err = perr[1];
    errpipe_fd = perr[0];
  } else {
    if (opt.stdin_open && pipe2(pin, O_CLOEXEC) < 0) { sync_error("pipe: ", strerror(errno), strlen(strerror(errno))); return 1; }
    if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) { sync_error("pipe: ", strerror(errno), strlen(strerror(errno))); return 1; }
    child_in = opt.stdin_open ? pin[0] : devnull;
    child_out = pout[1];
    child_err = perr[1];
    out_fd[S_OUT] = pout[0];
    out_fd[S_ERR] = perr[0];
    in_fd = opt.stdin_open ? pin[1] : -1;
    set_nonblock(pout[0]);
    set_nonblock(perr[0]);
    if (in_fd >= 0) set_nonblock(in_fd);
  }
  spawn_runtime(child_in, child_out, child_err, console_path);
  if (runtime_pid < 0) { sync_error("fork: ", strerror(errno), strlen(strerror(errno))); return 1; }
  if (devnull > 2) close(devnull);
  // Only the container may hold the write ends, so EOF means it (and its children) are done.
  if (pin[0] >= 0) close(pin[0]);
  if (!opt.tty) { close(pout[1]); }
  close(perr[1]);
  if (errpipe_fd >= 0) set_nonblock(errpipe_fd);

  for (;;) {
    if (container_done) container_exited();
    struct pollfd pf[8 + MAX_ATTACH + MAX_CTL];
    int n = 0, i_sig, i_out = -1, i_err = -1, i_in = -1, i_att, i_ctl, i_con = -1, i_errp = -1, i_cl = -1, i_cc = -1;
    pf[i_sig = n++] = (struct pollfd){sigfd, POLLIN, 0};
    if (out_fd[S_OUT] >= 0) pf[i_out = n++] = (struct pollfd){out_fd[S_OUT], POLLIN, 0};
    if (out_fd[S_ERR] >= 0) pf[i_err = n++] = (struct pollfd){out_fd[S_ERR], POLLIN, 0};
    if (stdin_len && in_fd >= 0) pf[i_in = n++] = (struct pollfd){in_fd, POLLOUT, 0};
    pf[i_att = n++] = (struct pollfd){attach_lfd, POLLIN, 0};
    pf[i_ctl = n++] = (struct pollfd){ctl_lfd, POLLIN, 0};
    if (console_lfd >= 0 && master_fd < 0) pf[i_con = n++] = (struct pollfd){console_lfd, POLLIN, 0};
    if (errpipe_fd >= 0) pf[i_errp = n++] = (struct pollfd){errpipe_fd, POLLIN, 0};
    // owner[k]: which attach (0..) or ctl (MAX_ATTACH..) slot pf[k] belongs to.
    int owner[8 + MAX_ATTACH + MAX_CTL];
    i_cl = n;
    // While stdin is backed up, stop reading clients: the container sets the pace.
    for (int i = 0; i < MAX_ATTACH; i++)
      if (attach_fd[i] >= 0) { owner[n] = i; pf[n++] = (struct pollfd){attach_fd[i], (short)(stdin_len || attach_eof[i] ? 0 : POLLIN), 0}; }
    i_cc = n;
    for (int i = 0; i < MAX_CTL; i++)
      if (ctl[i].fd >= 0) { owner[n] = MAX_ATTACH + i; pf[n++] = (struct pollfd){ctl[i].fd, POLLIN, 0}; }

    int r = poll(pf, (nfds_t)n, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      sync_error("poll: ", strerror(errno), strlen(strerror(errno)));
      return 1;
    }
    // Accept before reading output: a client (`berth run`) connects, then starts the container, so its
    // connection is queued before any output exists; read first, that output would miss the client.
    if (pf[i_att].revents) {
      int c = accept_client(attach_lfd);
      if (c >= 0) attach_add(c);
    }
    if (i_out >= 0 && pf[i_out].revents) read_stream(S_OUT);
    if (i_err >= 0 && pf[i_err].revents) read_stream(S_ERR);
    if (i_errp >= 0 && pf[i_errp].revents) {
      char tmp[512];
      ssize_t rr = read(errpipe_fd, tmp, sizeof tmp);
      if (rr > 0) {
        size_t c = (size_t)rr < sizeof errbuf - errlen ? (size_t)rr : sizeof errbuf - errlen;
        memcpy(errbuf + errlen, tmp, c);
        errlen += c;
      } else if (rr == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(errpipe_fd);
        errpipe_fd = -1;
      }
    }
    if (i_con >= 0 && pf[i_con].revents) {
      master_fd = recv_console(console_lfd);
      if (master_fd >= 0) setup_tty();
    }
    if (i_in >= 0 && pf[i_in].revents) stdin_flush();
    if (pf[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {}
      reap();
    }
    if (pf[i_ctl].revents) {
      int c = accept_client(ctl_lfd);
      if (c >= 0) {
        int slot = -1;
        for (int i = 0; i < MAX_CTL; i++) if (ctl[i].fd < 0) { slot = i; break; }
        if (slot < 0) close(c);
        else { ctl[slot].fd = c; ctl[slot].len = 0; }
      }
    }
    // A client dropped earlier in this round (slow reader) no longer matches its pollfd: skip it.
    for (int k = i_cl; k < i_cc; k++) {
      if (!pf[k].revents || attach_fd[owner[k]] != pf[k].fd) continue;
      if (stdin_len < sizeof stdin_buf) attach_read(owner[k]);
      else if (pf[k].revents & (POLLHUP | POLLERR)) {
        // Gone while stdin is backed up: drop it now, or POLLHUP would spin this loop.
        attach_drop(owner[k]);
        if (opt.stdin_once) stdin_close_pending = 1;
      }
    }
    for (int k = i_cc; k < n; k++)
      if (pf[k].revents && ctl[owner[k] - MAX_ATTACH].fd == pf[k].fd) ctl_handle(owner[k] - MAX_ATTACH);
  }
}
