/* ledger_log: the ledger's persisted log.
 *
 * Format (little-endian): the 8-byte magic "GCSLEDG1", then records
 *   type (1 byte: 'A' add, 'D' delete) | created (u32) | length (u32) | key.
 * Replaying the records in order rebuilds the list.  A crash can leave a
 * torn last record; it is cut off at the next open.  Losing the tail only
 * loses recent events, which the reconciliation after a start finds again.
 *
 * This file owns the file: its magic, records, replay, torn-tail cut and
 * rewrite.  It must not touch the ledger's list or index; records go to
 * and come from the ledger through callbacks (ledger_log.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "le.h"
#include "ledger_log.h"
#include "util.h"

#define LOG_MAGIC "GCSLEDG1"
#define LOG_MAGIC_LEN 8
#define LOG_HDR_LEN 9
#define LOG_COMPACT_MIN 100000		/* records before compaction is considered */
#define LOG_KEY_MAX (512u << 20)	/* Redis's own limit on a key */

struct ledger_log {
	FILE *f;
	char *path;
	size_t records;			/* in the file, replayed ones included */
};

/* A record of a key up to this long is written with one fwrite: each
 * fwrite costs about 200 instructions in glibc, as much as the rest of a
 * ledger_add, and most keys are short. */
#define LOG_REC_INLINE 256

static void write_record(FILE *f, char type, uint32_t created, const char *data, size_t len)
{
	unsigned char rec[LOG_REC_INLINE];

	rec[0] = (unsigned char)type;
	le_put32(rec + 1, created);
	le_put32(rec + 5, (uint32_t)len);
	if (len <= sizeof(rec) - LOG_HDR_LEN) {
		memcpy(rec + LOG_HDR_LEN, data, len);
		fwrite(rec, 1, LOG_HDR_LEN + len, f);
		return;
	}
	fwrite(rec, 1, LOG_HDR_LEN, f);
	fwrite(data, 1, len, f);
}

void ledger_log_add(struct ledger_log *g, uint32_t created, const char *key, size_t klen)
{
	write_record(g->f, 'A', created, key, klen);
	g->records++;
}

void ledger_log_del(struct ledger_log *g, const char *key, size_t klen)
{
	write_record(g->f, 'D', 0, key, klen);
	g->records++;
}

/* Replays the log; returns the offset just past the last whole record. */
static long replay(struct ledger_log *g, ledger_log_replay_fn *fn, void *arg)
{
	unsigned char hdr[LOG_HDR_LEN];
	size_t cap = 64;
	char *data = xmalloc(cap);	/* never NULL: an empty key is a real key */
	long good = LOG_MAGIC_LEN, size;
	struct stat st;

	size = fstat(fileno(g->f), &st) == 0 ? (long)st.st_size : LONG_MAX;
	while (fread(hdr, 1, sizeof(hdr), g->f) == sizeof(hdr)) {
		uint32_t created = le_get32(hdr + 1), len = le_get32(hdr + 5);

		/* A length past the end of the file is a torn or garbled tail:
		 * do not allocate for it. */
		if (len > LOG_KEY_MAX || (long)len > size - ftell(g->f))
			break;
		if (hdr[0] != 'A' && hdr[0] != 'D')
			break;	/* garbage: treat as a torn tail */
		if (len > cap) {
			cap = len;
			data = xrealloc(data, cap);
		}
		if (fread(data, 1, len, g->f) != len)
			break;
		fn(arg, hdr[0] == 'A', created, data, len);
		g->records++;
		good = ftell(g->f);
	}
	free(data);
	return good;
}

/* Checks the magic, or writes it into a new or empty file.  -1 with *err. */
static int check_magic(FILE *f, const char *path, char **err)
{
	char magic[LOG_MAGIC_LEN];

	if (fread(magic, 1, sizeof(magic), f) != sizeof(magic)) {
		/* New or empty: write the magic. */
		rewind(f);
		if (fwrite(LOG_MAGIC, 1, LOG_MAGIC_LEN, f) != LOG_MAGIC_LEN || ftruncate(fileno(f), LOG_MAGIC_LEN) < 0) {
			*err = xasprintf("%s: %s", path, strerror(errno));
			return -1;
		}
	} else if (memcmp(magic, LOG_MAGIC, LOG_MAGIC_LEN) != 0) {
		*err = xasprintf("%s: not a gcs-flushd ledger", path);
		return -1;
	}
	return 0;
}

struct ledger_log *ledger_log_open(const char *path, ledger_log_replay_fn *fn, void *arg, long *cut, char **err)
{
	struct ledger_log *g;
	FILE *f = fopen(path, "r+b");
	long good, end;

	if (f == NULL && errno == ENOENT)
		f = fopen(path, "w+b");
	if (f == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (check_magic(f, path, err) < 0) {
		fclose(f);
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->f = f;
	good = replay(g, fn, arg);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	if (end > good && ftruncate(fileno(f), good) < 0) {
		*err = xasprintf("%s: cannot cut the torn tail: %s", path, strerror(errno));
		ledger_log_close(g);
		return NULL;
	}
	fseek(f, good, SEEK_SET);
	g->path = xstrdup(path);
	*cut = end > good ? end - good : 0;
	return g;
}

void ledger_log_close(struct ledger_log *g)
{
	if (g == NULL)
		return;
	fclose(g->f);
	free(g->path);
	free(g);
}

int ledger_log_flush(struct ledger_log *g, char **err)
{
	if (fflush(g->f) != 0) {
		*err = xasprintf("%s: %s", g->path, strerror(errno));
		clearerr(g->f);
		return -1;
	}
	return 0;
}

bool ledger_log_bloated(const struct ledger_log *g, size_t live)
{
	return g->records > LOG_COMPACT_MIN && g->records > 2 * live;
}

int ledger_log_rewrite(struct ledger_log *g, ledger_log_next_fn *next, void *arg, char **err)
{
	char *tmp = xasprintf("%s.tmp", g->path);
	FILE *f = fopen(tmp, "wb");
	size_t records = 0;
	uint32_t created;
	const char *key;
	size_t klen;

	if (f == NULL) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	fwrite(LOG_MAGIC, 1, LOG_MAGIC_LEN, f);
	while (next(arg, &created, &key, &klen)) {
		write_record(f, 'A', created, key, klen);
		records++;
	}
	if (fflush(f) != 0 || ferror(f) || rename(tmp, g->path) < 0) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	fclose(g->f);
	g->f = f;
	g->records = records;
	return 0;
}
