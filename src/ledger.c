/* ledger: a shard's entries in creation order (see ledger.h).
 *
 * This file owns the list (creation order, marks, take, done and put back)
 * and the public API.  It keeps the entries in a slab, finds them through
 * two hash indexes (ledger_index.c: the live keys, and the entries taken
 * for deletion) and records every change in the log (ledger_log.c, which
 * owns the file and its format).  The links between entries are encoded in
 * ledger_int.h; giving memory back after random deletions is
 * ledger_mem.c's. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "ledger_index.h"
#include "ledger_int.h"
#include "ledger_log.h"
#include "slab.h"
#include "util.h"

bool ledger_is_mark(const struct ledger_entry *e)
{
	return entry_flag(e, LEDGER_F_MARK);
}

const struct ledger_entry *ledger_next(const struct ledger_entry *e)
{
	return entry_next(e);
}

struct ledger *ledger_new(void)
{
	struct ledger *l = xcalloc(1, sizeof(*l));

	ledger_index_init(&l->live);
	ledger_index_init(&l->taken);
	l->seed = (uint32_t)random();
	return l;
}

void ledger_entry_free(struct ledger *l, struct ledger_entry *e)
{
	size_t n = entry_size(e);

	/* Freed: a sweep of its page must not take it for a live one. */
	entry_set_flag(e, LEDGER_F_DEAD, true);
	slab_free(&l->slab, e, n);
}

void ledger_free(struct ledger *l)
{
	char *err = NULL;

	if (l == NULL)
		return;
	/* What is buffered is written, as stdio would at fclose. */
	if (ledger_sync(l, &err) < 0)
		free(err);
	ledger_log_close(l->log);
	slab_destroy(&l->slab);
	ledger_index_fini(&l->live);
	ledger_index_fini(&l->taken);
	free(l);
}

void ledger_clear(struct ledger *l)
{
	/* Entries out for deletion live on: they are freed one by one later.
	 * A compaction's walk mark goes with the rest, and its rewrite. */
	for (struct ledger_entry *e = l->head, *next; e != NULL; e = next) {
		next = entry_next(e);
		ledger_entry_free(l, e);
	}
	l->head = l->tail = NULL;
	l->walk = NULL;
	if (l->log != NULL && ledger_log_rewriting(l->log))
		ledger_log_rewrite_abandon(l->log);
	ledger_index_clear(&l->live);
	l->key_bytes = 0;
	ledger_compact_soon(l);
}

static struct ledger_entry *lookup(const struct ledger *l, const char *key, size_t klen, size_t *slot)
{
	return ledger_index_lookup(&l->live, ledger_index_hash(l->seed, key, klen), key, klen, slot);
}

/* ---- the list --------------------------------------------------------------- */

static void list_unlink(struct ledger *l, struct ledger_entry *e)
{
	struct ledger_entry *prev = entry_prev(e), *next = entry_next(e);

	if (prev)
		entry_set_next(prev, next);
	else
		l->head = next;
	if (next)
		entry_set_prev(next, prev);
	else
		l->tail = prev;
	entry_set_prev(e, NULL);
	entry_set_next(e, NULL);
}

static void list_insert_before(struct ledger *l, struct ledger_entry *pos, struct ledger_entry *e)
{
	struct ledger_entry *prev = pos ? entry_prev(pos) : l->tail;

	entry_set_prev(e, prev);
	entry_set_next(e, pos);
	if (prev)
		entry_set_next(prev, e);
	else
		l->head = e;
	if (pos)
		entry_set_prev(pos, e);
	else
		l->tail = e;
}

static struct ledger_entry *entry_new(struct ledger *l, const char *key, size_t klen, uint32_t created)
{
	struct ledger_entry *e = slab_alloc(&l->slab, offsetof(struct ledger_entry, key) + klen);

	memset(e->link, 0, sizeof(e->link));
	e->hash = ledger_index_hash(l->seed, key, klen);
	e->created = created;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	return e;
}

/* Tracks e at pos (NULL: the tail); the key must not be tracked. */
static void track(struct ledger *l, struct ledger_entry *pos, struct ledger_entry *e)
{
	ledger_index_insert(&l->live, e);
	/* If the key's old entry is still out for deletion, that one must not
	 * log a 'D' when settled, which would cancel the new 'A'.  The taken
	 * index is small and usually empty. */
	if (l->taken.used > 0)
		ledger_index_flag_key(&l->taken, e, LEDGER_F_RECREATED);
	l->key_bytes += e->klen;
	list_insert_before(l, pos, e);
}

