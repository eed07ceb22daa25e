/*
 * berth-pause: the process that holds a pod sandbox's namespaces open.
 *
 * It is pid 1 of the pod's pid namespace, so it must reap orphans that get reparented to it
 * (otherwise they stay zombies for the life of the pod), and since the kernel ignores signals
 * without a handler for a namespace's init, it installs explicit handlers so SIGINT/SIGTERM
 * end it cleanly. Nothing else: it sleeps in pause() between signals.
 *
 * `--parent-pid PID`: die with the process that started it (PR_SET_PDEATHSIG), for a parked process
 * that must not outlive its owner (engine/cgroup-prefetch.ts). PID is the owner's, so an owner that
 * died before the prctl took effect is noticed too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.1.0"
#endif

static void on_terminate(int sig)
{
	/* async-signal-safe exit; the pod is being torn down, nothing to flush */
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int install(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
	long parent = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
			printf("berth-pause %s\n", BERTH_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--parent-pid") && i + 1 < argc) {
			char *end;
			parent = strtol(argv[++i], &end, 10);
			if (*end || parent <= 0) {
				fprintf(stderr, "berth-pause: --parent-pid needs a pid, not %s\n", argv[i]);
				return 2;
			}
			continue;
		}
		fprintf(stderr, "berth-pause: unknown argument %s (usage: berth-pause [-v] [--parent-pid PID])\n", argv[i]);
		return 2;
	}
	if (parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
			fprintf(stderr, "berth-pause: prctl(PR_SET_PDEATHSIG): %s\n", strerror(errno));
			return 1;
		}
		if (getppid() != (pid_t)parent)
			return 0; /* the owner is already gone */
	}
	/* Outside a fresh pid namespace orphans would go to the real init; adopt them instead. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "berth-pause: warning: not pid 1 and cannot become a subreaper: %s\n", strerror(errno));
	if (install(SIGINT, on_terminate, 0) < 0 || install(SIGTERM, on_terminate, 0) < 0 ||
	    install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) < 0) {
		fprintf(stderr, "berth-pause: sigaction: %s\n", strerror(errno));
		return 1;
	}
	/* Children that died before the handler was installed. */
	on_child(SIGCHLD);
	for (;;)
		pause();
}
