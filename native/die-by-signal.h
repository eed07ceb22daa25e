/* For the thin clients (berth-client, berth-runtime-client): when the process they stand for died of a
   signal, the client dies of the same signal, so its caller (a shell, containerd, a test) sees what it
   would have seen had that process been its own child. Header-only, like timing.h. */
#ifndef BERTH_DIE_BY_SIGNAL_H
#define BERTH_DIE_BY_SIGNAL_H
#include <signal.h>
#include <stdlib.h>

static void timing_report(void); /* each client's own: its BERTH_TIMING line goes out first */

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
