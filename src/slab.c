/* slab: a bump allocator in 64 KiB pages. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "slab.h"
#include "util.h"

#define SLAB_PAGE ((size_t)64 * 1024)	/* also the pages' alignment */
#define SLAB_ALIGN 8

struct slab_page {
	struct slab_page *prev, *next;
	size_t size;		/* of the allocation, header included */
	size_t used;		/* bytes handed out, header included */
	size_t live;		/* allocations not yet freed */
	max_align_t align[];
};

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
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
	pg->live = 0;
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

	n = round_up(n ? n : 1, SLAB_ALIGN);
	if (pg == NULL || pg->size - pg->used < n) {
		pg = page_new(s, n);
		/* A page for one big entry does not become the bump page. */
		if (n <= SLAB_PAGE / 4)
			s->cur = pg;
	}
	p = (char *)pg + pg->used;
	pg->used += n;
	pg->live++;
	return p;
}

void slab_free(struct slab *s, void *p)
{
	struct slab_page *pg;

	if (p == NULL)
		return;
	pg = page_of(p);
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
	s->cur = NULL;
	s->bytes = 0;
}
