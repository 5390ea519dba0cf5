/* ledger_log: the ledger's persisted log.
 *
 * Format (little-endian): the 8-byte magic "GCSLEDG1", then records
 *   type (1 byte: 'A' add, 'D' delete) | created (u32) | length (u32) | key.
 * Replaying the records in order rebuilds the list.  A crash can leave a
 * torn last record; it is cut off at the next open.  Losing the tail only
 * loses recent events, which the reconciliation after a start finds again.
 *
 * Writing.  Records are encoded into a buffer in memory; the file work is
 * handed out as jobs (ledger_log_job_take), which the caller runs on any
 * thread, one at a time and in order, and gives back on its own.  A job
 * appends the buffered records and, when asked, fdatasyncs them.  The
 * owner asks once a second, so a power failure takes at most about a
 * second of events from the log (which the reconciliation after the start
 * finds again, in estimated order) rather than the kernel's writeback
 * delay (30 s by default); the sync costs the loop nothing, as it runs on
 * the store's worker.  A write that fails is cut back, so that a torn
 * record never sits in the middle of the log.
 *
 * Rewriting (compaction).  The owner feeds the live entries in order
 * (rewrite_put) while records go on being appended: they go to the current
 * file and, from the rewrite's start, also to a tail kept for the new one.
 * Jobs write the entries to NAME.tmp as they come; the last one appends
 * the tail, fdatasyncs, renames NAME.tmp over NAME and syncs the
 * directory: without those syncs a power failure just after a rewrite
 * could leave an empty ledger on a file system that does not order a
 * rename after the data (XFS, btrfs).  Replaying the entries and then the
 * tail gives the live entries of the end of the rewrite (ledger.c says why
 * its walk makes that true).  A rewrite that fails leaves the current file
 * as it was, complete.
 *
 * This file owns the file: its magic, records, replay, torn-tail cut and
 * rewrite.  It must not touch the ledger's list or index; records go to
 * and come from the ledger through callbacks and calls (ledger_log.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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
/* Buffer capacity kept between jobs: a second's records of a busy shard
 * grow it again cheaply, and a larger one kept would cost a small ledger
 * more than its entries (ledger_bytes counts it). */
#define LOG_BUF_KEEP (64u << 10)

/* The files, touched only by jobs (one at a time, on whichever thread)
 * and by open and close, when no job is out. */
struct log_file {
	char *path, *tmp_path, *dir_path;
	int fd;
	uint64_t size;			/* of the whole records written */
	int tmp_fd;			/* a rewrite's new file, or -1 */
	uint64_t tmp_size;
	int tmp_errnum;			/* a rewrite's write failed: it is given up at its end */
};

enum rewrite_state { RW_NONE, RW_FEEDING, RW_FED };

struct ledger_log {
	struct log_file *file;
	struct buf pending;		/* records not yet handed to a job */
	bool unsynced;			/* records written (or handed over) since the last sync */
	bool job_out;			/* a job is out: one at a time */
	size_t records;			/* in the current file, replayed ones included */

	enum rewrite_state rewrite;
	bool rewrite_started;		/* a job created the new file */
	struct buf snap;		/* entries fed, not yet handed to a job */
	struct buf tail;		/* records appended since the rewrite began */
	size_t rewrite_records;		/* in the new file once it is done */
};

struct ledger_log_job {
	struct log_file *file;
	struct buf append;		/* for the current file */
	bool sync;
	struct buf rewrite;		/* for the new file */
	bool rewrite_first, rewrite_last;
	size_t rewrite_records;
	/* Out. */
	bool replaced;			/* the new file is the log now */
	char *err;
};

/* A record of a key up to this long is encoded with one copy. */
#define LOG_REC_INLINE 256

