/* ledger_index: the ledger's open-addressing hash index (see
 * ledger_index.h): the table's memory, growth, insertion, and deletion by
 * backward shift.  Holds pointers to the ledger's entries; never allocates,
 * frees or links one. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ledger_index.h"
#include "ledger_int.h"
#include "util.h"

#define INDEX_MIN_CAP 1024

/* A big index is probed at random, so every lookup would also miss the
 * TLB on 4 KiB pages: ask for huge pages, which on a 1M-key index took a
 * third off the time of each probe.  A big table is mapped on its own,
 * aligned to a huge page, so that freeing it (after a shrink, say) gives
 * its memory back at once: from malloc, a freed table could stay in the
 * heap.  Without THP (or below 2 MiB) this is plain zeroed memory. */
#define HUGE_PAGE ((size_t)2 << 20)
/* The index shrinks when fewer than 1/INDEX_SHRINK of its slots are used,
 * to a load of about INDEX_SHRINK_TO percent: far enough from growth (70%)
 * that a few additions do not grow it back, and close enough to the load
 * of a fresh index that after a random 90% of the keys is deleted the slots
 * cost the keys left about what they cost when fresh (8 bytes per slot:
 * at 25% load, 32 bytes per key against 57 for the whole entry). */
#define INDEX_SHRINK 4
#define INDEX_SHRINK_TO 50

static uintptr_t *table_alloc(size_t cap)
{
	size_t size = cap * sizeof(uintptr_t), span = size + HUGE_PAGE;
	char *p, *start;

	if (size < HUGE_PAGE)
		return xcalloc(cap, sizeof(uintptr_t));	/* aborts if out of memory */
	p = xmmap(span);
	start = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	if (p + span > start + size)
		munmap(start + size, (size_t)(p + span - (start + size)));
#ifdef MADV_HUGEPAGE
	(void)madvise(start, size, MADV_HUGEPAGE);	/* advice only: fine to fail */
#endif
	return (uintptr_t *)(void *)start;	/* mapped zeroed */
}

static void table_free(uintptr_t *t, size_t cap)
{
	if (cap * sizeof(uintptr_t) < HUGE_PAGE)
		free(t);
	else if (t != NULL)
		munmap(t, cap * sizeof(uintptr_t));
}

void ledger_index_init(struct ledger_index *ix)
{
	ix->cap = INDEX_MIN_CAP;
	ix->table = table_alloc(ix->cap);
	ix->used = 0;
}

void ledger_index_fini(struct ledger_index *ix)
{
	table_free(ix->table, ix->cap);
	ix->table = NULL;
	ix->cap = ix->used = 0;
}

void ledger_index_clear(struct ledger_index *ix)
{
	memset(ix->table, 0, ix->cap * sizeof(*ix->table));
	ix->used = 0;
}

size_t ledger_index_bytes(const struct ledger_index *ix)
{
	return ix->cap * sizeof(*ix->table);
}

static uintptr_t slot_of(const struct ledger_entry *e)
{
	uintptr_t p = (uintptr_t)e;

	if ((p & ~(uintptr_t)LEDGER_SLOT_PTR) != 0)
		abort();	/* an address beyond 48 bits: not on Linux without asking */
	return p | ledger_index_tag(e->hash);
}

/* No key compared, no entry read: the slot holds e's own address. */
size_t ledger_index_find_entry(const struct ledger_index *ix, const struct ledger_entry *e)
{
	size_t mask = ix->cap - 1;
	uintptr_t v = slot_of(e);
	size_t i;

	for (i = e->hash & mask; ix->table[i] != v; i = (i + 1) & mask)
		;
	return i;
}

static void rebuild(struct ledger_index *ix, size_t cap)
{
	uintptr_t *old = ix->table;
	size_t oldcap = ix->cap;

	ix->cap = cap;
	ix->used = 0;
	ix->table = table_alloc(ix->cap);
	for (size_t i = 0; i < oldcap; i++) {
		/* Each entry is read for its hash: fetch a few ahead, so that
		 * the misses overlap rather than follow one another. */
		if (i + 8 < oldcap && old[i + 8] != 0)
			__builtin_prefetch(ledger_index_entry(old[i + 8]));
		if (old[i] != 0)
			ledger_index_insert(ix, ledger_index_entry(old[i]));
	}
	table_free(old, oldcap);
}

void ledger_index_maybe_shrink(struct ledger_index *ix)
{
	size_t cap = INDEX_MIN_CAP;

	if (ix->cap <= INDEX_MIN_CAP || ix->used * INDEX_SHRINK >= ix->cap)
		return;
	while (cap < ix->cap && cap * INDEX_SHRINK_TO < ix->used * 100)
		cap *= 2;
	if (cap < ix->cap)
		rebuild(ix, cap);
}

bool ledger_index_has_entry(const struct ledger_index *ix, const struct ledger_entry *e)
{
	size_t mask = ix->cap - 1;
	uintptr_t v = slot_of(e);

	for (size_t i = e->hash & mask; ix->table[i] != 0; i = (i + 1) & mask)
		if (ix->table[i] == v)
			return true;
	return false;
}

void ledger_index_replace(struct ledger_index *ix, size_t i, const struct ledger_entry *e)
{
	ix->table[i] = slot_of(e);
}

/* Adds e in the first free slot of its run.  The live index has one
 * entry per key; the taken one may have several: a key flushed, created
 * again and taken again before the first deletion settled. */
void ledger_index_insert(struct ledger_index *ix, const struct ledger_entry *e)
{
	size_t mask, i;

	if ((ix->used + 1) * 10 > ix->cap * 7)
		rebuild(ix, 2 * ix->cap);
	mask = ix->cap - 1;
	for (i = e->hash & mask; ix->table[i] != 0; i = (i + 1) & mask)
		;
	ix->table[i] = slot_of(e);
	ix->used++;
}

/* Removes slot i by shifting back the entries of its probe run, so no
 * tombstones accumulate. */
void ledger_index_delete(struct ledger_index *ix, size_t i)
{
	size_t mask = ix->cap - 1, j = i;

	ix->table[i] = 0;
	ix->used--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (ix->table[j] == 0)
			return;
		home = ledger_index_entry(ix->table[j])->hash & mask;
		/* Move j back into i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			ix->table[i] = ix->table[j];
			ix->table[j] = 0;
			i = j;
		}
	}
}

/* Cheap when ix is empty, which the taken index usually is. */
void ledger_index_flag_key(const struct ledger_index *ix, const struct ledger_entry *e, unsigned f)
{
	size_t mask = ix->cap - 1;

	if (ix->used == 0)
		return;
	for (size_t i = e->hash & mask; ix->table[i] != 0; i = (i + 1) & mask) {
		struct ledger_entry *old = ledger_index_entry(ix->table[i]);

		if (old->hash == e->hash && old->klen == e->klen && memcmp(old->key, e->key, e->klen) == 0)
			entry_set_flag(old, f, true);
	}
}
