/* archive_int: what the archive's two files share, and nobody else may
 * use.  archive.c owns the format (segment names, the record encoding, what
 * a valid record is) and reading it; archive_write.c owns the writer, which
 * reads through these functions when it opens an archive and encodes with
 * archive_encode.  Callers use archive.h only. */
#ifndef GCS_ARCHIVE_INT_H
#define GCS_ARCHIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "util.h"

#define ARCHIVE_FILE_MAGIC "GCSARCH1"
#define ARCHIVE_FILE_MAGIC_LEN 8
#define ARCHIVE_SEQ_MAX 9999999999ull	/* ten digits in a segment's name */
#define ARCHIVE_READ_CHUNK (1u << 20)	/* reading whole records */
#define ARCHIVE_WALK_CHUNK (64u << 10)	/* walking headers, or looking for a magic */

/* ---- segment names ---- */

/* DIR/seg-NNNNNNNNNN.gca, then suffix ("" or ".tmp"); malloc'ed. */
char *archive_seg_path(const char *dir, uint64_t seq, const char *suffix);
/* The segments' sequence numbers, sorted; with clean_tmp (a writer) also
 * removes leftover .tmp files.  -1 with *err if dir cannot be read. */
int archive_list_segments(const char *dir, bool clean_tmp, uint64_t **seqs, size_t *n, char **err);

/* ---- records ---- */

/* Appends r to b as one record, checksummed.  -1 with errno EFBIG (and b
 * unchanged) if r cannot be represented: a shard name longer than
 * ARCHIVE_SHARD_MAX or a body larger than ARCHIVE_BODY_MAX. */
int archive_encode(struct buf *b, const struct archive_rec *r);

/* A window on a file read with pread(), so that walking small records costs
 * few system calls and a large one is read in one go. */
struct archive_reader {
	int fd;
	uint64_t size;		/* the file's size when opened */
	size_t chunk;		/* how much to read at least */
	unsigned char *buf;
	size_t cap;
	uint64_t boff;		/* the file offset of buf[0] */
	size_t blen;
	int err;		/* errno of a failed read, else 0 */
};

/* Opens a segment and checks its file magic: 1 valid, 0 not a segment (or
 * too short), -1 with errno on an error. */
int archive_open_segment(const char *path, int flags, struct archive_reader *rd, size_t chunk);
/* Frees the window and closes the file. */
void archive_reader_close(struct archive_reader *rd);

enum { ARCHIVE_REC_OK, ARCHIVE_REC_INVALID, ARCHIVE_REC_IOERR };

/* Reads the record at off into *r (its pointers into the reader's window)
 * and sets *next past it: ARCHIVE_REC_*.  With check false only the header
 * and the fixed part of the body are read: enough for flushed_ms, not for
 * the CRC. */
int archive_read_record(struct archive_reader *rd, uint64_t off, bool check, struct archive_rec *r,
			uint64_t *next);
/* The offset of the first valid record at or after from; rd->size if none,
 * (uint64_t)-1 on a read error. */
uint64_t archive_resync(struct archive_reader *rd, uint64_t from);

#endif
