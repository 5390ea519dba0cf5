/* archive: a shard's flushed entries in append-only, checksummed segments.
 *
 * FORMAT (version 1)
 *
 * A shard's archive is a directory of segment files named
 * "seg-NNNNNNNNNN.gca": "seg-", a 10-digit zero-padded decimal sequence
 * number (1, 2, ...), ".gca".  Lexical order is age order, oldest first; the
 * newest segment is the one being appended to.  A "seg-NNNNNNNNNN.gca.tmp"
 * file is a segment being created and is not part of the archive.
 *
 * All integers are little-endian; i64 is two's complement.  A segment is the
 * 8 ASCII bytes "GCSARCH1" followed by records, back to back, with no padding:
 *
 *   offset size  field
 *   0      4     u32 magic        0x41534347 (the bytes "GCSA")
 *   4      1     u8  version      1
 *   5      1     u8  flags        0
 *   6      2     u16 reserved     0
 *   8      4     u32 body_len     length of the body, at most 512 MiB
 *   12     4     u32 crc          CRC-32C (Castagnoli) of the body's bytes
 *   16     body_len bytes of body:
 *     0    8     i64 flushed_ms   unix time in ms when the entry was archived
 *     8    8     i64 expire_ms    absolute expiry in unix ms, or -1: none
 *     16   4     u32 db           the Redis database number
 *     20   2     u16 shard_len
 *     22   4     u32 key_len
 *     26   4     u32 payload_len
 *     30   shard_len bytes        the shard's name
 *          key_len bytes          the key (binary)
 *          payload_len bytes      the DUMP payload (binary), which carries
 *                                 its own RDB version and checksum
 *   body_len == 30 + shard_len + key_len + payload_len.
 *
 * The CRC is the common CRC-32C: reflected polynomial 0x82F63B78, initial
 * value and final xor 0xFFFFFFFF; its check value is crc("123456789") =
 * 0xE3069283 (the same as Python's crc32c package or Go's
 * crc32.MakeTable(crc32.Castagnoli)).
 *
 * A record is valid when its magic, version (1), flags (0), reserved (0),
 * body_len (30 <= body_len <= 512 MiB, and the three lengths add up) and CRC
 * are right.  A reader that meets an invalid record should look for the next
 * offset that holds a valid record and go on from there; bytes after the
 * last valid record of the newest segment are a torn tail (a write that was
 * interrupted, or one in progress) and are not an error.
 *
 * A key may be archived several times; its newest record (the last in the
 * newest segment that has one) is its latest value.
 *
 * WRITING
 *
 * Records are buffered, then a commit appends them with pwrite() and
 * fdatasync()s before the caller deletes any of the keys.  A failed commit
 * cuts the segment back to its previous size.  A new segment is created as a
 * .tmp file holding the file magic, synced, renamed into place, and the
 * directory synced.  On open, the newest segment's records are all checked
 * and a torn tail is cut.  Retention deletes whole oldest segments. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "crc32c.h"
#include "le.h"
#include "util.h"

#define FILE_MAGIC "GCSARCH1"
#define FILE_MAGIC_LEN 8
#define REC_MAGIC 0x41534347u	/* "GCSA" */
#define REC_VERSION 1
#define HDR_LEN 16
#define BODY_FIXED 30
#define SEQ_MAX 9999999999ull
#define SEGMENT_DEFAULT (64u << 20)
#define PENDING_KEEP (8u << 20)	/* buffer capacity kept between commits */
#define READ_CHUNK (1u << 20)
#define WALK_CHUNK (64u << 10)

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

/* ---- segment names ---------------------------------------------------------- */

static char *seg_path(const char *dir, uint64_t seq, const char *suffix)
{
	return xasprintf("%s/seg-%010" PRIu64 ".gca%s", dir, seq, suffix);
}

