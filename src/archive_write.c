/* archive_write: a shard's archive writer (see archive.h): opening an
 * archive (the lock, the segments' statistics, the newest segment checked
 * and its torn tail cut), buffering records, committing them durably,
 * retention and statistics.
 *
 * WRITING
 *
 * Records are buffered, then a commit appends them with pwrite() and
 * fdatasync()s before the caller deletes any of the keys.  A failed commit
 * cuts the segment back to its previous size.  A new segment is created as a
 * .tmp file holding the file magic, synced, renamed into place, and the
 * directory synced.  On open, the newest segment's records are all checked
 * and a torn tail is cut.  Retention deletes whole oldest segments.
 *
 * The format itself (names, records, validity) belongs to archive.c: this
 * file encodes and reads only through archive_int.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "archive_int.h"
#include "util.h"

#define SEGMENT_DEFAULT (64u << 20)
#define PENDING_KEEP (8u << 20)	/* buffer capacity kept between commits */

struct segment {
	uint64_t seq;
	uint64_t bytes;
	int64_t min_ms, max_ms;	/* flushed_ms range of its records, -1: none */
	uint64_t records;
};

struct archive {
	char *dir;
	int dirfd;			/* open for fsync and the flock */
	uint64_t segment_bytes;
	struct segment *segs;		/* oldest first */
	size_t nsegs, capsegs;
	int fd;				/* the last of segs, open for writing; -1: none */
	uint64_t next_seq;
	bool dirty;			/* a failed commit could not be cut back */
	struct buf pending;
	size_t npending;
	int64_t pending_min, pending_max;
	char *warning;
};


/* ---- the writer: opening ---------------------------------------------------------- */

