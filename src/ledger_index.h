/* ledger_index: the ledger's hash index of entries by key, open addressing
 * with linear probing.  The ledger keeps two: `live` (the tracked keys, one
 * entry per key) and `taken` (entries out for deletion, where a key may
 * appear more than once).
 *
 * It stores pointers to entries the ledger owns: it never allocates,
 * frees or links an entry, and reads only their hash, klen and key (and
 * sets one flag, ledger_index_flag_key).  Private to the ledger's files.
 *
 * The hash and the probe loop are static inline: every add, remove and
 * lookup of a key runs them, and they are the daemon's hot spot. */
#ifndef GCS_LEDGER_INDEX_H
#define GCS_LEDGER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ledger.h"

struct ledger_index {
	uintptr_t *table;		/* slots, see ledger_index_slot */
	size_t cap;			/* power of two */
	size_t used;
};

void ledger_index_init(struct ledger_index *ix);
void ledger_index_fini(struct ledger_index *ix);
/* Forgets every entry (the entries themselves are the caller's). */
void ledger_index_clear(struct ledger_index *ix);
/* Bytes of memory the table takes. */
size_t ledger_index_bytes(const struct ledger_index *ix);

/* Adds e, growing the table when it is 70% full. */
void ledger_index_insert(struct ledger_index *ix, const struct ledger_entry *e);
/* The slot of e, which must be in ix. */
size_t ledger_index_find_entry(const struct ledger_index *ix, const struct ledger_entry *e);
/* Removes the entry in slot i (from ledger_index_lookup or _find_entry). */
void ledger_index_delete(struct ledger_index *ix, size_t i);
/* Shrinks the table when few of its slots are used (after many
 * deletions), so that its memory goes back. */
void ledger_index_maybe_shrink(struct ledger_index *ix);
/* Whether e itself (not just its key) is in ix. */
bool ledger_index_has_entry(const struct ledger_index *ix, const struct ledger_entry *e);
/* Slot i (where e's old copy was) now holds e, which has the same hash. */
void ledger_index_replace(struct ledger_index *ix, size_t i, const struct ledger_entry *e);
/* Sets flag f (LEDGER_F_*) on every entry of ix with e's key. */
void ledger_index_flag_key(const struct ledger_index *ix, const struct ledger_entry *e, unsigned f);

/* FNV-1a with a per-ledger seed, so that keys chosen by a client cannot
 * aim at one bucket. */
static inline uint32_t ledger_index_hash(uint32_t seed, const char *key, size_t klen)
{
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

/* A slot holds an entry's address with 16 bits of its hash in the top
 * bits, which user-space addresses leave free (they fit in 48).  A probe
 * then rejects almost every other key without touching its entry, which
 * would be a cache miss each: the index is the daemon's hot spot. */
#define LEDGER_SLOT_PTR ((UINT64_C(1) << 48) - 1)

/* The tag mixes all of the hash: its low bits already chose the bucket. */
static inline uintptr_t ledger_index_tag(uint32_t h)
{
	return (uintptr_t)((uint32_t)(h * 2654435761u) >> 16) << 48;
}

static inline struct ledger_entry *ledger_index_entry(uintptr_t v)
{
	return (struct ledger_entry *)(v & LEDGER_SLOT_PTR);
}

/* The entry with this key (h its hash), or NULL.  *slot (if not NULL) is
 * its slot, or the free slot that ends its probe run. */
static inline struct ledger_entry *ledger_index_lookup(const struct ledger_index *ix, uint32_t h, const char *key,
						       size_t klen, size_t *slot)
{
	size_t mask = ix->cap - 1;
	uintptr_t tag = ledger_index_tag(h);
	size_t i;

	for (i = h & mask;; i = (i + 1) & mask) {
		uintptr_t v = ix->table[i];
		const struct ledger_entry *e;

		if (v == 0)
			break;
		if ((v & ~(uintptr_t)LEDGER_SLOT_PTR) != tag)
			continue;
		e = ledger_index_entry(v);
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			break;
	}
	if (slot != NULL)
		*slot = i;
	return ledger_index_entry(ix->table[i]);
}

#endif
