/* slowsync: an LD_PRELOAD shim for tests/slowdisk.bats, a slow disk on
 * demand.  fdatasync() and fsync() of a file whose path contains
 * $GCS_SLOW_SYNC_MATCH first sleep $GCS_SLOW_SYNC_MS milliseconds (default
 * 20), as on a busy disk, and then sync for real; each slowed call appends
 * a byte to $GCS_SLOW_SYNC_COUNT (when set), so that a test can tell the
 * shim was there.  Without GCS_SLOW_SYNC_MATCH it changes nothing.
 *
 * It sleeps on whichever thread calls: a daemon that syncs on its loop
 * stalls with it, one that syncs on a worker thread does not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int sync_fn(int);

static void maybe_slow(int fd)
{
	const char *match = getenv("GCS_SLOW_SYNC_MATCH"), *ms = getenv("GCS_SLOW_SYNC_MS");
	const char *count = getenv("GCS_SLOW_SYNC_COUNT");
	char link[64], path[PATH_MAX];
	struct timespec ts;
	long d = ms != NULL ? atol(ms) : 20;
	ssize_t n;
	int cfd;

	if (match == NULL || *match == '\0')
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return;
	path[n] = '\0';
	if (strstr(path, match) == NULL)
		return;
	ts.tv_sec = d / 1000;
	ts.tv_nsec = (d % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0)
		;
	if (count != NULL && (cfd = open(count, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		(void)!write(cfd, ".", 1);
		close(cfd);
	}
}

int fdatasync(int fd)
{
	static sync_fn *real;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	maybe_slow(fd);
	return real(fd);
}

int fsync(int fd)
{
	static sync_fn *real;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	maybe_slow(fd);
	return real(fd);
}