static void add_warning(struct archive *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(struct archive *a, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	if (a->warning != NULL) {
		buf_puts(&b, a->warning);
		buf_puts(&b, "; ");
		free(a->warning);
	}
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	a->warning = b.data;
}

static struct segment *push_segment(struct archive *a, uint64_t seq)
{
	struct segment *s;

	if (a->nsegs == a->capsegs) {
		a->capsegs = a->capsegs ? 2 * a->capsegs : 16;
		a->segs = xrealloc(a->segs, a->capsegs * sizeof(*a->segs));
	}
	s = &a->segs[a->nsegs++];
	s->seq = seq;
	s->bytes = ARCHIVE_FILE_MAGIC_LEN;
	s->min_ms = s->max_ms = -1;
	s->records = 0;
	return s;
}

/* Counts n records flushed between min_ms and max_ms into s. */
static void count_records(struct segment *s, size_t n, int64_t min_ms, int64_t max_ms)
{
	if (s->min_ms < 0 || min_ms < s->min_ms)
		s->min_ms = min_ms;
	if (max_ms > s->max_ms)
		s->max_ms = max_ms;
	s->records += n;
}

/* Loads segment s's statistics.  Only the newest may become the active one:
 * it is opened for writing, every record is checked and a torn tail cut.
 * Older ones are walked by their headers only.  -1 with *err on an I/O
 * error. */
static int load_segment(struct archive *a, struct segment *s, bool newest, int64_t *cut_bytes, char **err)
{
	char *path = archive_seg_path(a->dir, s->seq, "");
	struct archive_reader rd;
	uint64_t off = ARCHIVE_FILE_MAGIC_LEN, next;
	bool check = newest, keep = newest;
	int valid = archive_open_segment(path, newest ? O_RDWR : O_RDONLY, &rd,
					 newest ? ARCHIVE_READ_CHUNK : ARCHIVE_WALK_CHUNK);

	if (valid < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	s->bytes = rd.size;
	if (!valid) {
		add_warning(a, "%s: not an archive segment, left alone", path);
		off = rd.size;
		keep = false;
	}
	while (off < rd.size) {
		struct archive_rec r;
		int rc = archive_read_record(&rd, off, check, &r, &next);

		if (rc == ARCHIVE_REC_OK) {
			count_records(s, 1, r.flushed_ms, r.flushed_ms);
			off = next;
			continue;
		}
		if (rc == ARCHIVE_REC_INVALID && !check) {
			add_warning(a, "%s: invalid record at offset %" PRIu64 ", the rest not counted", path, off);
			break;
		}
		if (rc == ARCHIVE_REC_INVALID)
			next = archive_resync(&rd, off + 1);
		if (rc == ARCHIVE_REC_IOERR || next == (uint64_t)-1) {
			*err = xasprintf("%s: %s", path, strerror(rd.err));
			goto fail;
		}
		if (next < rd.size) {
			add_warning(a, "%s: %" PRIu64 " damaged bytes at offset %" PRIu64
				    " left for the reader; appending to a new segment", path, next - off, off);
			keep = false;
			off = next;
			continue;
		}
		/* A torn tail: nothing valid follows. */
		if (keep && (ftruncate(rd.fd, (off_t)off) < 0 || fdatasync(rd.fd) < 0)) {
			*err = xasprintf("%s: cannot cut the torn tail: %s", path, strerror(errno));
			goto fail;
		}
		if (keep) {
			*cut_bytes = (int64_t)(rd.size - off);
			s->bytes = off;
		}
		break;
	}
	if (keep) {
		a->fd = rd.fd;	/* kept open for appending */
		free(rd.buf);
	} else {
		archive_reader_close(&rd);
	}
	free(path);
	return 0;
fail:
	archive_reader_close(&rd);
	free(path);
	return -1;
}

struct archive *archive_open(const char *dir, uint64_t segment_bytes, int64_t *cut_bytes, char **err)
{
	struct archive *a;
	uint64_t *seqs;
	size_t n;

	*cut_bytes = 0;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->dir = xstrdup(dir);
	a->fd = -1;
	a->segment_bytes = segment_bytes ? segment_bytes : SEGMENT_DEFAULT;
	a->next_seq = 1;
	buf_init(&a->pending);
	a->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->dirfd < 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(a->dirfd, LOCK_EX | LOCK_NB) < 0) {
		*err = errno == EWOULDBLOCK ? xasprintf("%s: archive in use by another process", dir)
					    : xasprintf("%s: flock: %s", dir, strerror(errno));
		goto fail;
	}
	if (archive_list_segments(dir, true, &seqs, &n, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (load_segment(a, push_segment(a, seqs[i]), i == n - 1, cut_bytes, err) < 0) {
			free(seqs);
			goto fail;
		}
	}
	if (n > 0)
		a->next_seq = seqs[n - 1] + 1;
	free(seqs);
	return a;
fail:
	archive_close(a);
	return NULL;
}

void archive_close(struct archive *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	if (a->dirfd >= 0)
		close(a->dirfd);	/* releases the flock */
	buf_free(&a->pending);
	free(a->segs);
	free(a->warning);
	free(a->dir);
	free(a);
}

const char *archive_warning(const struct archive *a)
{
	return a->warning;
}

/* ---- the writer: appending ------------------------------------------------------ */

int archive_add(struct archive *a, const struct archive_rec *r)
{
	if (archive_encode(&a->pending, r) < 0)
		return -1;
	if (a->npending == 0 || r->flushed_ms < a->pending_min)
		a->pending_min = r->flushed_ms;
	if (a->npending == 0 || r->flushed_ms > a->pending_max)
		a->pending_max = r->flushed_ms;
	a->npending++;
	return 0;
}

void archive_batch_init(struct archive_batch *b)
{
	buf_init(&b->data);
	b->n = 0;
	b->min_ms = b->max_ms = 0;
}

void archive_batch_free(struct archive_batch *b)
{
	buf_free(&b->data);
	b->n = 0;
}

int archive_batch_add(struct archive_batch *b, const struct archive_rec *r)
{
	if (archive_encode(&b->data, r) < 0)
		return -1;
	if (b->n == 0 || r->flushed_ms < b->min_ms)
		b->min_ms = r->flushed_ms;
	if (b->n == 0 || r->flushed_ms > b->max_ms)
		b->max_ms = r->flushed_ms;
	b->n++;
	return 0;
}

void archive_add_batch(struct archive *a, struct archive_batch *b)
{
	if (b->n == 0)
		return;
	if (a->npending == 0) {
		/* Most often: take the batch's buffer rather than copy it. */
		struct buf t = a->pending;

		a->pending = b->data;
		b->data = t;
		buf_reset(&b->data);
		a->pending_min = b->min_ms;
		a->pending_max = b->max_ms;
	} else {
		buf_append(&a->pending, b->data.data, b->data.len);
		if (b->min_ms < a->pending_min)
			a->pending_min = b->min_ms;
		if (b->max_ms > a->pending_max)
			a->pending_max = b->max_ms;
		buf_reset(&b->data);
	}
	a->npending += b->n;
	b->n = 0;
}

size_t archive_pending(const struct archive *a)
{
	return a->npending;
}

static void discard_pending(struct archive *a)
{
	if (a->pending.cap > PENDING_KEEP) {
		buf_free(&a->pending);
		buf_init(&a->pending);
	}
	buf_reset(&a->pending);
	a->npending = 0;
}

void archive_discard(struct archive *a)
{
	discard_pending(a);
}

/* ---- the writer: committing ------------------------------------------------------
 *
 * A commit runs in three steps so that its I/O can run on another thread:
 * begin (the owner's thread) takes the buffered records and copies what
 * the I/O needs into the commit; run (any thread) touches only the commit
 * and the files; end (the owner's thread again) applies the outcome to the
 * archive.  One commit at a time: between begin and end the owner adds
 * records to a fresh buffer, reads the statistics, and nothing else. */

struct archive_commit {
	/* In: copied by begin. */
	char *dir;
	int dirfd, fd;			/* the active segment's, or -1 */
	uint64_t offset;		/* its size: where the records go */
	bool truncate_first;		/* a failed commit could not be cut back */
	uint64_t new_seq;		/* 0, or the segment to create first */
	uint64_t seq;			/* the segment written to */
	struct buf data;
	size_t nrecords;
	int64_t min_ms, max_ms;
	/* Out: set by run. */
	int new_fd;			/* the created segment's, or -1 */
	bool dirty;			/* the file could not be cut back */
	int errnum;			/* 0: written and synced */
	char *err;
};

/* Creates segment seq: written and synced as .tmp, renamed into place, the
 * directory synced.  The fd, or -1 with *what and errno. */
static int new_segment(const char *dir, int dirfd, uint64_t seq, const char **what, char **path)
{
	char *tmp = archive_seg_path(dir, seq, ".tmp");
	int fd, e;

	*path = archive_seg_path(dir, seq, "");
	*what = "create";
	if (seq > ARCHIVE_SEQ_MAX) {
		errno = EOVERFLOW;
		goto fail;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	*what = "write";
	if (pwrite_all(fd, ARCHIVE_FILE_MAGIC, ARCHIVE_FILE_MAGIC_LEN, 0) < 0)
		goto fail_fd;
	*what = "fdatasync";
	if (fdatasync(fd) < 0)
		goto fail_fd;
	*what = "rename";
	if (rename(tmp, *path) < 0)
		goto fail_fd;
	if (fsync(dirfd) < 0) {
		e = errno;
		unlink(*path);
		close(fd);
		free(tmp);
		*what = "fsync the directory of";
		errno = e;
		return -1;
	}
	free(tmp);
	return fd;
fail_fd:
	e = errno;
	close(fd);
	errno = e;
fail:
	e = errno;
	unlink(tmp);
	free(*path);
	*path = tmp;
	errno = e;
	return -1;
}

struct archive_commit *archive_commit_begin(struct archive *a)
{
	struct archive_commit *c;
	const struct segment *s = a->nsegs ? &a->segs[a->nsegs - 1] : NULL;

	if (a->npending == 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->dir = xstrdup(a->dir);
	c->dirfd = a->dirfd;
	c->fd = a->fd;
	c->offset = s != NULL ? s->bytes : 0;
	c->seq = s != NULL ? s->seq : 0;
	c->truncate_first = a->fd >= 0 && a->dirty;
	if (a->fd < 0 || s->bytes >= a->segment_bytes) {
		c->seq = c->new_seq = a->next_seq;
		c->offset = ARCHIVE_FILE_MAGIC_LEN;
	}
	c->data = a->pending;
	c->nrecords = a->npending;
	c->min_ms = a->pending_min;
	c->max_ms = a->pending_max;
	buf_init(&a->pending);
	a->npending = 0;
	c->new_fd = -1;
	return c;
}

void archive_commit_run(struct archive_commit *c)
{
	const char *what = "truncate";
	char *path = NULL;
	int fd = c->fd;

	if (c->truncate_first && ftruncate(c->fd, (off_t)c->offset) < 0) {
		c->dirty = true;
		goto fail;
	}
	if (c->new_seq != 0) {
		if ((fd = new_segment(c->dir, c->dirfd, c->new_seq, &what, &path)) < 0)
			goto fail;
		free(path);
		path = NULL;
		c->new_fd = fd;
	}
	what = "write";
	if (pwrite_all(fd, c->data.data, c->data.len, c->offset) < 0)
		goto cut;
	what = "fdatasync";
	if (fdatasync(fd) < 0)
		goto cut;
	return;
cut:
	c->errnum = errno;
	if (ftruncate(fd, (off_t)c->offset) < 0)
		c->dirty = true;	/* tried again before the next write */
	else
		(void)fdatasync(fd);
	errno = c->errnum;
fail:
	c->errnum = errno;
	if (path == NULL)
		path = archive_seg_path(c->dir, c->seq, "");
	c->err = xasprintf("%s %s: %s", what, path, strerror(c->errnum));
	free(path);
}

static void commit_free(struct archive_commit *c)
{
	buf_free(&c->data);
	free(c->dir);
	free(c->err);
	free(c);
}

int archive_commit_end(struct archive *a, struct archive_commit *c, int *errnum, char **err)
{
	struct segment *s;
	int rc = 0;

	if (c->new_fd >= 0) {
		if (a->fd >= 0)
			close(a->fd);
		a->fd = c->new_fd;
		push_segment(a, a->next_seq++);
	}
	a->dirty = c->dirty;
	s = a->nsegs > 0 ? &a->segs[a->nsegs - 1] : NULL;
	if (c->errnum == 0) {
		s->bytes = c->offset + c->data.len;
		count_records(s, c->nrecords, c->min_ms, c->max_ms);
	} else {
		*errnum = c->errnum;
		*err = c->err;
		c->err = NULL;
		rc = -1;
	}
	/* Keep the larger buffer for the next records, as a commit did. */
	if (a->npending == 0 && c->data.cap > a->pending.cap && c->data.cap <= PENDING_KEEP) {
		buf_free(&a->pending);
		a->pending = c->data;
		buf_reset(&a->pending);
		buf_init(&c->data);
	}
	commit_free(c);
	return rc;
}

int archive_commit(struct archive *a, int *errnum, char **err)
{
	struct archive_commit *c = archive_commit_begin(a);

	if (c == NULL)
		return 0;
	archive_commit_run(c);
	return archive_commit_end(a, c, errnum, err);
}

/* ---- retention and statistics -------------------------------------------------- */

struct archive_retention {
	int dirfd;
	size_t n;
	uint64_t *seqs;			/* the segments to delete, oldest first */
	char **paths;
	bool *deleted;			/* out */
};

struct archive_retention *archive_retain_begin(struct archive *a, uint64_t max_bytes, int64_t max_age_ms,
					       int64_t now_ms)
{
	struct archive_retention *r;
	uint64_t total = 0;
	size_t n = 0;

	for (size_t i = 0; i < a->nsegs; i++)
		total += a->segs[i].bytes;
	/* Never the one being written. */
	while (n < a->nsegs - (a->fd >= 0 ? 1u : 0u) && a->nsegs > 0) {
		const struct segment *s = &a->segs[n];
		bool too_big = max_bytes > 0 && total > max_bytes;
		bool too_old = max_age_ms > 0 && s->max_ms < now_ms - max_age_ms;

		if (!too_big && !too_old)
			break;
		total -= s->bytes;
		n++;
	}
	if (n == 0)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->dirfd = a->dirfd;
	r->n = n;
	r->seqs = xcalloc(n, sizeof(*r->seqs));
	r->paths = xcalloc(n, sizeof(*r->paths));
	r->deleted = xcalloc(n, sizeof(*r->deleted));
	for (size_t i = 0; i < n; i++) {
		r->seqs[i] = a->segs[i].seq;
		r->paths[i] = archive_seg_path(a->dir, r->seqs[i], "");
	}
	return r;
}

void archive_retain_run(struct archive_retention *r)
{
	bool any = false;

	for (size_t i = 0; i < r->n; i++) {
		if (unlink(r->paths[i]) < 0 && errno != ENOENT)
			break;	/* kept, and the newer ones too: oldest go first */
		r->deleted[i] = any = true;
	}
	if (any)
		(void)fsync(r->dirfd);
}

int archive_retain_end(struct archive *a, struct archive_retention *r)
{
	int deleted = 0;

	for (size_t i = 0; i < r->n && r->deleted[i]; i++) {
		/* The oldest segments, in order: still the first of segs. */
		if (a->nsegs == 0 || a->segs[0].seq != r->seqs[i])
			break;
		memmove(a->segs, a->segs + 1, --a->nsegs * sizeof(*a->segs));
		deleted++;
	}
	for (size_t i = 0; i < r->n; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r->seqs);
	free(r->deleted);
	free(r);
	return deleted;
}

int archive_retain(struct archive *a, uint64_t max_bytes, int64_t max_age_ms, int64_t now_ms)
{
	struct archive_retention *r = archive_retain_begin(a, max_bytes, max_age_ms, now_ms);

	if (r == NULL)
		return 0;
	archive_retain_run(r);
	return archive_retain_end(a, r);
}

void archive_stats(const struct archive *a, struct archive_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->oldest_flushed_ms = -1;
	st->segments = (uint32_t)a->nsegs;
	for (size_t i = 0; i < a->nsegs; i++) {
		const struct segment *s = &a->segs[i];

		st->bytes += s->bytes;
		st->records_total += s->records;
		if (s->min_ms >= 0 && (st->oldest_flushed_ms < 0 || s->min_ms < st->oldest_flushed_ms))
			st->oldest_flushed_ms = s->min_ms;
	}
}
