/* Unit tests for the ledger: creation order, re-creation, take and put
 * back, marks, ledger_flushable, and the persisted log (round trip, torn
 * tail, compaction). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "util.h"
#include "tap.h"

#define PATH "ledger-test.ledger"

/* The ledger's keys, oldest first, space-separated (marks as "|"). */
static char *order(const struct ledger *l)
{
	struct buf b;

	buf_init(&b);
	for (const struct ledger_entry *e = ledger_head(l); e != NULL; e = ledger_next(e)) {
		if (b.len)
			buf_putc(&b, ' ');
		if (ledger_is_mark(e))
			buf_putc(&b, '|');
		else
			buf_append(&b, e->key, e->klen);
	}
	return b.data;
}

static void add(struct ledger *l, const char *k)
{
	ledger_add(l, k, strlen(k), 100);
}

static void check_order(const struct ledger *l, const char *want, const char *what)
{
	char *got = order(l);

	is_str(got, want, "%s", what);
	free(got);
}

static void test_order(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *v[8];
	size_t n;

	add(l, "a");
	add(l, "b");
	add(l, "c");
	check_order(l, "a b c", "creation order");
	add(l, "a");
	check_order(l, "b c a", "a key created again moves to the tail");
	ok(ledger_remove(l, "c", 1) && !ledger_remove(l, "c", 1), "remove once, then unknown");
	check_order(l, "b a", "removed key leaves the order");
	ok(ledger_count(l) == 2 && ledger_contains(l, "a", 1) && !ledger_contains(l, "c", 1), "count and lookup");

	add(l, "d");
	n = ledger_take(l, v, 2);
	ok(n == 2 && memcmp(v[0]->key, "b", 1) == 0 && memcmp(v[1]->key, "a", 1) == 0, "take the two oldest");
	ok(!ledger_contains(l, "b", 1) && ledger_count(l) == 1, "taken keys are no longer tracked");
	add(l, "a");	/* re-created while its deletion was in flight */
	ledger_put_back(l, v, n);
	check_order(l, "b d a", "put back at the head, except a key created meanwhile");

	n = ledger_take(l, v, 8);
	ok(n == 3, "take stops when the ledger is empty");
	for (size_t i = 0; i < n; i++)
		ledger_done(l, v[i]);
	ok(ledger_count(l) == 0 && ledger_head(l) == NULL, "done entries are gone");
	ledger_free(l);
}

static void test_marks(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *mark, *v[8];
	size_t n;

	add(l, "old1");
	mark = ledger_mark(l);
	add(l, "new1");
	ledger_insert_before(l, mark, "gap1", 4, 50);
	ledger_insert_before(l, mark, "gap2", 4, 60);
	ledger_insert_before(l, mark, "new1", 4, 60);	/* known: stays where it is */
	check_order(l, "old1 gap1 gap2 | new1", "reconciled keys go in front of the mark");
	n = ledger_take(l, v, 8);
	ok(n == 3, "take stops at a mark: %zu taken", n);
	ledger_put_back(l, v, n);
	ledger_unmark(l, mark);
	check_order(l, "old1 gap1 gap2 new1", "unmark leaves the order");
	ok(ledger_count(l) == 4, "marks are not counted");
	ok(ledger_oldest_created(l) == 100, "oldest creation time");
	ledger_free(l);
}

/* ledger_flushable: a flush may take only when the oldest entry is a key. */
static void test_flushable(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *mark, *v[8];
	size_t n;

	ok(!ledger_flushable(l), "an empty ledger is not flushable");
	mark = ledger_mark(l);	/* a first start: the gap is everything before now */
	ok(!ledger_flushable(l), "a ledger holding only a mark is not flushable");
	add(l, "new1");
	ok(!ledger_flushable(l) && ledger_take(l, v, 8) == 0,
	   "keys seen since the mark are not flushable before the reconciliation finds the older ones");
	ledger_insert_before(l, mark, "gap1", 4, 50);
	ok(ledger_flushable(l), "a key found by the reconciliation makes it flushable");
	n = ledger_take(l, v, 8);
	ok(n == 1 && !ledger_flushable(l), "once the keys before the mark are taken, it is not flushable");
	ledger_put_back(l, v, n);
	ok(ledger_flushable(l), "a put-back key makes it flushable again");
	ledger_unmark(l, mark);
	check_order(l, "gap1 new1", "the order after the mark is gone");
	n = ledger_take(l, v, 8);
	ok(n == 2 && !ledger_flushable(l), "all taken: not flushable");
	for (size_t i = 0; i < n; i++)
		ledger_done(l, v[i]);
	add(l, "a");
	ok(ledger_flushable(l), "a key with no mark before it is flushable");
	ledger_free(l);
}

