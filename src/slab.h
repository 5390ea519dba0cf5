/* slab: a bump allocator in 64 KiB pages for the ledger's entries.
 *
 * A tracked key costs the daemon memory that the index is supposed to
 * save; malloc adds a header and 16-byte rounding to every entry.  Here
 * entries are packed at 8-byte alignment, and since they mostly leave in
 * the order they came (oldest first), whole pages empty out and go back to
 * the system.
 *
 * When they do not (the application deletes keys at random), a page stays
 * as long as one of its entries lives.  The slab counts the live bytes of
 * every page and finds the sparse ones; their owner, who knows what the
 * allocations are and who points at them, moves the live ones out
 * (ledger_mem.c), and the emptied pages go back. */
#ifndef GCS_SLAB_H
#define GCS_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct slab_page;

struct slab {
	struct slab_page *cur;		/* where allocations go */
	struct slab_page *pages;	/* every page, newest first */
	size_t bytes;			/* memory held in pages */
	size_t live;			/* bytes of allocations not yet freed */
	uint32_t sweep;			/* the current sweep's number */
	struct slab_page *sweep_pos;	/* the next page the sweep looks at */
};

/* The size an allocation of n bytes takes. */
size_t slab_size(size_t n);
void *slab_alloc(struct slab *s, size_t n);
/* Frees p, allocated with n bytes. */
void slab_free(struct slab *s, void *p, size_t n);
/* Frees every page; the slab is empty and usable after. */
void slab_destroy(struct slab *s);

/* Whether pages hold much more than their live allocations: more than
 * SLAB_SPARSE_RATIO times, and a few pages' worth. */
bool slab_sparse(const struct slab *s);
/* Starts a sweep over every page (from the newest). */
void slab_sweep_begin(struct slab *s);
/* The sweep's next page to empty: less than half live, and neither the
 * page allocations go to nor one of a single large allocation; NULL when
 * the sweep is over.  The sweep keeps its place across calls, whatever
 * is allocated and freed between them.  *start and *end bound its allocations, packed in
 * the order they were made (each slab_size of its n), live and freed
 * alike: the owner tells them apart. */
struct slab_page *slab_sweep_next(struct slab *s, char **start, char **end);

#endif
