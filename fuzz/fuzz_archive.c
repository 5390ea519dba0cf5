/* fuzz_archive: one archive segment file with fuzzed contents.
 *
 * 1. archive_scan() over a directory holding it as the only (newest)
 *    segment, then as an older one (a valid empty segment after it): it
 *    ends, and finds exactly the records, damaged stretches and torn tail
 *    that a plain byte-by-byte reading of the format in archive.c finds.
 * 2. archive_open() on it (the writer's check of the newest segment): it
 *    cuts only a torn tail, counts every valid record, and a record
 *    appended after it is read back last, after all the old ones. */
#include "config.h"

#include <sys/stat.h>

#include "archive.h"
#include "crc32c.h"
#include "fuzz.h"
#include "log.h"

struct rec {
	uint64_t off;
	struct archive_rec r;
	char *mem;
};

struct recs {
	struct rec *v;
	size_t n, cap;
	char *segment;		/* the only segment the records may come from */
	char last[512];		/* the segment of the last record */
};

static void recs_add(struct recs *l, uint64_t off, const struct archive_rec *r)
{
	struct rec *x;
	size_t len = r->shard_len + r->key_len + r->payload_len;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	x = &l->v[l->n++];
	x->off = off;
	x->r = *r;
	x->mem = xmalloc(len + 1);
	memcpy(x->mem, r->shard, r->shard_len);
	memcpy(x->mem + r->shard_len, r->key, r->key_len);
	memcpy(x->mem + r->shard_len + r->key_len, r->payload, r->payload_len);
	x->r.shard = x->mem;
	x->r.key = x->mem + r->shard_len;
	x->r.payload = x->r.key + r->key_len;
}

static void recs_free(struct recs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].mem);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool same_rec(const struct rec *a, const struct rec *b)
{
	return a->off == b->off && a->r.flushed_ms == b->r.flushed_ms && a->r.expire_ms == b->r.expire_ms &&
	       a->r.db == b->r.db && a->r.shard_len == b->r.shard_len && a->r.key_len == b->r.key_len &&
	       a->r.payload_len == b->r.payload_len &&
	       memcmp(a->mem, b->mem, a->r.shard_len + a->r.key_len + a->r.payload_len) == 0;
}