static void untrack(struct ledger *l, struct ledger_entry *e, size_t slot)
{
	ledger_index_delete(&l->live, slot);
	ledger_index_maybe_shrink(&l->live);
	l->key_bytes -= e->klen;
	list_unlink(l, e);
}

/* ---- the log ------------------------------------------------------------------ */

static void log_add(struct ledger *l, uint32_t created, const char *key, size_t klen)
{
	if (l->log != NULL)
		ledger_log_add(l->log, created, key, klen);
}

static void log_del(struct ledger *l, const char *key, size_t klen)
{
	if (l->log != NULL)
		ledger_log_del(l->log, key, klen);
}

static void replay_one(void *arg, bool add, uint32_t created, const char *key, size_t klen)
{
	if (add)
		ledger_add(arg, key, klen, created);
	else
		ledger_remove(arg, key, klen);
}

int ledger_open(struct ledger *l, const char *path, char **err)
{
	struct ledger_log *old = l->log, *g;
	long cut;

	l->log = NULL;	/* replaying must not log */
	g = ledger_log_open(path, replay_one, l, &cut, err);
	if (g == NULL) {
		l->log = old;
		return -1;
	}
	ledger_log_close(old);
	l->log = g;
	return (int)cut;
}

/* ---- the log's file work: appends, syncs and compaction -------------------------
 *
 * A compaction feeds the live entries to the log in order, a slice at a
 * time, from a mark (the walk) that moves along the list; the log writes
 * them to a new file, then every record logged since the walk began.  That
 * replays to the live entries at the end:
 *   - an entry the walk passes untouched is fed in its place;
 *   - an entry added, or created again, meanwhile is logged as an 'A',
 *     whose replay puts it at the tail where it is (if the walk meets it
 *     again at the tail it is fed twice, harmlessly: the 'A' follows);
 *   - an entry removed meanwhile is logged as a 'D', which removes it
 *     whether or not the walk fed it.
 * Taking and putting back are not logged, so they must not meet a walk: a
 * compaction starts only while no entry is out for deletion, and a take
 * finishes a walk first, at once.  Reconciliation's inserts are not logged
 * either: it asks for a compaction when it ends. */

/* Entries fed per slice: about 0.3 ms of the loop (bench/README.md). */
#define LEDGER_WALK_SLICE 16384

static void walk(struct ledger *l, size_t max)
{
	struct ledger_entry *e = entry_next(l->walk), *next;

	for (size_t n = 0; e != NULL && n < max; e = next, n++) {
		next = entry_next(e);
		if (!entry_flag(e, LEDGER_F_MARK))
			ledger_log_rewrite_put(l->log, e->created, e->key, e->klen);
	}
	list_unlink(l, l->walk);
	if (e != NULL) {
		list_insert_before(l, e, l->walk);
		return;
	}
	ledger_entry_free(l, l->walk);
	l->walk = NULL;
	ledger_log_rewrite_fed(l->log);
}

static void walk_begin(struct ledger *l)
{
	struct ledger_entry *w = slab_alloc(&l->slab, sizeof(*w));

	memset(w, 0, sizeof(*w));
	/* A cursor: takes and flushability pass over it. */
	entry_set_flag(w, LEDGER_F_MARK | LEDGER_F_CURSOR, true);
	list_insert_before(l, l->head, w);
	l->walk = w;
	l->compact_pending = false;
	ledger_log_rewrite_begin(l->log);
}

struct ledger_log_job *ledger_job_next(struct ledger *l, bool tick)
{
	if (l->log == NULL)
		return NULL;
	/* Entries out for deletion are in no list: a snapshot now would drop
	 * them, and a put-back or a crash would then lose their place. */
	if (tick && l->walk == NULL && !ledger_log_rewriting(l->log) && l->taken.used == 0 &&
	    (l->compact_pending || ledger_log_bloated(l->log, l->live.used)))
		walk_begin(l);
	if (l->walk != NULL)
		walk(l, LEDGER_WALK_SLICE);
	return ledger_log_job_take(l->log, tick);
}

void ledger_job_run(struct ledger_log_job *j)
{
	ledger_log_job_run(j);
}

int ledger_job_done(struct ledger *l, struct ledger_log_job *j, char **err)
{
	bool rewrite_failed;
	int rc = ledger_log_job_done(l->log, j, &rewrite_failed, err);

	if (rewrite_failed)
		l->compact_pending = true;	/* at a later sync */
	return rc;
}