/* ledger_sample: every step-th of the oldest keys, up to a mark. */
static void test_sample(void)
{
	struct ledger *l = ledger_new();
	const struct ledger_entry *v[8];
	struct ledger_entry *mark;
	size_t n;

	ok(ledger_sample(l, NULL, NULL, 3, v, 8) == 0, "sample: nothing in an empty ledger");
	add(l, "k0");
	add(l, "k1");
	add(l, "k2");
	add(l, "k3");
	add(l, "k4");
	add(l, "k5");
	add(l, "k6");
	n = ledger_sample(l, NULL, NULL, 3, v, 8);
	ok(n == 3 && memcmp(v[0]->key, "k0", 2) == 0 && memcmp(v[1]->key, "k3", 2) == 0 &&
	   memcmp(v[2]->key, "k6", 2) == 0, "sample: the oldest and every third after it");
	ok(ledger_sample(l, NULL, NULL, 1, v, 2) == 2 && memcmp(v[1]->key, "k1", 2) == 0, "sample: at most max keys");
	ok(ledger_sample(l, NULL, NULL, 0, v, 8) == 7, "sample: a step of 0 is 1");
	mark = ledger_mark(l);
	add(l, "k7");
	ledger_insert_before(l, mark, "g0", 2, 50);
	n = ledger_sample(l, NULL, NULL, 4, v, 8);
	ok(n == 2 && memcmp(v[1]->key, "k4", 2) == 0, "sample: stops at a mark, as a flush does");
	ledger_free(l);
}

/* A take for one node: keys starting with 'a' are "ours". */
static bool wants_a(void *arg, const char *key, size_t klen)
{
	(void)arg;
	return klen > 0 && key[0] == 'a';
}

/* A cluster node takes only its own entries, oldest first, resuming at its
 * cursor; the others stay where they are, and put-backs keep the order. */
static void test_take_where(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *cur, *cur2, *v[8], *mark;
	size_t n;

	add(l, "b1");
	add(l, "a1");
	add(l, "b2");
	add(l, "a2");
	add(l, "a3");
	add(l, "b3");
	cur = ledger_cursor_new(l);
	ok(ledger_flushable(l), "a cursor at the head does not hold flushes back");
	{
		const struct ledger_entry *sv[8];

		ok(ledger_sample(l, wants_a, NULL, 1, sv, 8) == 3 && strcmp(sv[0]->key, "a1") == 0 &&
		   strcmp(sv[2]->key, "a3") == 0, "a sample takes a node's own keys, passing a cursor");
	}
	n = ledger_take_where(l, cur, wants_a, NULL, v, 2);
	ok(n == 2 && strcmp(v[0]->key, "a1") == 0 && v[1]->key[1] == '2', "the two oldest wanted, in order");
	check_order(l, "b1 b2 | a3 b3", "the others stay where they were; the cursor (|) is past what was seen");
	n = ledger_take_where(l, cur, wants_a, NULL, v + 2, 8);
	ok(n == 1 && v[2]->key[1] == '3', "the next take resumes at the cursor");
	ledger_put_back(l, v, 3);
	check_order(l, "a1 a2 a3 b1 b2 b3 |", "put back at the head, in creation order, before the cursor");
	ledger_cursor_free(l, cur);
	ok(ledger_count(l) == 6, "the cursor is no entry");
	/* A reconciliation's mark stops a take; another cursor does not. */
	cur = ledger_cursor_new(l);
	cur2 = ledger_cursor_new(l);
	mark = ledger_mark(l);
	add(l, "a9");
	n = ledger_take_where(l, cur, wants_a, NULL, v, 8);
	ok(n == 3, "a take passes another cursor but stops at a mark (%zu)", n);
	ledger_put_back(l, v, n);
	ledger_unmark(l, mark);
	n = ledger_take(l, v, 8);
	ok(n == 7 && strcmp(v[0]->key, "a1") == 0 && strcmp(v[6]->key, "a9") == 0,
	   "a plain take passes cursors, oldest first");
	for (size_t i = 0; i < n; i++)
		ledger_done(l, v[i]);
	ledger_cursor_free(l, cur);
	ledger_cursor_free(l, cur2);
	ok(ledger_count(l) == 0 && !ledger_flushable(l), "empty again");
	ledger_free(l);
}

