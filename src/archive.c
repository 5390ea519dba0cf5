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
 * Writing (archive_write.c): records are buffered, then appended and
 * fdatasync()ed before any of their keys is deleted; new segments are
 * created by temporary file and rename.
 *
 * This file owns the format: segment names, encoding a record, what a
 * valid record is, and reading segments (archive_scan, and the reader the
 * writer uses when it opens an archive).  It never writes a segment:
 * creating, appending to, cutting and deleting them belong to
 * archive_write.c (listing for the writer does remove leftover .tmp
 * files). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "archive_int.h"
#include "crc32c.h"
#include "le.h"
#include "util.h"

#define REC_MAGIC 0x41534347u	/* "GCSA" */
#define REC_VERSION 1
#define HDR_LEN 16
#define BODY_FIXED 30

/* ---- segment names ---------------------------------------------------------- */

char *archive_seg_path(const char *dir, uint64_t seq, const char *suffix)
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

int archive_list_segments(const char *dir, bool clean_tmp, uint64_t **seqs, size_t *n, char **err)
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


/* ---- encoding ------------------------------------------------------------------ */

int archive_encode(struct buf *b, const struct archive_rec *r)
{
	unsigned char hdr[HDR_LEN + BODY_FIXED];
	uint64_t body_len = BODY_FIXED + (uint64_t)r->shard_len + r->key_len + r->payload_len;
	size_t start = b->len;

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
	buf_append(b, hdr, sizeof(hdr));
	buf_append(b, r->shard, r->shard_len);
	buf_append(b, r->key, r->key_len);
	buf_append(b, r->payload, r->payload_len);
	le_put32((unsigned char *)b->data + start + 12, crc32c(b->data + start + HDR_LEN, (size_t)body_len));
	return 0;
}

/* ---- reading ------------------------------------------------------------------ */

static int reader_init(struct archive_reader *rd, int fd, size_t chunk)
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
static const unsigned char *reader_get(struct archive_reader *rd, uint64_t off, size_t n)
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

int archive_read_record(struct archive_reader *rd, uint64_t off, bool check, struct archive_rec *r,
			uint64_t *next)
{
	const unsigned char *h = reader_get(rd, off, HDR_LEN), *b;
	uint32_t body_len, crc;
	uint64_t lens;

	if (h == NULL)
		return rd->err ? ARCHIVE_REC_IOERR : ARCHIVE_REC_INVALID;
	body_len = le_get32(h + 8);
	crc = le_get32(h + 12);
	if (le_get32(h) != REC_MAGIC || h[4] != REC_VERSION || h[5] != 0 || le_get16(h + 6) != 0 ||
	    body_len < BODY_FIXED || body_len > ARCHIVE_BODY_MAX || body_len > rd->size - off - HDR_LEN)
		return ARCHIVE_REC_INVALID;
	b = reader_get(rd, off + HDR_LEN, check ? body_len : BODY_FIXED);
	if (b == NULL)
		return rd->err ? ARCHIVE_REC_IOERR : ARCHIVE_REC_INVALID;
	r->flushed_ms = (int64_t)le_get64(b);
	r->expire_ms = (int64_t)le_get64(b + 8);
	r->db = le_get32(b + 16);
	r->shard_len = le_get16(b + 20);
	r->key_len = le_get32(b + 22);
	r->payload_len = le_get32(b + 26);
	lens = (uint64_t)r->shard_len + r->key_len + r->payload_len;
	if (lens != body_len - BODY_FIXED)
		return ARCHIVE_REC_INVALID;
	if (check && crc32c(b, body_len) != crc)
		return ARCHIVE_REC_INVALID;
	r->shard = check ? (const char *)b + BODY_FIXED : NULL;
	r->key = check ? r->shard + r->shard_len : NULL;
	r->payload = check ? r->key + r->key_len : NULL;
	*next = off + HDR_LEN + body_len;
	return ARCHIVE_REC_OK;
}

uint64_t archive_resync(struct archive_reader *rd, uint64_t from)
{
	static const unsigned char magic[4] = {0x47, 0x43, 0x53, 0x41};

	while (from + HDR_LEN + BODY_FIXED <= rd->size) {
		uint64_t left = rd->size - from, next;
		size_t n = left < ARCHIVE_WALK_CHUNK ? (size_t)left : ARCHIVE_WALK_CHUNK;
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
		switch (archive_read_record(rd, from, true, &r, &next)) {
		case ARCHIVE_REC_OK:
			return from;
		case ARCHIVE_REC_IOERR:
			return (uint64_t)-1;
		}
		from++;
	}
	return rd->size;
}

int archive_open_segment(const char *path, int flags, struct archive_reader *rd, size_t chunk)
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
	m = reader_get(rd, 0, ARCHIVE_FILE_MAGIC_LEN);
	if (m == NULL && rd->err) {
		free(rd->buf);
		close(fd);
		errno = rd->err;
		return -1;
	}
	return m != NULL && memcmp(m, ARCHIVE_FILE_MAGIC, ARCHIVE_FILE_MAGIC_LEN) == 0;
}

void archive_reader_close(struct archive_reader *rd)
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

	if (archive_list_segments(dir, false, &seqs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char *path = archive_seg_path(dir, seqs[i], "");
		bool newest = i == n - 1;
		struct archive_reader rd;
		uint64_t off = ARCHIVE_FILE_MAGIC_LEN, next;
		int valid = archive_open_segment(path, O_RDONLY, &rd, ARCHIVE_READ_CHUNK);

		if (valid < 0) {
			if (errno != ENOENT) {	/* else deleted by retention meanwhile */
				*err = xasprintf("%s: %s", path, strerror(errno));
				ret = -1;
			}
			free(path);
			continue;
		}
		if (!valid) {
			bad += !newest || rd.size >= ARCHIVE_FILE_MAGIC_LEN;
			off = rd.size;
		}
		while (off < rd.size && ret == 0) {
			struct archive_rec r;

			switch (archive_read_record(&rd, off, true, &r, &next)) {
			case ARCHIVE_REC_OK:
				if (fn(arg, &r, path, off) != 0)
					ret = 1;
				off = next;
				continue;
			case ARCHIVE_REC_INVALID:
				next = archive_resync(&rd, off + 1);
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
		archive_reader_close(&rd);
		free(path);
	}
	free(seqs);
	if (corrupt != NULL)
		*corrupt = bad;
	return ret;
}
