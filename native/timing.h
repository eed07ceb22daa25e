/* BERTH_TIMING: where a berth C program's time goes, as " name=ms" pairs (time since the previous mark)
   collected in one line that the program prints or sends when it is done. Header-only: each program is
   one static binary (Makefile). */
#ifndef BERTH_TIMING_H
#define BERTH_TIMING_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct timing {
  int on;
  double start, prev;
  size_t len;
  char line[1024];
};

static inline double timing_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* On when BERTH_TIMING is set and not empty; starts the clock. */
static inline void timing_init(struct timing *t) {
  const char *e = getenv("BERTH_TIMING");
  t->on = e && *e;
  t->start = t->prev = timing_now_ms();
  t->len = 0;
  t->line[0] = 0;
}

static inline void timing_mark(struct timing *t, const char *name) {
  if (!t->on || t->len >= sizeof t->line - 64) return;
  double now = timing_now_ms();
  t->len += (size_t)snprintf(t->line + t->len, sizeof t->line - t->len, " %s=%.2f", name, now - t->prev);
  t->prev = now;
}

#endif