static void test_index_growth(void)
{
	struct ledger *l = ledger_new();
	char key[32];
	bool all = true;

	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "key:%d", i);
		ledger_add(l, key, strlen(key), 1);
	}
	for (int i = 0; i < 50000; i += 2) {
		snprintf(key, sizeof(key), "key:%d", i);
		all &= ledger_remove(l, key, strlen(key));
	}
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "key:%d", i);
		all &= ledger_contains(l, key, strlen(key)) == (i % 2 == 1);
	}
	ok(all && ledger_count(l) == 25000, "50000 keys through growth and backward-shift deletion");
	snprintf(key, sizeof(key), "%.*s", ledger_head(l)->klen, ledger_head(l)->key);
	is_str(key, "key:1", "order survives index growth");
	ledger_free(l);
}

static void test_persistence(void)
{
	struct ledger *l = ledger_new();
	char *err = NULL;
	FILE *f;
	long size;

	unlink(PATH);
	ok(ledger_open(l, PATH, &err) == 0, "open a new log");
	add(l, "a");
	add(l, "b\nwith newline");
	ledger_add(l, "bin\0key", 7, 100);
	add(l, "c");
	add(l, "a");
	ledger_remove(l, "c", 1);
	ok(ledger_sync(l, &err) == 0, "sync");
	ledger_free(l);

	l = ledger_new();
	ok(ledger_open(l, PATH, &err) == 0, "reopen");
	check_order(l, "b\nwith newline bin", "order and binary keys survive a restart (1)");
	ok(ledger_count(l) == 3 && ledger_contains(l, "bin\0key", 7) && ledger_contains(l, "a", 1),
	   "order and binary keys survive a restart (2)");
	ledger_free(l);

	/* A torn tail: half a record at the end is cut off, the rest kept. */
	f = fopen(PATH, "ab");
	fwrite("A\x01\x00\x00\x00\x10\x00\x00\x00par", 1, 12, f);
	fclose(f);
	l = ledger_new();
	ok(ledger_open(l, PATH, &err) == 12, "the torn tail's 12 bytes are cut");
	ok(ledger_count(l) == 3, "the whole records before it are kept");
	add(l, "d");
	ok(ledger_sync(l, &err) == 0 && ledger_compact(l, &err) == 0, "compact");
	ledger_free(l);

	l = ledger_new();
	ok(ledger_open(l, PATH, &err) == 0 && ledger_count(l) == 4, "reopen after compaction");
	{
		struct ledger_entry *v[4];
		size_t n = ledger_take(l, v, 4);

		ok(n == 4 && v[0]->klen == 14 && v[1]->klen == 7 && memcmp(v[1]->key, "bin\0key", 7) == 0 &&
		   memcmp(v[2]->key, "a", 1) == 0 && memcmp(v[3]->key, "d", 1) == 0, "compaction keeps the order");
		ledger_put_back(l, v, n);
	}
	ledger_clear(l);
	ok(ledger_count(l) == 0, "clear forgets everything");
	ledger_free(l);
	f = fopen(PATH, "rb");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	ok(size == 8, "a cleared ledger's log is just the header (%ld bytes)", size);

	f = fopen(PATH, "wb");
	fputs("NOTALEDGER", f);
	fclose(f);
	l = ledger_new();
	ok(ledger_open(l, PATH, &err) < 0 && strstr(err, "not a gcs-flushd ledger") != NULL, "a foreign file is refused");
	free(err);
	ledger_free(l);
	unlink(PATH);
	unlink(PATH ".tmp");
}

