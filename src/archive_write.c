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

static int write_all(int fd, const void *data, size_t len, uint64_t off)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Creates the next segment: written and synced as .tmp, renamed into place,
 * the directory synced.  -1 with *what and errno on failure. */
static int new_segment(struct archive *a, const char **what, char **path)
{
	char *tmp = archive_seg_path(a->dir, a->next_seq, ".tmp");
	int fd, e;

	*path = archive_seg_path(a->dir, a->next_seq, "");
	if (a->next_seq > ARCHIVE_SEQ_MAX) {
		*what = "create";
		errno = EOVERFLOW;
		goto fail;
	}
	*what = "create";
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	*what = "write";
	if (write_all(fd, ARCHIVE_FILE_MAGIC, ARCHIVE_FILE_MAGIC_LEN, 0) < 0)
		goto fail_fd;
	*what = "fdatasync";
	if (fdatasync(fd) < 0)
		goto fail_fd;
	*what = "rename";
	if (rename(tmp, *path) < 0)
		goto fail_fd;
	if (fsync(a->dirfd) < 0) {
		e = errno;
		unlink(*path);
		close(fd);
		free(tmp);
		*what = "fsync the directory of";
		errno = e;
		return -1;
	}
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
	push_segment(a, a->next_seq++);
	free(tmp);
	return 0;
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

int archive_commit(struct archive *a, int *errnum, char **err)
{
	struct segment *s = a->nsegs ? &a->segs[a->nsegs - 1] : NULL;
	const char *what = NULL;
	char *path = NULL;

	if (a->npending == 0)
		return 0;
	if (a->fd >= 0 && a->dirty) {
		what = "truncate";
		if (ftruncate(a->fd, (off_t)s->bytes) < 0)
			goto fail;
		a->dirty = false;
	}
	if (a->fd < 0 || s->bytes >= a->segment_bytes) {
		if (new_segment(a, &what, &path) < 0)
			goto fail;
		free(path);
		path = NULL;
		s = &a->segs[a->nsegs - 1];
	}
	what = "write";
	if (write_all(a->fd, a->pending.data, a->pending.len, s->bytes) < 0)
		goto cut;
	what = "fdatasync";
	if (fdatasync(a->fd) < 0)
		goto cut;
	s->bytes += a->pending.len;
	count_records(s, a->npending, a->pending_min, a->pending_max);
	discard_pending(a);
	return 0;
cut:
	*errnum = errno;
	if (ftruncate(a->fd, (off_t)s->bytes) < 0)
		a->dirty = true;	/* tried again before the next write */
	else
		(void)fdatasync(a->fd);
	errno = *errnum;
fail:
	*errnum = errno;
	if (path == NULL)
		path = archive_seg_path(a->dir, s->seq, "");
	*err = xasprintf("%s %s: %s", what, path, strerror(*errnum));
	free(path);
	discard_pending(a);
	return -1;
}

/* ---- retention and statistics -------------------------------------------------- */

int archive_retain(struct archive *a, uint64_t max_bytes, int64_t max_age_ms, int64_t now_ms)
{
	uint64_t total = 0;
	int deleted = 0;

	for (size_t i = 0; i < a->nsegs; i++)
		total += a->segs[i].bytes;
	while (a->nsegs > (a->fd >= 0 ? 1u : 0u)) {
		const struct segment *s = &a->segs[0];
		bool too_big = max_bytes > 0 && total > max_bytes;
		bool too_old = max_age_ms > 0 && s->max_ms < now_ms - max_age_ms;
		char *path;

		if (!too_big && !too_old)
			break;
		path = archive_seg_path(a->dir, s->seq, "");
		if (unlink(path) < 0 && errno != ENOENT) {
			free(path);
			break;	/* kept; the statistics go on showing it */
		}
		free(path);
		total -= s->bytes;
		memmove(a->segs, a->segs + 1, --a->nsegs * sizeof(*a->segs));
		deleted++;
	}
	if (deleted > 0)
		(void)fsync(a->dirfd);
	return deleted;
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
