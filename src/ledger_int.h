/* ledger_int: what the ledger's own files share and nobody else may use:
 * struct ledger, and the encoding of an entry's 12 link bytes (its list
 * neighbours and its flags).  ledger.c owns the list these links make;
 * ledger_mem.c moves entries (links and all) out of sparse pages;
 * ledger_index.c only sets a flag.  No other module includes this header: callers see a
 * struct ledger_entry's hash, created, klen and key, never its links.
 *
 * Everything is static inline: a link is read or written several times on
 * every add, take and remove, the ledger's hot paths (bench/README.md). */
#ifndef GCS_LEDGER_INT_H
#define GCS_LEDGER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "le.h"
#include "ledger.h"
#include "ledger_index.h"
#include "ledger_log.h"
#include "slab.h"

/* The ledger itself, shared by ledger.c (the list) and ledger_mem.c (its
 * memory). */
struct ledger {
	struct ledger_entry *head, *tail;
	struct ledger_index live;	/* the tracked keys */
	struct ledger_index taken;	/* detached by ledger_take, not yet settled */
	size_t key_bytes;
	uint32_t seed;
	struct slab slab;		/* where the entries live */
	bool sweeping;			/* a sweep of sparse slab pages is under way */
	bool compact_pending;		/* a compaction is wanted at the next sync */
	struct ledger_entry *walk;	/* a compaction's place in the list, or NULL */
	struct ledger_log *log;		/* NULL: in memory only, or replaying */
};

/* Marks it freed, then gives its memory back. */
void ledger_entry_free(struct ledger *l, struct ledger_entry *e);

/* The links are 48-bit addresses, six bytes each, which is what makes the
 * entry header 24 bytes rather than 32; entries are 8-byte aligned, so the
 * low bits of prev carry the flags. */
#define LEDGER_F_MARK 1u	/* a reconciliation mark, not a key */
#define LEDGER_F_RECREATED 2u	/* taken, and its key tracked again since */
#define LEDGER_F_CURSOR 4u	/* with MARK: a flush's place, not a reconciliation's */
#define LEDGER_F_ALL 7u
/* On a freed entry, which a sweep of its page meets (no mark is ever
 * re-created, so no live entry carries both). */
#define LEDGER_F_DEAD (LEDGER_F_MARK | LEDGER_F_RECREATED)

#define LEDGER_LINK_MASK ((UINT64_C(1) << 48) - 1)

/* Link `which` as the 48 bits of an 8-byte word that stays inside the
 * 12 link bytes: prev is the low bits of bytes 0-7, next the high bits of
 * bytes 4-11.  One unaligned load or store each (le.h). */
static inline uint64_t entry_link_get(const struct ledger_entry *e, int which)
{
	return le_get64(e->link + 4 * which) >> (16 * which) & LEDGER_LINK_MASK;
}

static inline void entry_link_set(struct ledger_entry *e, int which, uint64_t v)
{
	int shift = 16 * which;
	uint64_t w = le_get64(e->link + 4 * which);

	if ((v & ~LEDGER_LINK_MASK) != 0)
		abort();	/* an address beyond 48 bits: not on Linux without asking */
	le_put64(e->link + 4 * which, (w & ~(LEDGER_LINK_MASK << shift)) | v << shift);
}

static inline struct ledger_entry *entry_prev(const struct ledger_entry *e)
{
	return (struct ledger_entry *)(uintptr_t)(entry_link_get(e, 0) & ~(uint64_t)LEDGER_F_ALL);
}

static inline struct ledger_entry *entry_next(const struct ledger_entry *e)
{
	return (struct ledger_entry *)(uintptr_t)entry_link_get(e, 1);
}

static inline void entry_set_prev(struct ledger_entry *e, const struct ledger_entry *p)
{
	entry_link_set(e, 0, (uint64_t)(uintptr_t)p | (entry_link_get(e, 0) & LEDGER_F_ALL));
}

static inline void entry_set_next(struct ledger_entry *e, const struct ledger_entry *n)
{
	entry_link_set(e, 1, (uint64_t)(uintptr_t)n);
}

static inline bool entry_flag(const struct ledger_entry *e, unsigned f)
{
	return (entry_link_get(e, 0) & f) != 0;
}

static inline void entry_set_flag(struct ledger_entry *e, unsigned f, bool on)
{
	uint64_t v = entry_link_get(e, 0);

	entry_link_set(e, 0, on ? v | f : v & ~(uint64_t)f);
}

static inline bool entry_dead(const struct ledger_entry *e)
{
	return (entry_link_get(e, 0) & LEDGER_F_DEAD) == LEDGER_F_DEAD;
}

/* The bytes an entry was allocated with (a mark's key is empty). */
static inline size_t entry_size(const struct ledger_entry *e)
{
	return offsetof(struct ledger_entry, key) + e->klen;
}

#endif