/* Keys around the length where the log stops writing a record in one
 * piece survive a restart, in order. */
static void test_long_keys(void)
{
	static const size_t lens[] = {246, 247, 248, 1000, 70000};
	struct ledger *l = ledger_new();
	char *key = xmalloc(70000), *err = NULL;
	bool all = true;
	size_t i;

	unlink(PATH);
	ok(ledger_open(l, PATH, &err) == 0, "open a new log for long keys");
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		memset(key, (int)('a' + i), lens[i]);
		ledger_add(l, key, lens[i], (uint32_t)i);
	}
	ledger_sync(l, &err);
	ledger_free(l);
	l = ledger_new();
	ok(ledger_open(l, PATH, &err) == 0 && ledger_count(l) == ARRAY_SIZE(lens), "reopen with long keys");
	i = 0;
	for (const struct ledger_entry *e = ledger_head(l); e != NULL; e = ledger_next(e), i++) {
		all &= i < ARRAY_SIZE(lens) && e->klen == lens[i] && e->created == i;
		all &= e->klen > 0 && e->key[0] == (char)('a' + i) && e->key[e->klen - 1] == (char)('a' + i);
	}
	ok(all && i == ARRAY_SIZE(lens), "keys of 246 to 70000 bytes survive a restart, in order");
	ledger_free(l);
	free(key);
	unlink(PATH);
}

static bool keep_not_x(void *arg, const char *key, size_t klen)
{
	(void)arg;
	return !(klen > 0 && key[0] == 'x');
}

/* What the log says survives a restart. */
static struct ledger *reopen(struct ledger *l)
{
	char *err = NULL;

	ledger_sync(l, &err);
	ledger_free(l);
	l = ledger_new();
	ledger_open(l, PATH, &err);
	return l;
}

static void test_log_edges(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *v[4];
	char *err = NULL;
	size_t n;

	unlink(PATH);
	ledger_open(l, PATH, &err);
	add(l, "a");
	add(l, "b");
	add(l, "c");
	n = ledger_take(l, v, 2);
	ok(ledger_compact(l, &err) == 0, "compaction with entries out for deletion is deferred");
	ledger_put_back(l, v, n);
	l = reopen(l);
	check_order(l, "a b c", "a deferred compaction loses nothing put back");

	n = ledger_take(l, v, 1);
	add(l, "a");	/* created again while its UNLINK was in flight */
	ledger_done(l, v[0]);
	l = reopen(l);
	check_order(l, "b c a", "a key re-created during its deletion survives a restart");

	add(l, "x1");
	add(l, "x2");
	ok(ledger_retain(l, keep_not_x, NULL) == 2, "retain drops the keys no longer wanted");
	l = reopen(l);
	check_order(l, "b c a", "and the log forgets them");

	/* "b" out for deletion twice at once: flushed, created again, taken
	 * again before the first deletion settled. */
	n = ledger_take(l, v, 1);
	add(l, "b");
	n += ledger_take(l, v + 1, 3);
	ok(n == 4 && ledger_count(l) == 0, "a key can be out for deletion twice");
	add(l, "b");		/* and created a third time */
	ledger_done(l, v[0]);
	ledger_done(l, v[3]);
	ledger_put_back(l, v + 1, 2);
	l = reopen(l);
	check_order(l, "c a b", "each settles on its own, and the live key survives a restart");

	n = ledger_take(l, v, 1);
	add(l, "c");
	ledger_remove(l, "c", 1);	/* created again, then deleted again */
	ledger_done(l, v[0]);
	l = reopen(l);
	check_order(l, "a b", "a key deleted after it was re-created stays deleted");
	ledger_free(l);
	unlink(PATH);
}

/* k39000 and up: at the end of the list, where a walk of the second
 * slice has not been. */