static void put_record(struct buf *b, char type, uint32_t created, const char *data, size_t len)
{
	unsigned char rec[LOG_REC_INLINE];

	rec[0] = (unsigned char)type;
	le_put32(rec + 1, created);
	le_put32(rec + 5, (uint32_t)len);
	if (len <= sizeof(rec) - LOG_HDR_LEN) {
		memcpy(rec + LOG_HDR_LEN, data, len);
		buf_append(b, rec, LOG_HDR_LEN + len);
		return;
	}
	buf_append(b, rec, LOG_HDR_LEN);
	buf_append(b, data, len);
}

static void log_record(struct ledger_log *g, char type, uint32_t created, const char *key, size_t klen)
{
	put_record(&g->pending, type, created, key, klen);
	g->records++;
	if (g->rewrite != RW_NONE) {
		put_record(&g->tail, type, created, key, klen);
		g->rewrite_records++;
	}
}

void ledger_log_add(struct ledger_log *g, uint32_t created, const char *key, size_t klen)
{
	log_record(g, 'A', created, key, klen);
}

void ledger_log_del(struct ledger_log *g, const char *key, size_t klen)
{
	log_record(g, 'D', 0, key, klen);
}

/* ---- opening: replay and the torn tail ------------------------------------------ */

/* Replays the log; returns the offset just past the last whole record. */
static long replay(FILE *f, size_t *records, ledger_log_replay_fn *fn, void *arg)
{
	unsigned char hdr[LOG_HDR_LEN];
	size_t cap = 64;
	char *data = xmalloc(cap);	/* never NULL: an empty key is a real key */
	long good = LOG_MAGIC_LEN, size;
	struct stat st;

	size = fstat(fileno(f), &st) == 0 ? (long)st.st_size : LONG_MAX;
	while (fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) {
		uint32_t created = le_get32(hdr + 1), len = le_get32(hdr + 5);

		/* A length past the end of the file is a torn or garbled tail:
		 * do not allocate for it. */
		if (len > LOG_KEY_MAX || (long)len > size - ftell(f))
			break;
		if (hdr[0] != 'A' && hdr[0] != 'D')
			break;	/* garbage: treat as a torn tail */
		if (len > cap) {
			cap = len;
			data = xrealloc(data, cap);
		}
		if (fread(data, 1, len, f) != len)
			break;
		fn(arg, hdr[0] == 'A', created, data, len);
		(*records)++;
		good = ftell(f);
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
		if (fwrite(LOG_MAGIC, 1, LOG_MAGIC_LEN, f) != LOG_MAGIC_LEN || fflush(f) != 0 ||
		    ftruncate(fileno(f), LOG_MAGIC_LEN) < 0) {
			*err = xasprintf("%s: %s", path, strerror(errno));
			return -1;
		}
	} else if (memcmp(magic, LOG_MAGIC, LOG_MAGIC_LEN) != 0) {
		*err = xasprintf("%s: not a gcs-flushd ledger", path);
		return -1;
	}
	return 0;
}

static struct log_file *file_new(const char *path, int fd, uint64_t size)
{
	struct log_file *lf = xcalloc(1, sizeof(*lf));
	char *copy = xstrdup(path);

	lf->path = xstrdup(path);
	lf->tmp_path = xasprintf("%s.tmp", path);
	lf->dir_path = xstrdup(dirname(copy));
	free(copy);
	lf->fd = fd;
	lf->size = size;
	lf->tmp_fd = -1;
	return lf;
}