/* The sequence number of "seg-NNNNNNNNNN.gca" (tmp: with ".tmp"), or 0. */
static uint64_t seg_name_seq(const char *name, bool tmp)
{
	uint64_t seq = 0;

	if (strlen(name) < 14 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 14, tmp ? ".gca.tmp" : ".gca") != 0)
		return 0;
	for (int i = 4; i < 14; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	}
	return seq;
}

static int cmp_seq(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* The segments' sequence numbers, sorted; a writer also removes leftover
 * .tmp files.  -1 with *err if dir cannot be read. */
static int list_segments(const char *dir, bool clean_tmp, uint64_t **seqs, size_t *n, char **err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 16;

	if (d == NULL) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	*seqs = xmalloc(cap * sizeof(**seqs));
	*n = 0;
	while ((errno = 0, de = readdir(d)) != NULL) {
		uint64_t seq = seg_name_seq(de->d_name, false);

		if (seq == 0) {
			if (clean_tmp && seg_name_seq(de->d_name, true) != 0)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (*n == cap)
			*seqs = xrealloc(*seqs, (cap *= 2) * sizeof(**seqs));
		(*seqs)[(*n)++] = seq;
	}
	if (errno != 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		closedir(d);
		free(*seqs);
		return -1;
	}
	closedir(d);
	qsort(*seqs, *n, sizeof(**seqs), cmp_seq);
	return 0;
}

/* ---- reading ------------------------------------------------------------------ */

/* A window on a file read with pread(), so that walking small records costs
 * few system calls and a large one is read in one go. */
struct reader {
	int fd;
	uint64_t size;		/* the file's size when opened */
	size_t chunk;		/* how much to read at least */
	unsigned char *buf;
	size_t cap;
	uint64_t boff;		/* the file offset of buf[0] */
	size_t blen;
	int err;		/* errno of a failed read, else 0 */
};

static int reader_init(struct reader *rd, int fd, size_t chunk)
{
	struct stat st;

	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->chunk = chunk;
	if (fstat(fd, &st) < 0) {
		rd->err = errno;
		return -1;
	}
	rd->size = (uint64_t)st.st_size;
	return 0;
}

/* n bytes at off, or NULL: past the end of the file (or a read error, with
 * rd->err set).  Valid until the next call. */
static const unsigned char *reader_get(struct reader *rd, uint64_t off, size_t n)
{
	size_t want, got = 0;

	if (off >= rd->boff && off + n <= rd->boff + rd->blen)
		return rd->buf + (off - rd->boff);
	if (off > rd->size || n > rd->size - off)
		return NULL;
	want = n > rd->chunk ? n : rd->chunk;
	if (want > rd->size - off)
		want = (size_t)(rd->size - off);
	if (want > rd->cap) {
		free(rd->buf);
		rd->buf = xmalloc(want);
		rd->cap = want;
	}
	rd->blen = 0;
	while (got < want) {
		ssize_t r = pread(rd->fd, rd->buf + got, want - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rd->err = errno;
			return NULL;
		}
		if (r == 0)
			break;	/* cut shorter meanwhile */
		got += (size_t)r;
	}
	rd->boff = off;
	rd->blen = got;
	return got >= n ? rd->buf : NULL;
}

enum { REC_OK, REC_INVALID, REC_IOERR };

/* Reads the record at off into *r (its pointers into the reader's window)
 * and sets *next past it.  With check false only the header and the fixed
 * part of the body are read: enough for flushed_ms, not for the CRC. */
static int read_record(struct reader *rd, uint64_t off, bool check, struct archive_rec *r, uint64_t *next)
{
	const unsigned char *h = reader_get(rd, off, HDR_LEN), *b;
	uint32_t body_len, crc;
	uint64_t lens;

	if (h == NULL)
		return rd->err ? REC_IOERR : REC_INVALID;
	body_len = le_get32(h + 8);
	crc = le_get32(h + 12);
	if (le_get32(h) != REC_MAGIC || h[4] != REC_VERSION || h[5] != 0 || le_get16(h + 6) != 0 ||
	    body_len < BODY_FIXED || body_len > ARCHIVE_BODY_MAX || body_len > rd->size - off - HDR_LEN)
		return REC_INVALID;
	b = reader_get(rd, off + HDR_LEN, check ? body_len : BODY_FIXED);
	if (b == NULL)
		return rd->err ? REC_IOERR : REC_INVALID;
	r->flushed_ms = (int64_t)le_get64(b);
	r->expire_ms = (int64_t)le_get64(b + 8);
	r->db = le_get32(b + 16);
	r->shard_len = le_get16(b + 20);
	r->key_len = le_get32(b + 22);
	r->payload_len = le_get32(b + 26);
	lens = (uint64_t)r->shard_len + r->key_len + r->payload_len;
	if (lens != body_len - BODY_FIXED)
		return REC_INVALID;
	if (check && crc32c(b, body_len) != crc)
		return REC_INVALID;
	r->shard = check ? (const char *)b + BODY_FIXED : NULL;
	r->key = check ? r->shard + r->shard_len : NULL;
	r->payload = check ? r->key + r->key_len : NULL;
	*next = off + HDR_LEN + body_len;
	return REC_OK;
}

/* The offset of the first valid record at or after from; rd->size if none,
 * (uint64_t)-1 on a read error. */
static uint64_t resync(struct reader *rd, uint64_t from)
{
	static const unsigned char magic[4] = {0x47, 0x43, 0x53, 0x41};

	while (from + HDR_LEN + BODY_FIXED <= rd->size) {
		uint64_t left = rd->size - from, next;
		size_t n = left < WALK_CHUNK ? (size_t)left : WALK_CHUNK;
		const unsigned char *p = reader_get(rd, from, n), *m;
		struct archive_rec r;

		if (p == NULL)
			return rd->err ? (uint64_t)-1 : rd->size;
		m = memmem(p, n, magic, sizeof(magic));
		if (m == NULL) {
			from += n - (sizeof(magic) - 1);
			continue;
		}
		from += (uint64_t)(m - p);
		switch (read_record(rd, from, true, &r, &next)) {
		case REC_OK:
			return from;
		case REC_IOERR:
			return (uint64_t)-1;
		}
		from++;
	}
	return rd->size;
}

/* Opens a segment and checks its file magic: 1 valid, 0 not a segment (or
 * too short), -1 with errno on an error. */
static int open_segment(const char *path, int flags, struct reader *rd, size_t chunk)
{
	const unsigned char *m;
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (reader_init(rd, fd, chunk) < 0) {
		close(fd);
		errno = rd->err;
		return -1;
	}
	m = reader_get(rd, 0, FILE_MAGIC_LEN);
	if (m == NULL && rd->err) {
		free(rd->buf);
		close(fd);
		errno = rd->err;
		return -1;
	}
	return m != NULL && memcmp(m, FILE_MAGIC, FILE_MAGIC_LEN) == 0;
}

static void reader_close(struct reader *rd)
{
	free(rd->buf);
	close(rd->fd);
}

int archive_scan(const char *dir, archive_scan_fn *fn, void *arg, unsigned *corrupt, char **err)
{
	uint64_t *seqs;
	size_t n;
	unsigned bad = 0;
	int ret = 0;

	if (list_segments(dir, false, &seqs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char *path = seg_path(dir, seqs[i], "");
		bool newest = i == n - 1;
		struct reader rd;
		uint64_t off = FILE_MAGIC_LEN, next;
		int valid = open_segment(path, O_RDONLY, &rd, READ_CHUNK);

		if (valid < 0) {
			if (errno != ENOENT) {	/* else deleted by retention meanwhile */
				*err = xasprintf("%s: %s", path, strerror(errno));
				ret = -1;
			}
			free(path);
			continue;
		}
		if (!valid) {
			bad += !newest || rd.size >= FILE_MAGIC_LEN;
			off = rd.size;
		}
		while (off < rd.size && ret == 0) {
			struct archive_rec r;

			switch (read_record(&rd, off, true, &r, &next)) {
			case REC_OK:
				if (fn(arg, &r, path, off) != 0)
					ret = 1;
				off = next;
				continue;
			case REC_INVALID:
				next = resync(&rd, off + 1);
				if (next != (uint64_t)-1) {
					bad += next < rd.size || !newest;
					off = next;
					continue;
				}
				break;
			}
			*err = xasprintf("%s: %s", path, strerror(rd.err));
			ret = -1;
		}
		reader_close(&rd);
		free(path);
	}
	free(seqs);
	if (corrupt != NULL)
		*corrupt = bad;
	return ret;
}

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
	s->bytes = FILE_MAGIC_LEN;
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
	char *path = seg_path(a->dir, s->seq, "");
	struct reader rd;
	uint64_t off = FILE_MAGIC_LEN, next;
	bool check = newest, keep = newest;
	int valid = open_segment(path, newest ? O_RDWR : O_RDONLY, &rd, newest ? READ_CHUNK : WALK_CHUNK);

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
		int rc = read_record(&rd, off, check, &r, &next);

		if (rc == REC_OK) {
			count_records(s, 1, r.flushed_ms, r.flushed_ms);
			off = next;
			continue;
		}
		if (rc == REC_INVALID && !check) {
			add_warning(a, "%s: invalid record at offset %" PRIu64 ", the rest not counted", path, off);
			break;
		}
		if (rc == REC_INVALID)
			next = resync(&rd, off + 1);
		if (rc == REC_IOERR || next == (uint64_t)-1) {
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
		reader_close(&rd);
	}
	free(path);
	return 0;
fail:
	reader_close(&rd);
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
	if (list_segments(dir, true, &seqs, &n, err) < 0)
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
	unsigned char hdr[HDR_LEN + BODY_FIXED];
	uint64_t body_len = BODY_FIXED + (uint64_t)r->shard_len + r->key_len + r->payload_len;
	size_t start = a->pending.len;

	if (r->shard_len > ARCHIVE_SHARD_MAX || body_len > ARCHIVE_BODY_MAX) {
		errno = EFBIG;
		return -1;
	}
	le_put32(hdr, REC_MAGIC);
	hdr[4] = REC_VERSION;
	hdr[5] = 0;
	le_put16(hdr + 6, 0);
	le_put32(hdr + 8, (uint32_t)body_len);
	le_put32(hdr + 12, 0);	/* the CRC, below */
	le_put64(hdr + 16, (uint64_t)r->flushed_ms);
	le_put64(hdr + 24, (uint64_t)r->expire_ms);
	le_put32(hdr + 32, r->db);
	le_put16(hdr + 36, (uint16_t)r->shard_len);
	le_put32(hdr + 38, (uint32_t)r->key_len);
	le_put32(hdr + 42, (uint32_t)r->payload_len);
	buf_append(&a->pending, hdr, sizeof(hdr));
	buf_append(&a->pending, r->shard, r->shard_len);
	buf_append(&a->pending, r->key, r->key_len);
	buf_append(&a->pending, r->payload, r->payload_len);
	le_put32((unsigned char *)a->pending.data + start + 12,
		crc32c(a->pending.data + start + HDR_LEN, (size_t)body_len));
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
	char *tmp = seg_path(a->dir, a->next_seq, ".tmp");
	int fd, e;

	*path = seg_path(a->dir, a->next_seq, "");
	if (a->next_seq > SEQ_MAX) {
		*what = "create";
		errno = EOVERFLOW;
		goto fail;
	}
	*what = "create";
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	*what = "write";
	if (write_all(fd, FILE_MAGIC, FILE_MAGIC_LEN, 0) < 0)
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
		path = seg_path(a->dir, s->seq, "");
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
		path = seg_path(a->dir, s->seq, "");
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
