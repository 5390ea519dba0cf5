/* slab: a bump allocator in 64 KiB pages (see slab.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "slab.h"
#include "util.h"

#define SLAB_PAGE ((size_t)64 * 1024)	/* also the pages' alignment */
#define SLAB_ALIGN 8
/* Sparse: pages hold more than this many times their live bytes.  Fresh,
 * the ledger's pages are full but for the end of the current one. */
#define SLAB_SPARSE_RATIO 1.25
/* Below this many pages' worth, compaction is not worth its work. */
#define SLAB_SPARSE_MIN_PAGES 8

struct slab_page {
	struct slab_page *prev, *next;
	size_t size;		/* of the allocation, header included */
	size_t used;		/* bytes handed out, header included */
	size_t live;		/* allocations not yet freed */
	size_t live_bytes;	/* their bytes */
	uint32_t swept;		/* the sweep that last took it */
	max_align_t align[];
};

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

size_t slab_size(size_t n)
{
	return round_up(n ? n : 1, SLAB_ALIGN);
}

/* Pages are aligned to SLAB_PAGE, and every allocation starts within the
 * first SLAB_PAGE bytes of its page, so masking finds the header. */
static struct slab_page *page_of(void *p)
{
	return (struct slab_page *)((uintptr_t)p & ~(uintptr_t)(SLAB_PAGE - 1));
}

/* Pages come straight from mmap, trimmed to their alignment: from
 * malloc, each aligned page left a gap whose first bytes malloc writes,
 * and so about 4 KiB of resident memory per 64 KiB page (6% of the
 * ledger) that held nothing. */
static void *map_aligned(size_t size)
{
	size_t span = size + SLAB_PAGE;
	char *p = xmmap(span);
	char *start, *end;

	start = (char *)round_up((uintptr_t)p, SLAB_PAGE);
	end = start + size;
	if (start > p)
		munmap(p, (size_t)(start - p));
	if (p + span > end)
		munmap(end, (size_t)(p + span - end));
	return start;
}

static struct slab_page *page_new(struct slab *s, size_t need)
{
	size_t size = round_up(sizeof(struct slab_page) + need, SLAB_PAGE);
	struct slab_page *pg = map_aligned(size);

	pg->size = size;
	pg->used = sizeof(struct slab_page);
	pg->live = pg->live_bytes = 0;
	pg->swept = s->sweep;	/* a page made during a sweep is not swept */
	pg->prev = NULL;
	pg->next = s->pages;
	if (s->pages != NULL)
		s->pages->prev = pg;
	s->pages = pg;
	s->bytes += size;
	return pg;
}

void *slab_alloc(struct slab *s, size_t n)
{
	struct slab_page *pg = s->cur;
	void *p;

	n = slab_size(n);
	if (pg == NULL || pg->size - pg->used < n) {
		pg = page_new(s, n);
		/* A page for one big entry does not become the bump page. */
		if (n <= SLAB_PAGE / 4)
			s->cur = pg;
	}
	p = (char *)pg + pg->used;
	pg->used += n;
	pg->live++;
	pg->live_bytes += n;
	s->live += n;
	return p;
}

void slab_free(struct slab *s, void *p, size_t n)
{
	struct slab_page *pg;

	if (p == NULL)
		return;
	n = slab_size(n);
	pg = page_of(p);
	pg->live_bytes -= n;
	s->live -= n;
	if (--pg->live > 0)
		return;
	if (pg == s->cur) {
		pg->used = sizeof(struct slab_page);	/* empty: bump from the start again */
		return;
	}
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		s->pages = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	if (s->sweep_pos == pg)
		s->sweep_pos = pg->next;
	s->bytes -= pg->size;
	munmap(pg, pg->size);
}

void slab_destroy(struct slab *s)
{
	while (s->pages != NULL) {
		struct slab_page *next = s->pages->next;

		munmap(s->pages, s->pages->size);
		s->pages = next;
	}
	s->cur = s->sweep_pos = NULL;
	s->bytes = s->live = 0;
}

bool slab_sparse(const struct slab *s)
{
	return s->bytes > SLAB_SPARSE_MIN_PAGES * SLAB_PAGE && (double)s->bytes > SLAB_SPARSE_RATIO * (double)s->live;
}

void slab_sweep_begin(struct slab *s)
{
	s->sweep++;
	s->sweep_pos = s->pages;
}

/* Half empty or more: moving its live allocations out frees at least as
 * much as they take elsewhere. */
static bool page_sparse(const struct slab *s, const struct slab_page *pg)
{
	return pg != s->cur && pg->size == SLAB_PAGE && pg->swept != s->sweep &&
	       2 * pg->live_bytes < SLAB_PAGE - sizeof(struct slab_page);
}

struct slab_page *slab_sweep_next(struct slab *s, char **start, char **end)
{
	for (struct slab_page *pg = s->sweep_pos; pg != NULL; pg = pg->next) {
		if (!page_sparse(s, pg))
			continue;
		pg->swept = s->sweep;
		s->sweep_pos = pg->next;
		*start = (char *)pg + sizeof(struct slab_page);
		*end = (char *)pg + pg->used;
		return pg;
	}
	s->sweep_pos = NULL;
	return NULL;
}