static void check_same(const struct recs *want, const struct recs *got, size_t n)
{
	FUZZ_CHECK(got->n >= n && want->n >= n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(same_rec(&want->v[i], &got->v[i]));
}

/* ---- the format, read the plain way ------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The record at off if it is valid, with *next past it. */
static bool valid_at(const uint8_t *d, size_t size, size_t off, struct archive_rec *r, size_t *next)
{
	const uint8_t *h = d + off, *b = h + 16;
	uint32_t body_len;

	if (size - off < 16 || le32(h) != 0x41534347u || h[4] != 1 || h[5] != 0 || h[6] != 0 || h[7] != 0)
		return false;
	body_len = le32(h + 8);
	if (body_len < 30 || body_len > ARCHIVE_BODY_MAX || body_len > size - off - 16)
		return false;
	r->shard_len = (size_t)(b[20] | b[21] << 8);
	r->key_len = le32(b + 22);
	r->payload_len = le32(b + 26);
	if ((uint64_t)r->shard_len + r->key_len + r->payload_len != body_len - 30u)
		return false;
	if (crc32c(b, body_len) != le32(h + 12))
		return false;
	r->flushed_ms = (int64_t)le64(b);
	r->expire_ms = (int64_t)le64(b + 8);
	r->db = le32(b + 16);
	r->shard = (const char *)b + 30;
	r->key = r->shard + r->shard_len;
	r->payload = r->key + r->key_len;
	*next = off + 16 + body_len;
	return true;
}

struct expect {
	struct recs recs;
	unsigned corrupt_newest, corrupt_older;	/* as the only segment, as an older one */
	bool magic_ok;
	bool inner_damage;	/* a damaged stretch with a valid record after it */
	size_t tail;		/* offset of a torn tail, or size: none */
};

static void expect(const uint8_t *d, size_t size, struct expect *e)
{
	size_t off = 8, next;
	struct archive_rec r;

	memset(e, 0, sizeof(*e));
	e->tail = size;
	if (size < 8 || memcmp(d, "GCSARCH1", 8) != 0) {
		e->corrupt_newest = size >= 8;
		e->corrupt_older = 1;
		return;
	}
	e->magic_ok = true;
	while (off < size) {
		size_t q;

		if (valid_at(d, size, off, &r, &next)) {
			recs_add(&e->recs, off, &r);
			off = next;
			continue;
		}
		for (q = off + 1; q < size && !valid_at(d, size, q, &r, &next); q++)
			;
		e->corrupt_older++;
		if (q < size) {
			e->corrupt_newest++;
			e->inner_damage = true;
		} else {
			e->tail = off;
		}
		off = q;
	}
}

/* ---- the code under test ------------------------------------------------------- */

static int collect(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset)
{
	struct recs *l = arg;

	FUZZ_CHECK(r->key == r->shard + r->shard_len && r->payload == r->key + r->key_len);
	if (l->segment != NULL)
		FUZZ_CHECK(strcmp(segment, l->segment) == 0);
	if (l->n > 0 && strcmp(segment, l->last) == 0)
		FUZZ_CHECK(offset > l->v[l->n - 1].off);
	else
		FUZZ_CHECK(l->n == 0 || strcmp(segment, l->last) > 0);	/* oldest first */
	snprintf(l->last, sizeof(l->last), "%s", segment);
	recs_add(l, offset, r);
	return 0;
}

static void scan(const char *dir, struct recs *got, unsigned *corrupt)
{
	char *err = NULL;
	int rc = archive_scan(dir, collect, got, corrupt, &err);

	if (rc != 0)
		fprintf(stderr, "archive_scan: %s\n", err ? err : "stopped");
	FUZZ_CHECK(rc == 0);
}

static void clean(const char *dir)
{
	for (int seq = 1; seq <= 3; seq++) {
		char *p = xasprintf("%s/seg-%010d.gca", dir, seq);

		unlink(p);
		free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *one, *two, *seg1, *seg2, *seg1b;
	struct expect e;
	struct recs got = {0};
	unsigned corrupt = 99;
	struct archive *a;
	struct archive_stats st;
	struct archive_rec mine = {"fz", 2, 7, "k\0\xff\n", 4, -1, "payload", 7, 1234567};
	int64_t cut = -1;
	char *err = NULL;
	int errnum = 0;

	if (one == NULL) {
		log_set_level(LOG_LVL_ERROR);
		one = xasprintf("%s/one", fuzz_tmpdir());
		two = xasprintf("%s/two", fuzz_tmpdir());
		mkdir(one, 0700);
		mkdir(two, 0700);
		seg1 = xasprintf("%s/seg-0000000001.gca", one);
		seg1b = xasprintf("%s/seg-0000000001.gca", two);
		seg2 = xasprintf("%s/seg-0000000002.gca", two);
	}
	if (size > (1 << 20))
		return 0;
	clean(one);
	clean(two);
	expect(data, size, &e);

	/* 1. The reader, as the newest segment and as an older one. */
	fuzz_write_file(seg1, data, size);
	got.segment = seg1;
	scan(one, &got, &corrupt);
	FUZZ_CHECK(got.n == e.recs.n);
	check_same(&e.recs, &got, e.recs.n);
	FUZZ_CHECK(corrupt == e.corrupt_newest);
	recs_free(&got);

	fuzz_write_file(seg1b, data, size);
	fuzz_write_file(seg2, "GCSARCH1", 8);
	got.segment = seg1b;
	scan(two, &got, &corrupt);
	FUZZ_CHECK(got.n == e.recs.n);
	check_same(&e.recs, &got, e.recs.n);
	FUZZ_CHECK(corrupt == e.corrupt_older);
	recs_free(&got);

	/* 2. The writer: open (cutting a torn tail), append one, read back. */
	a = archive_open(one, 4096, &cut, &err);
	if (a == NULL)
		fprintf(stderr, "archive_open: %s\n", err);
	FUZZ_CHECK(a != NULL);
	archive_stats(a, &st);
	FUZZ_CHECK(st.records_total == e.recs.n);
	if (e.magic_ok && !e.inner_damage)
		FUZZ_CHECK(cut == (int64_t)(size - e.tail));
	else
		FUZZ_CHECK(cut == 0 && archive_warning(a) != NULL);
	FUZZ_CHECK(archive_add(a, &mine) == 0);
	if (archive_commit(a, &errnum, &err) < 0)
		fprintf(stderr, "archive_commit: %s\n", err);
	FUZZ_CHECK(err == NULL);
	archive_close(a);
	scan(one, &got, NULL);
	FUZZ_CHECK(got.n == e.recs.n + 1);
	check_same(&e.recs, &got, e.recs.n);
	{
		const struct archive_rec *r = &got.v[got.n - 1].r;

		FUZZ_CHECK(r->key_len == 4 && memcmp(r->key, "k\0\xff\n", 4) == 0 && r->db == 7);
		FUZZ_CHECK(r->flushed_ms == 1234567 && r->expire_ms == -1 && r->payload_len == 7);
	}
	recs_free(&got);
	recs_free(&e.recs);
	return 0;
}