static bool is_k39(const char *key, size_t klen)
{
	return klen == 6 && memcmp(key, "k39", 3) == 0;
}

/* The keys only, marks skipped: what the log can say.  Keys k39000 and up
 * too when skip_k39: entries put back in a place the log does not record
 * (see walk_case). */
static char *keys_only(const struct ledger *l, bool skip_k39)
{
	struct buf b;

	buf_init(&b);
	for (const struct ledger_entry *e = ledger_head(l); e != NULL; e = ledger_next(e)) {
		if (ledger_is_mark(e) || (skip_k39 && is_k39(e->key, e->klen)))
			continue;
		if (b.len)
			buf_putc(&b, ' ');
		buf_append(&b, e->key, e->klen);
	}
	return b.data;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void keyf(struct ledger *l, bool remove, const char *prefix, int i)
{
	char key[48];

	snprintf(key, sizeof(key), "%s%d", prefix, i);
	if (remove)
		ledger_remove(l, key, strlen(key));
	else
		add(l, key);
}

static bool want_k39(void *arg, const char *key, size_t klen)
{
	(void)arg;
	return is_k39(key, klen);
}

/* A compaction in slices while the application goes on between them: the
 * new file replays to the entries of the end, in order.  take_at: the
 * round where a flush takes (and settles) entries, which finishes the walk
 * at once; -1 for none.  clear_at: the round where the ledger is cleared. */
static void walk_case(int take_at, int clear_at, const char *what)
{
	struct ledger *l = ledger_new();
	struct ledger_log_job *j;
	struct ledger_entry *v[3];
	char *err = NULL, *before, *after, back[2][16] = {"", ""};
	int round, slices = 0;
	long bloated = 0;
	size_t n;

	unlink(PATH);
	ledger_open(l, PATH, &err);
	for (int i = 0; i < 60000; i++)
		keyf(l, false, "gone", i);
	for (int i = 0; i < 60000; i++)
		keyf(l, true, "gone", i);
	for (int i = 0; i < 40000; i++)
		keyf(l, false, "k", i);
	/* Bloated: the tick starts a compaction, and the first job also writes
	 * every record so far to the current file. */
	j = ledger_job_next(l, true);
	ok(j != NULL && ledger_job_more(l), "%s: a compaction starts, in slices", what);
	for (round = 0; j != NULL; round++) {
		ledger_job_run(j);
		if (round == 0)
			bloated = file_size(PATH);
		ok(ledger_job_done(l, j, &err) == 0, "%s: slice %d written", what, round);
		slices++;
		keyf(l, false, "k", round * 7);	/* walked: moves to the tail */
		keyf(l, false, "k", 39999 - 5 * round);	/* not walked yet: moves too */
		keyf(l, false, "new", round);
		keyf(l, true, "k", 100 + round);	/* walked, then removed */
		keyf(l, true, "k", 30000 + round);	/* removed before the walk got there */
		if (round == take_at) {
			/* Entries the walk has not reached, as a cluster node takes:
			 * one is deleted, two are put back (at the head, which the log
			 * does not record: they replay in their old place). */
			struct ledger_entry *cur = ledger_cursor_new(l);

			n = ledger_take_where(l, cur, want_k39, NULL, v, 3);
			ledger_cursor_free(l, cur);
			keyf(l, false, "new-while-taken", round);
			ledger_done(l, v[0]);
			snprintf(back[0], sizeof(back[0]), "%.*s", (int)v[1]->klen, v[1]->key);
			snprintf(back[1], sizeof(back[1]), "%.*s", (int)v[2]->klen, v[2]->key);
			ledger_put_back(l, v + 1, n - 1);
		}
		if (round == clear_at) {
			ledger_clear(l);
			keyf(l, false, "after-clear", round);
		}
		j = ledger_job_more(l) ? ledger_job_next(l, false) : NULL;
	}
	ok(slices >= (clear_at >= 0 ? clear_at + 1 : 3), "%s: %d slices", what, slices);
	ledger_sync(l, &err);
	before = keys_only(l, take_at >= 0);
	ledger_free(l);
	ok(file_size(PATH) < bloated / 2, "%s: the log shrank from %ld to %ld bytes", what, bloated, file_size(PATH));
	ok(file_size(PATH ".tmp") == -1, "%s: no temporary file left", what);
	l = ledger_new();
	ledger_open(l, PATH, &err);
	after = keys_only(l, take_at >= 0);
	if (take_at >= 0)
		ok(ledger_contains(l, back[0], strlen(back[0])) && ledger_contains(l, back[1], strlen(back[1])),
		   "%s: the entries put back are in the log", what);
	if (!ok(strcmp(before, after) == 0, "%s: the compacted log replays to the same entries in order", what)) {
		size_t i = 0;

		while (before[i] == after[i])
			i++;
		printf("# first difference at byte %zu: '%.60s' against '%.60s'\n", i, before + (i > 20 ? i - 20 : 0),
		     after + (i > 20 ? i - 20 : 0));
	}
	free(before);
	free(after);
	ledger_free(l);
	unlink(PATH);
}

static void test_walk(void)
{
	walk_case(-1, -1, "adds, moves and removals between slices");
	walk_case(1, -1, "a take during the walk");
	walk_case(-1, 1, "a clear during the walk");
}

/* After a random 90% of the keys is deleted, the sweep gives the sparse
 * pages back, moving the live entries without changing their order or
 * losing them from the index; entries out for deletion and marks stay put;
 * a refill takes about the fresh memory again. */
static void test_defrag(void)
{
	struct ledger *l = ledger_new();
	struct ledger_entry *v[100], *mark;
	char key[32], *before, *after;
	size_t fresh, sparse, dense, refilled, moved = 0, total = 0, n, taken, calls = 0;
	bool all = true;
	unsigned seed = 7;

	for (int i = 0; i < 200000; i++)
		keyf(l, false, "key:", i);
	fresh = ledger_memory(l);
	taken = ledger_take(l, v, 100);	/* out for deletion: they stay put */
	mark = ledger_mark(l);
	for (int i = 0; i < 200000; i++) {
		if ((rand_r(&seed) % 10) != 0)
			keyf(l, true, "key:", i);
	}
	sparse = ledger_memory(l);
	before = keys_only(l, false);
	while (ledger_defrag(l, 16, &moved) && calls < 10000) {
		total += moved;
		calls++;
	}
	total += moved;
	dense = ledger_memory(l);
	after = keys_only(l, false);
	ok(strcmp(before, after) == 0, "the sweep keeps the order (%zu entries moved in %zu calls)", total, calls);
	n = 0;
	for (const struct ledger_entry *e = ledger_head(l); e != NULL; e = ledger_next(e)) {
		if (ledger_is_mark(e))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)e->klen, e->key);
		all &= ledger_contains(l, key, strlen(key));
		n++;
	}
	ok(all && n == ledger_count(l) && n > 15000 && n < 25000, "and the index finds every one of the %zu", n);
	ok(dense * 4 < sparse && dense * 4 < fresh,
	   "memory: %zu fresh, %zu after 90%% deleted, %zu after the sweep", fresh, sparse, dense);
	ok(dense / ledger_count(l) < 3 * fresh / 2 / 200000, "per live entry, within 1.5x of fresh (%zu against %zu B)",
	   dense / ledger_count(l), fresh / 200000);
	ledger_put_back(l, v, taken);
	ledger_unmark(l, mark);
	for (int i = 200000; i < 380000; i++)
		keyf(l, false, "key:", i);
	refilled = ledger_memory(l);
	ok(refilled / ledger_count(l) < fresh * 125 / 100 / 200000, "refilled to %zu: %zu B per entry (fresh %zu)",
	   ledger_count(l), refilled / ledger_count(l), fresh / 200000);
	ok(!ledger_defrag(l, 16, &moved), "nothing more to sweep");
	free(before);
	free(after);
	ledger_free(l);
}

int main(void)
{
	test_defrag();
	test_walk();
	test_log_edges();
	test_order();
	test_marks();
	test_flushable();
	test_sample();
	test_take_where();
	test_index_growth();
	test_persistence();
	test_long_keys();
	return tap_done();
}
