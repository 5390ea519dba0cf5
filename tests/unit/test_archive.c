/* Unit tests for the archive: round trip of binary records, rollover,
 * torn tails, checksum failures, retention, failed commits (provoked with
 * RLIMIT_FSIZE, which applies to root too) and the writer's lock. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "util.h"
#include "tap.h"

static char dir[] = "archive-test.XXXXXX";

/* ---- helpers ----------------------------------------------------------------- */

struct got {
	struct archive_rec r[64];
	char *mem[64];		/* shard, key and payload of r[i], back to back */
	char seg[64][256];
	uint64_t off[64];
	size_t n;
	size_t stop_after;	/* 0: never stop */
};

static int collect(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset)
{
	struct got *g = arg;
	char *m;

	if (g->n == ARRAY_SIZE(g->r))
		return 1;
	m = xmalloc(r->shard_len + r->key_len + r->payload_len + 1);
	memcpy(m, r->shard, r->shard_len);
	memcpy(m + r->shard_len, r->key, r->key_len);
	memcpy(m + r->shard_len + r->key_len, r->payload, r->payload_len);
	g->mem[g->n] = m;
	g->r[g->n] = *r;
	g->r[g->n].shard = m;
	g->r[g->n].key = m + r->shard_len;
	g->r[g->n].payload = m + r->shard_len + r->key_len;
	snprintf(g->seg[g->n], sizeof(g->seg[0]), "%s", segment);
	g->off[g->n] = offset;
	g->n++;
	return g->stop_after != 0 && g->n == g->stop_after;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->mem[i]);
	g->n = 0;
}

/* Scans dir into g; returns archive_scan()'s result. */
static int scan(struct got *g, unsigned *corrupt)
{
	char *err = NULL;
	int rc;

	got_free(g);
	rc = archive_scan(dir, collect, g, corrupt, &err);
	if (rc < 0) {
		printf("# scan: %s\n", err);
		free(err);
	}
	return rc;
}

static bool same_rec(const struct archive_rec *a, const struct archive_rec *b)
{
	return a->shard_len == b->shard_len && memcmp(a->shard, b->shard, a->shard_len) == 0 && a->db == b->db &&
	       a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0 && a->expire_ms == b->expire_ms &&
	       a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0 &&
	       a->flushed_ms == b->flushed_ms;
}

/* A record "key:i" with a binary payload of len bytes. */
static struct archive_rec mkrec(int i, char *key, size_t keycap, char *payload, size_t len)
{
	struct archive_rec r = {.shard = "shard-a", .shard_len = 7, .db = (uint32_t)i % 16, .expire_ms = -1};

	r.key_len = (size_t)snprintf(key, keycap, "key:%d", i);
	for (size_t j = 0; j < len; j++)
		payload[j] = (char)(j * 7 + (size_t)i);
	r.key = key;
	r.payload = payload;
	r.payload_len = len;
	r.flushed_ms = 1700000000000 + i * 1000;
	if (i % 2)
		r.expire_ms = 1800000000000 + i;
	return r;
}

/* Adds and commits records first..last-1 with payloads of len bytes. */
static int add_range(struct archive *a, int first, int last, size_t len)
{
	char key[32], *payload = xmalloc(len ? len : 1), *err = NULL;
	int errnum = 0, rc;

	for (int i = first; i < last; i++) {
		struct archive_rec r = mkrec(i, key, sizeof(key), payload, len);

		archive_add(a, &r);
	}
	free(payload);
	rc = archive_commit(a, &errnum, &err);
	if (rc < 0) {
		printf("# commit: %s\n", err);
		free(err);
	}
	return rc;
}

/* Do the scanned records have keys first..last-1, in order? */
static bool keys_are(const struct got *g, int first, int last)
{
	char key[32];

	if (g->n != (size_t)(last - first))
		return false;
	for (int i = first; i < last; i++) {
		size_t n = (size_t)snprintf(key, sizeof(key), "key:%d", i);
		const struct archive_rec *r = &g->r[i - first];

		if (r->key_len != n || memcmp(r->key, key, n) != 0)
			return false;
	}
	return true;
}

