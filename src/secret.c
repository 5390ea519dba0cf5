/* secret: passwords held apart from ordinary memory, out of core dumps.
 *
 * A heap copy of a password ends up in every core dump (systemd-coredump
 * keeps them on disk, readable by root and often shipped in bug reports),
 * and a freed heap block keeps its bytes until reused.  So each secret
 * gets an anonymous mapping of its own, rounded up to whole pages, which
 *  - madvise(MADV_DONTDUMP) leaves out of core dumps;
 *  - mlock keeps out of swap, when RLIMIT_MEMLOCK allows (best effort: a
 *    daemon without CAP_IPC_LOCK over its limit still runs, just unlocked);
 *  - secret_free wipes with explicit_bzero, which the compiler may not drop,
 *    before the pages go back to the kernel.
 * A page per secret costs 4 KiB per shard with a password; shards are few.
 *
 * What this does not cover: copies that other code makes while using the
 * secret (the kernel's socket buffers; conn.c and sconn.c wipe the AUTH
 * command they format once it is written).  gcs-flushd(8) says so. */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"

struct secret {
	size_t maplen;		/* the whole mapping, this header included */
	size_t len;
	char data[];		/* len bytes and a NUL */
};

struct secret *secret_new(const char *s, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t maplen = (sizeof(struct secret) + len + 1 + page - 1) / page * page;
	struct secret *sec;

	sec = xmmap(maplen);
	/* Before the copy, so the bytes are never in a dumpable page.  Both
	 * calls are best effort (see above); neither failure is fatal. */
	(void)madvise(sec, maplen, MADV_DONTDUMP);
	(void)mlock(sec, maplen);
	sec->maplen = maplen;
	sec->len = len;
	memcpy(sec->data, s, len);
	sec->data[len] = '\0';
	return sec;
}

const char *secret_str(const struct secret *s)
{
	return s->data;
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

void secret_free(struct secret *s)
{
	size_t maplen;

	if (s == NULL)
		return;
	maplen = s->maplen;
	secret_wipe(s, maplen);
	(void)munlock(s, maplen);
	munmap(s, maplen);
}

void secret_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}
