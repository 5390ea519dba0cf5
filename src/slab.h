/* slab: a bump allocator in 64 KiB pages for the ledger's entries.
 *
 * A tracked key costs the daemon memory that the index is supposed to
 * save; malloc adds a header and 16-byte rounding to every entry.  Here
 * entries are packed at 8-byte alignment, and since they mostly leave in
 * the order they came (oldest first), whole pages empty out and go back to
 * the system. */
#ifndef GCS_SLAB_H
#define GCS_SLAB_H

#include <stddef.h>

struct slab_page;

struct slab {
	struct slab_page *cur;		/* where allocations go */
	struct slab_page *pages;	/* every page, for slab_destroy */
	size_t bytes;			/* memory held in pages */
};

void *slab_alloc(struct slab *s, size_t n);
void slab_free(struct slab *s, void *p);
/* Frees every page; the slab is empty and usable after. */
void slab_destroy(struct slab *s);

#endif
