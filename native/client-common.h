/* What the two thin clients (berth-client, berth-runtime-client) share: whole writes, the NUL-separated
   request they build, and dying of the signal that ended the process they stand for. Header-only, like
   timing.h: each program is one static binary (Makefile). */
#ifndef BERTH_CLIENT_COMMON_H
#define BERTH_CLIENT_COMMON_H
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* All of buf, or -1; `sock`: send() without SIGPIPE, else write(). */
static int write_all(int fd, const void *buf, size_t len, int sock) {
  const char *p = buf;
  while (len) {
    ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* A growing buffer of NUL-terminated strings: the requests' argv/env payload. */
struct nulbuf {
  char *b;
  size_t len, cap;
};

/* Appends str and its NUL; -1 when memory runs out (the buffer is then freed). */
static int nulbuf_put(struct nulbuf *nb, const char *str) {
  size_t l = strlen(str) + 1;
  while (nb->len + l > nb->cap) {
    size_t cap = nb->cap ? nb->cap * 2 : 4096;
    char *b = realloc(nb->b, cap);
    if (!b) {
      free(nb->b);
      nb->b = NULL;
      return -1;
    }
    nb->b = b;
    nb->cap = cap;
  }
  memcpy(nb->b + nb->len, str, l);
  nb->len += l;
  return 0;
}

static void timing_report(void); /* each client's own: its BERTH_TIMING line goes out first */

/* When the process a client stands for died of a signal, the client dies of the same one, so its caller
   (a shell, containerd, a test) sees what it would have seen had that process been its own child. */
static void die_by_signal(int sig) {
  timing_report();
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  raise(sig);
  exit(128 + sig);
}
#endif