bool ledger_job_more(const struct ledger *l)
{
	return l->log != NULL && ledger_log_rewriting(l->log);
}

int ledger_sync(struct ledger *l, char **err)
{
	struct ledger_log_job *j;
	bool tick = true;
	int rc = 0;

	/* Every part at once, on this thread. */
	while ((j = ledger_job_next(l, tick)) != NULL) {
		char *e = NULL;

		tick = false;
		ledger_job_run(j);
		if (ledger_job_done(l, j, &e) < 0) {
			if (rc == 0)
				*err = e;
			else
				free(e);
			rc = -1;
		}
	}
	return rc;
}

void ledger_compact_soon(struct ledger *l)
{
	l->compact_pending = true;
}

int ledger_compact(struct ledger *l, char **err)
{
	ledger_compact_soon(l);
	return ledger_sync(l, err);
}

/* ---- operations ------------------------------------------------------------------ */

void ledger_add(struct ledger *l, const char *key, size_t klen, uint32_t created)
{
	size_t slot;
	struct ledger_entry *e = lookup(l, key, klen, &slot);

	if (e != NULL) {
		/* Created again (its deletion went unseen): now it is the newest. */
		e->created = created;
		list_unlink(l, e);
		list_insert_before(l, NULL, e);
	} else {
		track(l, NULL, entry_new(l, key, klen, created));
	}
	log_add(l, created, key, klen);
}

bool ledger_remove(struct ledger *l, const char *key, size_t klen)
{
	size_t slot;
	struct ledger_entry *e = lookup(l, key, klen, &slot);

	if (e == NULL)
		return false;
	untrack(l, e, slot);
	log_del(l, key, klen);	/* before the free: key may be e->key */
	ledger_entry_free(l, e);
	return true;
}

void ledger_prefetch(const struct ledger *l, const char *key, size_t klen)
{
	uint32_t h = ledger_index_hash(l->seed, key, klen);

	__builtin_prefetch(&l->live.table[h & (l->live.cap - 1)]);
}

bool ledger_contains(const struct ledger *l, const char *key, size_t klen)
{
	return lookup(l, key, klen, NULL) != NULL;
}

size_t ledger_count(const struct ledger *l)
{
	return l->live.used;
}

const struct ledger_entry *ledger_head(const struct ledger *l)
{
	return l->head;
}

/* A flush's cursor is a mark too, but no reconciliation's: it never holds
 * a flush back. */
static const struct ledger_entry *first_not_cursor(const struct ledger_entry *e)
{
	while (e != NULL && entry_flag(e, LEDGER_F_CURSOR))
		e = entry_next(e);
	return e;
}

bool ledger_flushable(const struct ledger *l)
{
	const struct ledger_entry *e = first_not_cursor(l->head);

	return e != NULL && !entry_flag(e, LEDGER_F_MARK);
}

size_t ledger_sample(const struct ledger *l, ledger_want_fn *want, void *arg, uint64_t step,
		     const struct ledger_entry **out, size_t max)
{
	size_t n = 0;
	uint64_t i = 0;

	if (step == 0)
		step = 1;
	for (const struct ledger_entry *e = l->head; e != NULL && n < max; e = entry_next(e)) {
		if (entry_flag(e, LEDGER_F_CURSOR))
			continue;
		if (entry_flag(e, LEDGER_F_MARK))
			break;
		if (want != NULL && !want(arg, e->key, e->klen))
			continue;
		if (i++ % step == 0)
			out[n++] = e;
	}
	return n;
}

uint32_t ledger_oldest_created(const struct ledger *l)
{
	for (const struct ledger_entry *e = l->head; e != NULL; e = entry_next(e))
		if (!entry_flag(e, LEDGER_F_MARK))
			return e->created;
	return 0;
}

size_t ledger_memory(const struct ledger *l)
{
	return sizeof(*l) + ledger_index_bytes(&l->live) + ledger_index_bytes(&l->taken) + l->slab.bytes +
	       (l->log != NULL ? ledger_log_memory(l->log) : 0);
}

/* Detaches e for deletion: out of the list and the live index, into the
 * taken one. */
static void take_one(struct ledger *l, struct ledger_entry *e)
{
	untrack(l, e, ledger_index_find_entry(&l->live, e));
	entry_set_flag(e, LEDGER_F_RECREATED, false);
	ledger_index_insert(&l->taken, e);
}

/* The live index's slots of the (up to) max entries at the head, fetched
 * before any is taken: they lie anywhere in a table larger than the
 * caches, and found one at a time their misses would follow one another
 * (finding them was 15% of the daemon's time in a forced flush, 3% so). */