struct ledger_log *ledger_log_open(const char *path, ledger_log_replay_fn *fn, void *arg, long *cut, char **err)
{
	struct ledger_log *g;
	FILE *f = fopen(path, "r+b");
	size_t records = 0;
	long good, end;
	int fd;

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
	good = replay(f, &records, fn, arg);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	if (end > good && ftruncate(fileno(f), good) < 0) {
		*err = xasprintf("%s: cannot cut the torn tail: %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 0);
	fclose(f);
	if (fd < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->file = file_new(path, fd, (uint64_t)good);
	g->records = records;
	buf_init(&g->pending);
	buf_init(&g->snap);
	buf_init(&g->tail);
	*cut = end > good ? end - good : 0;
	return g;
}

void ledger_log_close(struct ledger_log *g)
{
	struct log_file *lf;

	if (g == NULL)
		return;
	lf = g->file;
	if (lf->tmp_fd >= 0) {
		close(lf->tmp_fd);
		unlink(lf->tmp_path);
	}
	close(lf->fd);
	free(lf->path);
	free(lf->tmp_path);
	free(lf->dir_path);
	free(lf);
	buf_free(&g->pending);
	buf_free(&g->snap);
	buf_free(&g->tail);
	free(g);
}

size_t ledger_log_memory(const struct ledger_log *g)
{
	return sizeof(*g) + g->pending.cap + g->snap.cap + g->tail.cap;
}

/* ---- compaction ------------------------------------------------------------------- */

bool ledger_log_bloated(const struct ledger_log *g, size_t live)
{
	return g->rewrite == RW_NONE && g->records > LOG_COMPACT_MIN && g->records > 2 * live;
}

bool ledger_log_rewriting(const struct ledger_log *g)
{
	return g->rewrite != RW_NONE;
}

void ledger_log_rewrite_begin(struct ledger_log *g)
{
	buf_reset(&g->snap);
	buf_reset(&g->tail);
	g->rewrite = RW_FEEDING;
	g->rewrite_started = false;
	g->rewrite_records = 0;
}

void ledger_log_rewrite_put(struct ledger_log *g, uint32_t created, const char *key, size_t klen)
{
	put_record(&g->snap, 'A', created, key, klen);
	g->rewrite_records++;
}

void ledger_log_rewrite_fed(struct ledger_log *g)
{
	g->rewrite = RW_FED;
}

void ledger_log_rewrite_abandon(struct ledger_log *g)
{
	/* A new file half written is truncated when the next rewrite starts
	 * it, or removed at close. */
	g->rewrite = RW_NONE;
	buf_reset(&g->snap);
	buf_reset(&g->tail);
}

/* ---- jobs ---------------------------------------------------------------------------- */

/* Moves b's bytes into a buffer for a job, leaving b empty. */
static struct buf take_buf(struct buf *b)
{
	struct buf t = *b;

	buf_init(b);
	return t;
}

struct ledger_log_job *ledger_log_job_take(struct ledger_log *g, bool sync)
{
	struct ledger_log_job *j;
	bool rewrite = g->rewrite != RW_NONE && (g->snap.len > 0 || g->rewrite == RW_FED);

	if (g->job_out)
		abort();	/* one at a time: the caller's bug */
	sync = sync && (g->unsynced || g->pending.len > 0);
	if (g->pending.len == 0 && !sync && !rewrite)
		return NULL;
	j = xcalloc(1, sizeof(*j));
	j->file = g->file;
	j->append = take_buf(&g->pending);
	j->sync = sync;
	g->unsynced = !sync && (g->unsynced || j->append.len > 0);
	if (!rewrite) {
		buf_init(&j->rewrite);
	} else {
		j->rewrite = take_buf(&g->snap);
		j->rewrite_first = !g->rewrite_started;
		g->rewrite_started = true;
		if (g->rewrite == RW_FED) {
			/* The last: the records appended meanwhile follow the entries. */
			buf_append(&j->rewrite, g->tail.data, g->tail.len);
			buf_free(&g->tail);
			buf_init(&g->tail);
			j->rewrite_last = true;
			j->rewrite_records = g->rewrite_records;
			g->rewrite = RW_NONE;
		}
	}
	g->job_out = true;
	return j;
}

/* The first error of a job is the one said. */
static void job_fail(struct ledger_log_job *j, const char *what, const char *path, int errnum)
{
	if (j->err == NULL)
		j->err = xasprintf("%s%s%s: %s", what, *what ? " " : "", path, strerror(errnum));
}

/* Appends to the current file, cutting a failed write back. */
static void run_append(struct ledger_log_job *j)
{
	struct log_file *lf = j->file;

	if (j->append.len > 0) {
		if (pwrite_all(lf->fd, j->append.data, j->append.len, lf->size) < 0) {
			job_fail(j, "write", lf->path, errno);
			(void)!ftruncate(lf->fd, (off_t)lf->size);
			return;
		}
		lf->size += j->append.len;
	}
	if (j->sync && fdatasync(lf->fd) < 0)
		job_fail(j, "fdatasync", lf->path, errno);
}

/* Puts the new file in place: synced, renamed, the directory synced. */
static void replace(struct ledger_log_job *j)
{
	struct log_file *lf = j->file;
	int dirfd;

	if (lf->tmp_errnum == 0 && fdatasync(lf->tmp_fd) < 0)
		lf->tmp_errnum = errno;
	if (lf->tmp_errnum == 0 && rename(lf->tmp_path, lf->path) < 0)
		lf->tmp_errnum = errno;
	if (lf->tmp_errnum != 0) {
		job_fail(j, "rewrite", lf->tmp_path, lf->tmp_errnum);
		if (lf->tmp_fd >= 0)
			close(lf->tmp_fd);
		unlink(lf->tmp_path);
		lf->tmp_fd = -1;
		return;
	}
	/* The rename is what must last: sync the directory that holds it. */
	dirfd = open(lf->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fsync(dirfd) < 0)
		job_fail(j, "fsync", lf->dir_path, errno);
	if (dirfd >= 0)
		close(dirfd);
	close(lf->fd);
	lf->fd = lf->tmp_fd;
	lf->size = lf->tmp_size;
	lf->tmp_fd = -1;
	j->replaced = true;
}

/* The new file: created by the first job, written by each, put in place
 * by the last. */
static void run_rewrite(struct ledger_log_job *j)
{
	struct log_file *lf = j->file;

	if (j->rewrite_first) {
		if (lf->tmp_fd >= 0)
			close(lf->tmp_fd);	/* an abandoned rewrite's */
		lf->tmp_errnum = 0;
		lf->tmp_size = LOG_MAGIC_LEN;
		lf->tmp_fd = open(lf->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (lf->tmp_fd < 0 || pwrite_all(lf->tmp_fd, LOG_MAGIC, LOG_MAGIC_LEN, 0) < 0)
			lf->tmp_errnum = errno;
	}
	if (lf->tmp_errnum == 0 && pwrite_all(lf->tmp_fd, j->rewrite.data, j->rewrite.len, lf->tmp_size) < 0)
		lf->tmp_errnum = errno;
	lf->tmp_size += j->rewrite.len;
	if (j->rewrite_last)
		replace(j);
}

void ledger_log_job_run(struct ledger_log_job *j)
{
	/* The current file first: if the rewrite fails, it is complete. */
	run_append(j);
	if (j->rewrite_first || j->rewrite.len > 0 || j->rewrite_last)
		run_rewrite(j);
}

int ledger_log_job_done(struct ledger_log *g, struct ledger_log_job *j, bool *rewrite_failed, char **err)
{
	int rc = 0;

	g->job_out = false;
	*rewrite_failed = j->rewrite_last && !j->replaced;
	if (j->replaced)
		g->records = j->rewrite_records;
	if (j->err != NULL) {
		*err = j->err;
		j->err = NULL;
		rc = -1;
	}
	/* Keep a modest buffer for the next records rather than grow one again. */
	if (g->pending.len == 0 && j->append.cap > g->pending.cap && j->append.cap <= LOG_BUF_KEEP) {
		buf_free(&g->pending);
		g->pending = j->append;
		buf_reset(&g->pending);
		buf_init(&j->append);
	}
	buf_free(&j->append);
	buf_free(&j->rewrite);
	free(j);
	return rc;
}