static char *path_of(unsigned seq)
{
	return xasprintf("%s/seg-%010u.gca", dir, seq);
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

static void append_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		printf("# append to %s failed\n", path);
	close(fd);
}

/* Flips one bit at offset off of path. */
static void flip(const char *path, long long off)
{
	int fd = open(path, O_RDWR);
	unsigned char c = 0;

	if (fd < 0 || pread(fd, &c, 1, off) != 1)
		printf("# flip in %s failed\n", path);
	c ^= 0x10;
	if (pwrite(fd, &c, 1, off) != 1)
		printf("# flip in %s failed\n", path);
	close(fd);
}

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d != NULL)
		closedir(d);
}

static struct archive *open_ok(uint64_t segment_bytes, int64_t *cut)
{
	char *err = NULL;
	struct archive *a = archive_open(dir, segment_bytes, cut, &err);

	if (a == NULL) {
		printf("# open: %s\n", err);
		free(err);
	}
	return a;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_round_trip(void)
{
	static const char payload[] = "\x0e\x01\x00\xff\r\n payload \x09\x00\x12";
	struct archive_rec recs[3] = {
		{.shard = "s1", .shard_len = 2, .db = 0, .key = "plain", .key_len = 5, .expire_ms = -1,
		 .payload = payload, .payload_len = sizeof(payload) - 1, .flushed_ms = 1700000000123},
		{.shard = "s1", .shard_len = 2, .db = 15, .key = "bin\0key\n", .key_len = 8, .expire_ms = 1800000000456,
		 .payload = "", .payload_len = 0, .flushed_ms = 1700000000100},
		{.shard = "", .shard_len = 0, .db = UINT32_MAX, .key = "", .key_len = 0, .expire_ms = INT64_MAX,
		 .payload = payload, .payload_len = 1, .flushed_ms = 1700000000200},
	};
	struct archive_stats st;
	struct got g = {.n = 0};
	struct archive *a;
	int64_t cut = -1;
	unsigned corrupt = 99;
	char *seg1 = path_of(1), *err = NULL;
	int errnum = 0;

	a = open_ok(1 << 20, &cut);
	ok(a != NULL && cut == 0 && archive_warning(a) == NULL, "open an empty archive directory");
	archive_stats(a, &st);
	ok(st.bytes == 0 && st.segments == 0 && st.oldest_flushed_ms == -1 && st.records_total == 0,
	   "an empty archive's statistics");
	ok(archive_commit(a, &errnum, &err) == 0 && file_size(seg1) == -1, "an empty commit writes nothing");
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		archive_add(a, &recs[i]);
	ok(archive_pending(a) == 3, "three records pending");
	ok(archive_commit(a, &errnum, &err) == 0 && archive_pending(a) == 0, "commit");
	ok(scan(&g, &corrupt) == 0 && g.n == 3 && corrupt == 0, "scan finds the three records");
	ok(g.n == 3 && same_rec(&g.r[0], &recs[0]) && same_rec(&g.r[1], &recs[1]) && same_rec(&g.r[2], &recs[2]),
	   "binary keys and payloads, db, expiry and flush time round-trip");
	ok(g.n == 3 && g.off[0] == 8 && g.off[1] == 8 + 16 + 30 + 2 + 5 + sizeof(payload) - 1, "record offsets");
	is_str(g.seg[0], seg1, "the segment's path is passed");
	archive_stats(a, &st);
	ok(st.bytes == (uint64_t)file_size(seg1) && st.segments == 1 && st.oldest_flushed_ms == 1700000000100 &&
	   st.records_total == 3, "statistics after a commit");
	archive_close(a);

	a = open_ok(1 << 20, &cut);
	archive_stats(a, &st);
	ok(a != NULL && cut == 0 && st.records_total == 3 && st.oldest_flushed_ms == 1700000000100 &&
	   st.bytes == (uint64_t)file_size(seg1), "reopen: nothing cut, statistics rebuilt");
	archive_add(a, &recs[0]);
	ok(archive_commit(a, &errnum, &err) == 0 && scan(&g, NULL) == 0 && g.n == 4 && same_rec(&g.r[3], &recs[0]),
	   "appending after a reopen");
	g.stop_after = 2;
	ok(scan(&g, NULL) == 1 && g.n == 2, "the callback stops the scan");
	g.stop_after = 0;
	got_free(&g);
	archive_close(a);
	free(seg1);
	empty_dir();
}

static void test_limits(void)
{
	char *shard = xcalloc(1, ARCHIVE_SHARD_MAX + 1), *err = NULL;
	struct archive_rec r = {.shard = shard, .shard_len = ARCHIVE_SHARD_MAX + 1, .key = "k", .key_len = 1,
				.payload = "", .expire_ms = -1};
	struct archive *a = open_ok(0, &(int64_t){0});
	struct archive *b;
	int64_t cut;
	int rc;

	ok(archive_add(a, &r) < 0 && archive_pending(a) == 0, "a shard name over 65535 bytes is refused");
	r.shard_len = 1;
	r.payload_len = ARCHIVE_BODY_MAX;	/* never read: refused before */
	ok(archive_add(a, &r) < 0 && errno == EFBIG && archive_pending(a) == 0, "a body over 512 MiB is refused");
	b = archive_open(dir, 0, &cut, &err);
	ok(b == NULL && err != NULL && strstr(err, "in use by another process") != NULL, "a second writer is refused");
	free(err);
	archive_close(a);
	b = open_ok(0, &cut);
	ok(b != NULL, "the lock goes with archive_close");
	archive_close(b);
	err = NULL;
	rc = archive_scan("no-such-archive-dir", collect, NULL, NULL, &err);
	ok(rc < 0 && err != NULL && strstr(err, "No such file") != NULL, "scanning a missing directory fails: %s",
	   err ? err : "");
	free(err);
	free(shard);
	empty_dir();
}

static void test_rollover(void)
{
	struct archive *a = open_ok(300, &(int64_t){0});
	struct archive_stats st;
	struct got g = {.n = 0};
	char *s1 = path_of(1), *s2 = path_of(2), *s3 = path_of(3), *s4 = path_of(4);
	bool ordered = true;

	ok(add_range(a, 0, 2, 100) == 0, "commit 2 records (about 300 bytes)");
	ok(add_range(a, 2, 4, 100) == 0 && add_range(a, 4, 5, 10) == 0 && add_range(a, 5, 7, 100) == 0,
	   "three more commits");
	ok(file_size(s1) > 300 && file_size(s2) > 300 && file_size(s3) > 0 && file_size(s4) == -1,
	   "segments roll over at segment_bytes, before a commit");
	archive_stats(a, &st);
	ok(st.segments == 3 && st.records_total == 7 &&
	   st.bytes == (uint64_t)(file_size(s1) + file_size(s2) + file_size(s3)), "statistics across segments");
	ok(scan(&g, NULL) == 0 && keys_are(&g, 0, 7), "scan reads the segments oldest first, in order");
	for (size_t i = 1; i < g.n; i++)
		ordered &= strcmp(g.seg[i - 1], g.seg[i]) <= 0;
	ok(ordered && strcmp(g.seg[6], s3) == 0, "records come with their segment");
	archive_close(a);

	/* A leftover .tmp from a crash while creating a segment is removed. */
	{
		char *tmp = xasprintf("%s.tmp", s4);

		close(open(tmp, O_WRONLY | O_CREAT, 0640));
		a = open_ok(300, &(int64_t){0});
		ok(file_size(tmp) == -1, "a leftover .tmp segment is removed on open");
		ok(add_range(a, 7, 8, 10) == 0 && file_size(s4) > 0, "and the next segment is created in its place");
		free(tmp);
	}
	archive_close(a);
	got_free(&g);
	free(s1), free(s2), free(s3), free(s4);
	empty_dir();
}

static void test_torn_tail(void)
{
	struct archive *a = open_ok(1 << 20, &(int64_t){0});
	struct got g = {.n = 0};
	char *s1 = path_of(1);
	static const char zeros[100];
	long long good;
	int64_t cut = -1;
	unsigned corrupt = 99;
	int fd;

	add_range(a, 0, 3, 50);
	archive_close(a);
	good = file_size(s1);

	/* Half a record, as a crash in the middle of a write leaves it. */
	fd = open(s1, O_RDONLY);
	{
		char rec[60];

		if (pread(fd, rec, sizeof(rec), 8) != (ssize_t)sizeof(rec))
			printf("# short read\n");
		append_bytes(s1, rec, sizeof(rec));
	}
	close(fd);
	ok(scan(&g, &corrupt) == 0 && keys_are(&g, 0, 3) && corrupt == 0,
	   "a reader skips the newest segment's torn tail without calling it corrupt");
	a = open_ok(1 << 20, &cut);
	ok(a != NULL && cut == 60 && file_size(s1) == good, "open cuts the 60-byte torn tail");
	ok(archive_warning(a) == NULL, "no warning for a torn tail");
	ok(add_range(a, 3, 4, 50) == 0 && scan(&g, &corrupt) == 0 && keys_are(&g, 0, 4) && corrupt == 0,
	   "appending goes on right after the last whole record");
	archive_close(a);

	/* Zeros, as some file systems show an extended file after a crash. */
	good = file_size(s1);
	append_bytes(s1, zeros, sizeof(zeros));
	a = open_ok(1 << 20, &cut);
	ok(cut == 100 && file_size(s1) == good, "a tail of zeros is cut too");
	archive_close(a);

	/* A short header. */
	append_bytes(s1, "GCSA\x01", 5);
	a = open_ok(1 << 20, &cut);
	ok(cut == 5 && file_size(s1) == good, "a torn header is cut");
	archive_close(a);
	got_free(&g);
	free(s1);
	empty_dir();
}

static void test_checksum(void)
{
	struct archive *a = open_ok(500, &(int64_t){0});
	struct got g = {.n = 0};
	char *s1 = path_of(1), *s2 = path_of(2), *s3 = path_of(3);
	const long long rec = 16 + 30 + 7 + 5 + 100;	/* "key:N" records of 100 bytes */
	long long size2;
	int64_t cut = -1;
	unsigned corrupt = 99;

	add_range(a, 0, 4, 100);	/* segment 1: 0-3 */
	add_range(a, 4, 8, 100);	/* segment 2: 4-7 */
	archive_close(a);

	/* A bit flipped in record 1's payload (in an older segment). */
	flip(s1, 8 + rec + 16 + 30 + 7 + 5 + 50);
	ok(scan(&g, &corrupt) == 0 && corrupt == 1 && g.n == 7, "a checksum failure is reported");
	ok(g.n == 7 && g.r[0].key_len == 5 && memcmp(g.r[1].key, "key:2", 5) == 0 &&
	   memcmp(g.r[6].key, "key:7", 5) == 0, "the reader resumes at the next valid record");

	/* A flipped length in a header is a damaged stretch as well. */
	flip(s1, 8 + 3 * rec + 9);
	ok(scan(&g, &corrupt) == 0 && corrupt == 2 && g.n == 6, "a bad length in the last record of an old segment");

	/* The newest segment's last record damaged: a torn tail, cut on open. */
	size2 = file_size(s2);
	flip(s2, size2 - 1);
	ok(scan(&g, &corrupt) == 0 && corrupt == 2 && g.n == 5, "the newest segment's damaged last record is skipped");
	a = open_ok(500, &cut);
	ok(cut == rec && file_size(s2) == size2 - rec, "and cut on open (%" PRId64 " bytes)", cut);
	archive_close(a);

	/* Damage in the middle of the newest segment: nothing is cut, the
	 * records after it stay readable, and writing moves to a new segment. */
	flip(s2, 8 + rec + 20);
	size2 = file_size(s2);
	a = open_ok(1 << 20, &cut);
	ok(a != NULL && cut == 0 && file_size(s2) == size2, "damage before valid records is not cut");
	ok(archive_warning(a) != NULL && strstr(archive_warning(a), "damaged bytes at offset") != NULL,
	   "but a warning says so: %s", archive_warning(a) ? archive_warning(a) : "");
	ok(add_range(a, 8, 9, 10) == 0 && file_size(s2) == size2 && file_size(s3) > 0,
	   "the next commit goes to a new segment");
	ok(scan(&g, &corrupt) == 0 && corrupt == 3 && g.n == 5 && memcmp(g.r[3].key, "key:6", 5) == 0 &&
	   memcmp(g.r[4].key, "key:8", 5) == 0, "everything valid is still read");
	{
		struct archive_stats st;

		archive_stats(a, &st);
		ok(st.segments == 3 && st.records_total == 6, "statistics count what the writer could see (%" PRIu64 ")",
		   st.records_total);
	}
	archive_close(a);

	/* Not a segment at all. */
	{
		int fd = open(s3, O_WRONLY | O_TRUNC);

		if (fd < 0 || write(fd, "NOTANARCHIVE", 12) != 12)
			printf("# write failed\n");
		close(fd);
	}
	a = open_ok(1 << 20, &cut);
	ok(a != NULL && archive_warning(a) != NULL && strstr(archive_warning(a), "not an archive segment") != NULL,
	   "a foreign file is left alone, with a warning");
	ok(add_range(a, 9, 10, 10) == 0 && file_size(s3) == 12, "and not appended to");
	archive_close(a);
	ok(scan(&g, &corrupt) == 0 && corrupt == 4 && g.n == 5, "the reader counts it as corrupt");
	got_free(&g);
	free(s1), free(s2), free(s3);
	empty_dir();
}

static void test_retention(void)
{
	struct archive *a = open_ok(200, &(int64_t){0});
	struct archive_stats st;
	struct got g = {.n = 0};
	char *s1 = path_of(1), *s2 = path_of(2);
	const int64_t t0 = 1700000000000;	/* mkrec: record i was flushed at t0 + i s */
	uint64_t seg_size;

	for (int i = 0; i < 5; i++)
		add_range(a, 2 * i, 2 * i + 2, 100);	/* 5 segments of 2 records */
	archive_stats(a, &st);
	seg_size = st.bytes / 5;
	ok(st.segments == 5 && st.bytes == 5 * seg_size, "5 segments of %" PRIu64 " bytes", seg_size);
	ok(archive_retain(a, 0, 0, t0 + 1000000) == 0, "no limits: nothing deleted");
	ok(archive_retain(a, 5 * seg_size, 0, t0) == 0, "at the size limit: nothing deleted");
	ok(archive_retain(a, 4 * seg_size - 1, 0, t0) == 2, "over it: the two oldest segments go");
	archive_stats(a, &st);
	ok(st.segments == 3 && st.bytes == 3 * seg_size && st.records_total == 6 && st.oldest_flushed_ms == t0 + 4000 &&
	   file_size(s1) == -1 && file_size(s2) == -1, "statistics after retention");
	/* Segment 3 holds records 4 and 5: its newest was flushed at t0 + 5 s. */
	ok(archive_retain(a, 0, 1000, t0 + 6000) == 0, "a segment whose newest record is not too old stays");
	ok(archive_retain(a, 0, 1000, t0 + 6001) == 1, "one whose newest record is too old goes");
	ok(archive_retain(a, 0, 1, INT64_MAX / 2) == 1 && archive_retain(a, 1, 0, t0) == 0,
	   "the active segment is never deleted, whatever the limits");
	archive_stats(a, &st);
	ok(st.segments == 1 && st.records_total == 2 && scan(&g, NULL) == 0 && keys_are(&g, 8, 10),
	   "what is left is the active segment");
	ok(add_range(a, 10, 11, 10) == 0 && scan(&g, NULL) == 0 && keys_are(&g, 8, 11), "and writing goes on");
	archive_close(a);
	got_free(&g);
	free(s1), free(s2);
	empty_dir();
}

static void set_fsize_limit(rlim_t soft)
{
	struct rlimit rl;

	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = soft == RLIM_INFINITY ? rl.rlim_max : soft;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		printf("# setrlimit: %s\n", strerror(errno));
}

static void test_write_failure(void)
{
	struct archive *a = open_ok(800, &(int64_t){0});
	struct archive_stats st;
	struct got g = {.n = 0};
	char *s1 = path_of(1), *s2 = path_of(2), *err = NULL, *tmp2 = xasprintf("%s.tmp", s2);
	char key[32], payload[100];
	long long good;
	int errnum = 0;

	signal(SIGXFSZ, SIG_IGN);	/* write() fails with EFBIG past the limit instead */
	add_range(a, 0, 2, 100);
	good = file_size(s1);

	/* The limit falls inside the commit: part of it is written, then EFBIG. */
	set_fsize_limit((rlim_t)good + 200);
	for (int i = 2; i < 5; i++) {
		struct archive_rec r = mkrec(i, key, sizeof(key), payload, sizeof(payload));

		archive_add(a, &r);
	}
	ok(archive_commit(a, &errnum, &err) < 0 && errnum == EFBIG, "a failed write fails the commit");
	ok(err != NULL && strncmp(err, "write ", 6) == 0 && strstr(err, s1) != NULL && strstr(err, "too large") != NULL,
	   "the error names the call and the segment: %s", err ? err : "");
	free(err);
	err = NULL;
	ok(file_size(s1) == good, "the segment is cut back to its last good size");
	ok(archive_pending(a) == 0, "the buffer is discarded");
	archive_stats(a, &st);
	ok(st.records_total == 2 && st.bytes == (uint64_t)good, "statistics unchanged");
	ok(add_range(a, 5, 6, 10) == 0, "a small commit that fits succeeds");
	set_fsize_limit(RLIM_INFINITY);
	ok(add_range(a, 6, 9, 100) == 0, "once writes work again, commits succeed");
	ok(scan(&g, NULL) == 0 && g.n == 6 && memcmp(g.r[1].key, "key:1", 5) == 0 && memcmp(g.r[2].key, "key:5", 5) == 0 &&
	   memcmp(g.r[5].key, "key:8", 5) == 0, "only committed records are in the archive");

	/* Creating the next segment fails (s1 is over 800 bytes now). */
	set_fsize_limit(4);
	ok(add_range(a, 9, 10, 10) < 0 && file_size(s2) == -1 && file_size(tmp2) == -1,
	   "a failed rollover leaves no segment behind");
	set_fsize_limit(100);
	ok(add_range(a, 9, 10, 100) < 0 && file_size(s2) == 8 && file_size(tmp2) == -1,
	   "a write failing right after a rollover leaves the new segment empty");
	set_fsize_limit(RLIM_INFINITY);
	ok(add_range(a, 10, 11, 10) == 0 && file_size(s2) > 8, "and the next commit goes on there");
	ok(scan(&g, NULL) == 0 && g.n == 7 && memcmp(g.r[6].key, "key:10", 6) == 0 && strcmp(g.seg[6], s2) == 0,
	   "the record went to the new segment");
	archive_close(a);
	signal(SIGXFSZ, SIG_DFL);
	got_free(&g);
	free(s1), free(s2), free(tmp2);
	empty_dir();
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip();
	test_limits();
	test_rollover();
	test_torn_tail();
	test_checksum();
	test_retention();
	test_write_failure();
	empty_dir();
	rmdir(dir);
	return tap_done();
}
