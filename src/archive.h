/* archive: a shard's append-only, checksummed segment files of flushed
 * entries, written durably before the entries are deleted from Redis.
 * The file format is described at the top of archive.c, which also reads
 * it (archive_scan); the writer is archive_write.c. */
#ifndef GCS_ARCHIVE_H
#define GCS_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ARCHIVE_BODY_MAX (512u << 20)	/* a record body's upper bound, in bytes */
#define ARCHIVE_SHARD_MAX 65535u	/* a shard name's upper bound, in bytes */

/* One archived entry. */
struct archive_rec {
	const char *shard;
	size_t shard_len;
	uint32_t db;
	const char *key;		/* binary */
	size_t key_len;
	int64_t expire_ms;		/* absolute unix ms, or -1: no expiry */
	const char *payload;		/* Redis DUMP output, binary */
	size_t payload_len;
	int64_t flushed_ms;		/* unix ms when it was archived */
};

struct archive_stats {
	uint64_t bytes;			/* all segments, the active one included */
	uint32_t segments;
	int64_t oldest_flushed_ms;	/* -1 if there is no record */
	uint64_t records_total;		/* records in all segments */
};

/* A shard's writer. */
struct archive;

/* dir: the shard's archive directory (created 0750 if missing, its parent
 * must exist).  Takes an exclusive flock() on dir, so a second writer is
 * refused.  Reads the headers of all segments (for the statistics and
 * retention) and checks every record of the newest one: a torn or corrupt
 * tail (bad checksum, short record) is cut off and *cut_bytes says how much
 * (0: none).  If valid records follow a corrupt one, nothing is cut: the
 * segment is left for archive_scan() to salvage, appending goes on in a new
 * segment, and archive_warning() says so.  NULL with *err on failure. */
struct archive *archive_open(const char *dir, uint64_t segment_bytes, int64_t *cut_bytes, char **err);

/* Closes the writer; records added but not committed are dropped. */
void archive_close(struct archive *a);

/* A note from archive_open() about damage it found but did not cut, or NULL. */
const char *archive_warning(const struct archive *a);

/* Buffers a copy of the record in memory.  Returns 0, or -1 (and nothing is
 * buffered) if the record cannot be represented: a shard name longer than
 * ARCHIVE_SHARD_MAX or a body larger than ARCHIVE_BODY_MAX.  The caller must
 * not delete such a key: it is not archived. */
int archive_add(struct archive *a, const struct archive_rec *r);

/* Records encoded ahead, by a caller that hands them over at once (a
 * flush chunk's: its records then belong to one commit, and records of a
 * chunk that is given up never reach the archive). */
struct archive_batch {
	struct buf data;
	size_t n;
	int64_t min_ms, max_ms;		/* flushed_ms range */
};

void archive_batch_init(struct archive_batch *b);
void archive_batch_free(struct archive_batch *b);
/* Encodes a copy of r into b: 0, or -1 as archive_add. */
int archive_batch_add(struct archive_batch *b, const struct archive_rec *r);
/* Buffers b's records as archive_add would, and empties b. */
void archive_add_batch(struct archive *a, struct archive_batch *b);

/* Records buffered and not yet committed. */
size_t archive_pending(const struct archive *a);
/* Forgets them: their keys are not going to be deleted after all. */
void archive_discard(struct archive *a);

/* Writes the buffered records and fdatasync()s them.  0 on success (also
 * when nothing is buffered).  On failure: -1, *err (for example "write
 * /x/seg-0000000003.gca: No space left on device") and the errno in *errnum;
 * the segment is cut back to its size before this commit, the buffer is
 * discarded (the caller keeps the keys and retries later), and the writer
 * stays usable.  Before writing, rolls over to a new segment when the
 * current one has reached segment_bytes. */
int archive_commit(struct archive *a, int *errnum, char **err);

/* archive_commit in three steps, so that the writing and the fdatasync can
 * run on another thread (the store's worker) while the loop goes on:
 *   begin, on the owner's thread, takes the buffered records (NULL when
 *     there are none); records added afterwards wait for the next commit;
 *   run, on any thread, writes and syncs them, touching only c and the
 *     files;
 *   end, on the owner's thread, applies the outcome (as archive_commit's
 *     return, *errnum and *err) and frees c.
 * One commit at a time, and between begin and end the owner may only add
 * records and read the statistics: no other commit, retention or close. */
struct archive_commit;
struct archive_commit *archive_commit_begin(struct archive *a);
void archive_commit_run(struct archive_commit *c);
int archive_commit_end(struct archive *a, struct archive_commit *c, int *errnum, char **err);

/* Deletes whole oldest segments, never the one being written, while the
 * total size exceeds max_bytes (0: no limit) or the oldest segment's newest
 * record is older than now_ms - max_age_ms (0: no limit).  Returns how many
 * segments were deleted. */
int archive_retain(struct archive *a, uint64_t max_bytes, int64_t max_age_ms, int64_t now_ms);
/* The same in three steps, as a commit (and under the same rule: not
 * while a commit runs): begin chooses the segments (NULL: none), run
 * unlinks them and syncs the directory on any thread, end forgets the
 * deleted ones and returns how many. */
struct archive_retention;
struct archive_retention *archive_retain_begin(struct archive *a, uint64_t max_bytes, int64_t max_age_ms,
					       int64_t now_ms);
void archive_retain_run(struct archive_retention *r);
int archive_retain_end(struct archive *a, struct archive_retention *r);

void archive_stats(const struct archive *a, struct archive_stats *st);

/* Reading, for restore and listing; works while a writer appends.  Calls fn
 * for every valid record of every segment in dir, oldest segment first, in
 * order; segment is the segment file's path and offset the record's offset
 * in it.  r and its pointers are valid only during the call.  fn returns 0
 * to go on, non-zero to stop.
 *
 * A damaged stretch (bad magic, version, lengths or checksum) is skipped:
 * the reader looks for the next valid record after it, and *corrupt (if not
 * NULL) counts the damaged stretches.  A torn tail of the newest segment (an
 * interrupted or in-progress write, which the writer cuts when it starts) is
 * not counted.
 *
 * Returns 0 after the last record, 1 if fn stopped the scan, -1 with *err on
 * an I/O error (a missing dir included). */
typedef int archive_scan_fn(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset);
int archive_scan(const char *dir, archive_scan_fn *fn, void *arg, unsigned *corrupt, char **err);

#endif
