/* ledger_mem: the ledger's memory given back after random deletions.
 *
 * Entries live in slab pages and usually leave oldest first, so whole
 * pages empty out.  When the application deletes keys at random instead, a
 * page stays as long as one of its entries lives: after a random 90% of a
 * million keys was deleted, the 100000 left held the memory of all of
 * them (568 B per live entry against 57 fresh), and new entries went to new
 * pages beside the sparse ones.
 *
 * So the ledger sweeps: it walks the slab's sparse pages (less than half
 * live), a few at a time, and moves each live entry into the page where
 * allocations go, fixing its neighbours' links and its index slot; the
 * emptied page goes back to the system.  Only entries nobody else points
 * at are moved: tracked keys, found through the list and the live index.
 * Marks (a reconciliation's, a flush's or a compaction's place, held by
 * their owners) and entries out for deletion (held by a flush's chunks)
 * stay where they are and keep their page, for as long as they live.
 *
 * The index shrinks by itself when keys are removed (ledger_index.c); this
 * file owns the sweep and nothing else of the ledger. */
#include "config.h"

#include <string.h>

#include "ledger.h"
#include "ledger_index.h"
#include "ledger_int.h"
#include "slab.h"

/* The most allocations a 64 KiB page holds (of 24 bytes: marks, empty keys). */
#define PAGE_ENTRIES_MAX ((64u * 1024) / 24)

/* Moves e, a tracked key, to a new place. */
static void move_entry(struct ledger *l, struct ledger_entry *e)
{
	size_t n = entry_size(e);
	struct ledger_entry *to = slab_alloc(&l->slab, n);
	struct ledger_entry *prev = entry_prev(e), *next = entry_next(e);

	memcpy(to, e, n);
	if (prev != NULL)
		entry_set_next(prev, to);
	else
		l->head = to;
	if (next != NULL)
		entry_set_prev(next, to);
	else
		l->tail = to;
	ledger_index_replace(&l->live, ledger_index_find_entry(&l->live, e), to);
	ledger_entry_free(l, e);
}

/* Whether e may move: a tracked key, not a mark and not out for deletion. */
static bool movable(const struct ledger *l, const struct ledger_entry *e)
{
	if (entry_dead(e) || entry_flag(e, LEDGER_F_MARK))
		return false;
	return l->taken.used == 0 || !ledger_index_has_entry(&l->taken, e);
}

/* Moves the movable entries of one page [p, end).  They are found first
 * and moved after: moving the last one gives the page back. */
static size_t empty_page(struct ledger *l, char *p, char *end)
{
	static struct ledger_entry *v[PAGE_ENTRIES_MAX];
	size_t n = 0;

	while (p < end && n < PAGE_ENTRIES_MAX) {
		struct ledger_entry *e = (struct ledger_entry *)(void *)p;

		p += slab_size(entry_size(e));
		if (movable(l, e))
			v[n++] = e;
	}
	for (size_t i = 0; i < n; i++)
		move_entry(l, v[i]);
	return n;
}

bool ledger_defrag(struct ledger *l, size_t pages, size_t *moved)
{
	char *start, *end;

	*moved = 0;
	if (!l->sweeping) {
		if (!slab_sparse(&l->slab))
			return false;
		slab_sweep_begin(&l->slab);
		l->sweeping = true;
	}
	for (size_t i = 0; i < pages; i++) {
		if (slab_sweep_next(&l->slab, &start, &end) == NULL) {
			/* A new sweep when the next call finds pages sparse again. */
			l->sweeping = false;
			return false;
		}
		*moved += empty_page(l, start, end);
	}
	return true;
}