static void prefetch_head(const struct ledger *l, size_t max)
{
	const struct ledger_entry *e = l->head;

	for (size_t n = 0; e != NULL && n < max; e = entry_next(e), n++)
		__builtin_prefetch(&l->live.table[e->hash & (l->live.cap - 1)]);
}

size_t ledger_take(struct ledger *l, struct ledger_entry **out, size_t max)
{
	size_t n = 0;

	if (l->walk != NULL)
		walk(l, SIZE_MAX);	/* see the walk */
	prefetch_head(l, max);
	while (n < max && ledger_flushable(l)) {
		struct ledger_entry *e = (struct ledger_entry *)first_not_cursor(l->head);

		take_one(l, e);
		out[n++] = e;
	}
	return n;
}

struct ledger_entry *ledger_cursor_new(struct ledger *l)
{
	struct ledger_entry *c = slab_alloc(&l->slab, sizeof(*c));

	memset(c, 0, sizeof(*c));
	entry_set_flag(c, LEDGER_F_MARK | LEDGER_F_CURSOR, true);
	list_insert_before(l, l->head, c);
	return c;
}

void ledger_cursor_free(struct ledger *l, struct ledger_entry *cursor)
{
	if (cursor == NULL)
		return;
	list_unlink(l, cursor);
	ledger_entry_free(l, cursor);
}

size_t ledger_take_where(struct ledger *l, struct ledger_entry *cursor, ledger_want_fn *want, void *arg,
			 struct ledger_entry **out, size_t max)
{
	struct ledger_entry *e, *next;
	size_t n = 0;

	if (l->walk != NULL)
		walk(l, SIZE_MAX);	/* see the walk */
	for (e = entry_next(cursor); e != NULL && n < max; e = next) {
		next = entry_next(e);
		if (entry_flag(e, LEDGER_F_MARK)) {
			if (!entry_flag(e, LEDGER_F_CURSOR))
				break;	/* a reconciliation is finding older keys */
			continue;
		}
		if (!want(arg, e->key, e->klen))
			continue;
		take_one(l, e);
		out[n++] = e;
	}
	/* The next take starts where this one stopped. */
	list_unlink(l, cursor);
	list_insert_before(l, e, cursor);
	return n;
}

void ledger_done(struct ledger *l, struct ledger_entry *e)
{
	ledger_index_delete(&l->taken, ledger_index_find_entry(&l->taken, e));
	/* Created again while its deletion was in flight: the log already
	 * has the new 'A', which a 'D' would cancel. */
	if (!entry_flag(e, LEDGER_F_RECREATED))
		log_del(l, e->key, e->klen);
	ledger_entry_free(l, e);
}

void ledger_put_back(struct ledger *l, struct ledger_entry **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ledger_index_delete(&l->taken, ledger_index_find_entry(&l->taken, v[i]));
	/* Walk backwards, inserting each at the head, to keep their order. */
	for (size_t i = n; i-- > 0;) {
		struct ledger_entry *e = v[i];

		if (lookup(l, e->key, e->klen, NULL) != NULL) {
			ledger_entry_free(l, e);	/* created again meanwhile: the new one counts */
			continue;
		}
		track(l, l->head, e);
	}
}

struct ledger_entry *ledger_mark(struct ledger *l)
{
	struct ledger_entry *m = slab_alloc(&l->slab, sizeof(*m));

	memset(m, 0, sizeof(*m));
	entry_set_flag(m, LEDGER_F_MARK, true);
	list_insert_before(l, NULL, m);
	return m;
}

void ledger_insert_before(struct ledger *l, struct ledger_entry *mark, const char *key, size_t klen,
			  uint32_t created)
{
	if (lookup(l, key, klen, NULL) != NULL)
		return;
	track(l, mark, entry_new(l, key, klen, created));
}

size_t ledger_retain(struct ledger *l, bool (*keep)(void *arg, const char *key, size_t klen), void *arg)
{
	size_t dropped = 0;

	for (struct ledger_entry *e = l->head, *next; e != NULL; e = next) {
		next = entry_next(e);
		if (!entry_flag(e, LEDGER_F_MARK) && !keep(arg, e->key, e->klen)) {
			ledger_remove(l, e->key, e->klen);
			dropped++;
		}
	}
	return dropped;
}

void ledger_unmark(struct ledger *l, struct ledger_entry *mark)
{
	list_unlink(l, mark);
	ledger_entry_free(l, mark);
}
