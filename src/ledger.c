/* ledger: a shard's entries in creation order, with a persisted log.
 *
 * Log format (little-endian): the 8-byte magic "GCSLEDG1", then records
 *   type (1 byte: 'A' add, 'D' delete) | created (u32) | length (u32) | key.
 * Replaying the records in order rebuilds the list.  A crash can leave a
 * torn last record; it is cut off at the next open.  Losing the tail only
 * loses recent events, which the reconciliation after a start finds again. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "slab.h"
#include "util.h"

#define LEDGER_MAGIC "GCSLEDG1"
#define LEDGER_MAGIC_LEN 8
#define LEDGER_MIN_CAP 1024
#define LEDGER_COMPACT_MIN 100000	/* records before compaction is considered */
#define LEDGER_KEY_MAX (512u << 20)	/* Redis's own limit on a key */

/* Open addressing with linear probing: see slot_of. */
struct index {
	uintptr_t *table;
	size_t cap;			/* power of two */
	size_t used;
};

struct ledger {
	struct ledger_entry *head, *tail;
	struct index live;		/* the tracked keys */
	struct index taken;		/* detached by ledger_take, not yet settled */
	size_t key_bytes;
	uint32_t seed;
	struct slab slab;		/* where the entries live */
	bool compact_pending;		/* compaction waits for them */

	FILE *log;
	char *path;
	size_t log_records;
};

/* FNV-1a with a per-process seed, so that keys chosen by a client cannot
 * aim at one bucket. */
static uint32_t hash_key(uint32_t seed, const char *key, size_t klen)
{
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

/* The links are 48-bit addresses, six bytes each, which is what makes the
 * entry header 24 bytes rather than 32; entries are 8-byte aligned, so the
 * low bits of prev carry the flags. */
#define F_MARK 1u
#define F_RECREATED 2u
#define F_ALL 7u

#define LINK_MASK ((UINT64_C(1) << 48) - 1)

/* Link `which` as the 48 bits of an 8-byte word that stays inside the
 * 12 link bytes: prev is the low bits of bytes 0-7, next the high bits of
 * bytes 4-11.  One unaligned load or store each, where byte-wise code did
 * not compile to one. */
static uint64_t word_at(const struct ledger_entry *e, int which)
{
	unsigned char b[8];

	memcpy(b, e->link + 4 * which, 8);
	return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
	       (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
}

static void word_put(struct ledger_entry *e, int which, uint64_t w)
{
	unsigned char b[8] = {
		(unsigned char)w, (unsigned char)(w >> 8), (unsigned char)(w >> 16), (unsigned char)(w >> 24),
		(unsigned char)(w >> 32), (unsigned char)(w >> 40), (unsigned char)(w >> 48), (unsigned char)(w >> 56),
	};

	memcpy(e->link + 4 * which, b, 8);
}

static uint64_t link_get(const struct ledger_entry *e, int which)
{
	return word_at(e, which) >> (16 * which) & LINK_MASK;
}

static void link_set(struct ledger_entry *e, int which, uint64_t v)
{
	int shift = 16 * which;

	if ((v & ~LINK_MASK) != 0)
		abort();	/* an address beyond 48 bits: not on Linux without asking */
	word_put(e, which, (word_at(e, which) & ~(LINK_MASK << shift)) | v << shift);
}

static struct ledger_entry *prev_of(const struct ledger_entry *e)
{
	return (struct ledger_entry *)(uintptr_t)(link_get(e, 0) & ~(uint64_t)F_ALL);
}

static struct ledger_entry *next_of(const struct ledger_entry *e)
{
	return (struct ledger_entry *)(uintptr_t)link_get(e, 1);
}

static void set_prev(struct ledger_entry *e, const struct ledger_entry *p)
{
	link_set(e, 0, (uint64_t)(uintptr_t)p | (link_get(e, 0) & F_ALL));
}

static void set_next(struct ledger_entry *e, const struct ledger_entry *n)
{
	link_set(e, 1, (uint64_t)(uintptr_t)n);
}

static bool flag(const struct ledger_entry *e, unsigned f)
{
	return (link_get(e, 0) & f) != 0;
}

static void set_flag(struct ledger_entry *e, unsigned f, bool on)
{
	uint64_t v = link_get(e, 0);

	link_set(e, 0, on ? v | f : v & ~(uint64_t)f);
}

bool ledger_is_mark(const struct ledger_entry *e)
{
	return flag(e, F_MARK);
}

const struct ledger_entry *ledger_next(const struct ledger_entry *e)
{
	return next_of(e);
}

/* A big index is probed at random, so every lookup would also miss the
 * TLB on 4 KiB pages: ask for huge pages, which on a 1M-key index took a
 * third off the time of each probe.  Without THP (or below 2 MiB) this is
 * plain zeroed memory. */
#define HUGE_PAGE (2u << 20)

static uintptr_t *table_alloc(size_t cap)
{
	size_t size = cap * sizeof(uintptr_t);
	void *p;

	if (size < HUGE_PAGE || posix_memalign(&p, HUGE_PAGE, size) != 0)
		return xcalloc(cap, sizeof(uintptr_t));	/* aborts if out of memory */
#ifdef MADV_HUGEPAGE
	(void)madvise(p, size, MADV_HUGEPAGE);	/* advice only: fine to fail */
#endif
	memset(p, 0, size);
	return p;
}

static void index_init(struct index *ix)
{
	ix->cap = LEDGER_MIN_CAP;
	ix->table = table_alloc(ix->cap);
	ix->used = 0;
}

struct ledger *ledger_new(void)
{
	struct ledger *l = xcalloc(1, sizeof(*l));

	index_init(&l->live);
	index_init(&l->taken);
	l->seed = (uint32_t)random();
	return l;
}

static void entry_free(struct ledger *l, struct ledger_entry *e)
{
	slab_free(&l->slab, e);
}

void ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	if (l->log != NULL)
		fclose(l->log);
	slab_destroy(&l->slab);
	free(l->live.table);
	free(l->taken.table);
	free(l->path);
	free(l);
}

void ledger_clear(struct ledger *l)
{
	char *err = NULL;

	/* Entries out for deletion live on: they are freed one by one later. */
	for (struct ledger_entry *e = l->head, *next; e != NULL; e = next) {
		next = next_of(e);
		entry_free(l, e);
	}
	l->head = l->tail = NULL;
	memset(l->live.table, 0, l->live.cap * sizeof(*l->live.table));
	l->live.used = 0;
	l->key_bytes = 0;
	if (ledger_compact(l, &err) < 0)
		free(err);	/* the next sync reports a lasting problem */
}

/* ---- the index ----------------------------------------------------------- */

/* A slot holds an entry's address with 16 bits of its hash in the top
 * bits, which user-space addresses leave free (they fit in 48).  A probe
 * then rejects almost every other key without touching its entry, which
 * would be a cache miss each: the index is the daemon's hot spot. */
#define SLOT_PTR ((UINT64_C(1) << 48) - 1)

/* The tag mixes all of the hash: its low bits already chose the bucket. */
static uintptr_t tag_of(uint32_t h)
{
	return (uintptr_t)((uint32_t)(h * 2654435761u) >> 16) << 48;
}

static uintptr_t slot_of(const struct ledger_entry *e)
{
	uintptr_t p = (uintptr_t)e;

	if ((p & ~(uintptr_t)SLOT_PTR) != 0)
		abort();	/* an address beyond 48 bits: not on Linux without asking */
	return p | tag_of(e->hash);
}

static struct ledger_entry *slot_entry(uintptr_t v)
{
	return (struct ledger_entry *)(v & SLOT_PTR);
}

static size_t find_slot(const struct index *ix, const char *key, size_t klen, uint32_t h)
{
	size_t mask = ix->cap - 1;
	uintptr_t tag = tag_of(h);

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uintptr_t v = ix->table[i];
		const struct ledger_entry *e;

		if (v == 0)
			return i;
		if ((v & ~(uintptr_t)SLOT_PTR) != tag)
			continue;
		e = slot_entry(v);
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return i;
	}
}

/* The slot of an entry known to be in ix: no key compared, no entry read. */
static size_t find_entry(const struct index *ix, const struct ledger_entry *e)
{
	size_t mask = ix->cap - 1;
	uintptr_t v = slot_of(e);
	size_t i;

	for (i = e->hash & mask; ix->table[i] != v; i = (i + 1) & mask)
		;
	return i;
}

static void index_insert(struct index *ix, const struct ledger_entry *e);

static void index_grow(struct index *ix)
{
	uintptr_t *old = ix->table;
	size_t oldcap = ix->cap;

	ix->cap *= 2;
	ix->used = 0;
	ix->table = table_alloc(ix->cap);
	for (size_t i = 0; i < oldcap; i++) {
		/* Each entry is read for its hash: fetch a few ahead, so that
		 * the misses overlap rather than follow one another. */
		if (i + 8 < oldcap && old[i + 8] != 0)
			__builtin_prefetch(slot_entry(old[i + 8]));
		if (old[i] != 0)
			index_insert(ix, slot_entry(old[i]));
	}
	free(old);
}

/* Adds e in the first free slot of its run.  The live index has one
 * entry per key; the taken one may have several: a key flushed, created
 * again and taken again before the first deletion settled. */
static void index_insert(struct index *ix, const struct ledger_entry *e)
{
	size_t mask, i;

	if ((ix->used + 1) * 10 > ix->cap * 7)
		index_grow(ix);
	mask = ix->cap - 1;
	for (i = e->hash & mask; ix->table[i] != 0; i = (i + 1) & mask)
		;
	ix->table[i] = slot_of(e);
	ix->used++;
}

/* Removes slot i by shifting back the entries of its probe run, so no
 * tombstones accumulate. */
static void index_delete(struct index *ix, size_t i)
{
	size_t mask = ix->cap - 1, j = i;

	ix->table[i] = 0;
	ix->used--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (ix->table[j] == 0)
			return;
		home = slot_entry(ix->table[j])->hash & mask;
		/* Move j back into i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			ix->table[i] = ix->table[j];
			ix->table[j] = 0;
			i = j;
		}
	}
}

static struct ledger_entry *index_lookup(const struct index *ix, uint32_t h, const char *key, size_t klen,
					 size_t *slot)
{
	size_t i = find_slot(ix, key, klen, h);

	if (slot != NULL)
		*slot = i;
	return slot_entry(ix->table[i]);
}

static struct ledger_entry *lookup(const struct ledger *l, const char *key, size_t klen, size_t *slot)
{
	return index_lookup(&l->live, hash_key(l->seed, key, klen), key, klen, slot);
}

/* A key is being tracked anew: if its old entry is still out for
 * deletion, that one must not log a 'D' when settled, which would cancel
 * the new 'A'.  Cheap: the taken index is small and usually empty. */
static void note_recreated(struct ledger *l, const struct ledger_entry *e)
{
	const struct index *ix = &l->taken;
	size_t mask = ix->cap - 1;

	if (ix->used == 0)
		return;
	for (size_t i = e->hash & mask; ix->table[i] != 0; i = (i + 1) & mask) {
		struct ledger_entry *old = slot_entry(ix->table[i]);

		if (old->hash == e->hash && old->klen == e->klen && memcmp(old->key, e->key, e->klen) == 0)
			set_flag(old, F_RECREATED, true);
	}
}

/* ---- the list --------------------------------------------------------------- */

static void list_unlink(struct ledger *l, struct ledger_entry *e)
{
	struct ledger_entry *prev = prev_of(e), *next = next_of(e);

	if (prev)
		set_next(prev, next);
	else
		l->head = next;
	if (next)
		set_prev(next, prev);
	else
		l->tail = prev;
	set_prev(e, NULL);
	set_next(e, NULL);
}

static void list_insert_before(struct ledger *l, struct ledger_entry *pos, struct ledger_entry *e)
{
	struct ledger_entry *prev = pos ? prev_of(pos) : l->tail;

	set_prev(e, prev);
	set_next(e, pos);
	if (prev)
		set_next(prev, e);
	else
		l->head = e;
	if (pos)
		set_prev(pos, e);
	else
		l->tail = e;
}

static struct ledger_entry *entry_new(struct ledger *l, const char *key, size_t klen, uint32_t created)
{
	struct ledger_entry *e = slab_alloc(&l->slab, offsetof(struct ledger_entry, key) + klen);

	memset(e->link, 0, sizeof(e->link));
	e->hash = hash_key(l->seed, key, klen);
	e->created = created;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	return e;
}

/* Tracks e at pos (NULL: the tail); the key must not be tracked. */
static void track(struct ledger *l, struct ledger_entry *pos, struct ledger_entry *e)
{
	index_insert(&l->live, e);
	note_recreated(l, e);
	l->key_bytes += e->klen;
	list_insert_before(l, pos, e);
}

static void untrack(struct ledger *l, struct ledger_entry *e, size_t slot)
{
	index_delete(&l->live, slot);
	l->key_bytes -= e->klen;
	list_unlink(l, e);
}

/* ---- the log ------------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_record(FILE *f, char type, uint32_t created, const char *data, size_t len)
{
	unsigned char hdr[9];

	hdr[0] = (unsigned char)type;
	put_u32(hdr + 1, created);
	put_u32(hdr + 5, (uint32_t)len);
	fwrite(hdr, 1, sizeof(hdr), f);
	fwrite(data, 1, len, f);
}

static void log_record(struct ledger *l, char type, uint32_t created, const char *data, size_t len)
{
	if (l->log == NULL)
		return;
	write_record(l->log, type, created, data, len);
	l->log_records++;
}

/* Replays the log; returns the offset just past the last whole record. */
static long replay(struct ledger *l, FILE *f)
{
	unsigned char hdr[9];
	size_t cap = 64;
	char *data = xmalloc(cap);	/* never NULL: an empty key is a real key */
	long good = LEDGER_MAGIC_LEN, size;
	struct stat st;

	size = fstat(fileno(f), &st) == 0 ? (long)st.st_size : LONG_MAX;
	while (fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) {
		uint32_t created = get_u32(hdr + 1), len = get_u32(hdr + 5);

		/* A length past the end of the file is a torn or garbled tail:
		 * do not allocate for it. */
		if (len > LEDGER_KEY_MAX || (long)len > size - ftell(f))
			break;
		if (len > cap) {
			cap = len;
			data = xrealloc(data, cap);
		}
		if (fread(data, 1, len, f) != len)
			break;
		if (hdr[0] == 'A')
			ledger_add(l, data, len, created);
		else if (hdr[0] == 'D')
			ledger_remove(l, data, len);
		else
			break;	/* garbage: treat as a torn tail */
		l->log_records++;
		good = ftell(f);
	}
	free(data);
	return good;
}

int ledger_open(struct ledger *l, const char *path, char **err)
{
	char magic[LEDGER_MAGIC_LEN];
	FILE *f = fopen(path, "r+b");
	long good, end;

	if (f == NULL && errno == ENOENT)
		f = fopen(path, "w+b");
	if (f == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fread(magic, 1, sizeof(magic), f) != sizeof(magic)) {
		/* New or empty: write the magic. */
		rewind(f);
		if (fwrite(LEDGER_MAGIC, 1, LEDGER_MAGIC_LEN, f) != LEDGER_MAGIC_LEN || ftruncate(fileno(f), LEDGER_MAGIC_LEN) < 0) {
			*err = xasprintf("%s: %s", path, strerror(errno));
			fclose(f);
			return -1;
		}
	} else if (memcmp(magic, LEDGER_MAGIC, LEDGER_MAGIC_LEN) != 0) {
		*err = xasprintf("%s: not a gcs-flushd ledger", path);
		fclose(f);
		return -1;
	}
	l->log = NULL;	/* replaying must not log */
	good = replay(l, f);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	if (end > good && ftruncate(fileno(f), good) < 0) {
		*err = xasprintf("%s: cannot cut the torn tail: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fseek(f, good, SEEK_SET);
	l->log = f;
	free(l->path);
	l->path = xstrdup(path);
	return end > good ? (int)(end - good) : 0;
}

int ledger_compact(struct ledger *l, char **err)
{
	char *tmp;
	FILE *f;

	if (l->path == NULL)
		return 0;
	/* Entries out for deletion are in no list: a snapshot now would drop
	 * them, and a put-back or a crash would then lose their place. */
	if (l->taken.used > 0) {
		l->compact_pending = true;
		return 0;
	}
	l->compact_pending = false;
	tmp = xasprintf("%s.tmp", l->path);
	f = fopen(tmp, "wb");
	if (f == NULL) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	fwrite(LEDGER_MAGIC, 1, LEDGER_MAGIC_LEN, f);
	for (const struct ledger_entry *e = l->head; e != NULL; e = next_of(e))
		if (!flag(e, F_MARK))
			write_record(f, 'A', e->created, e->key, e->klen);
	if (fflush(f) != 0 || ferror(f) || rename(tmp, l->path) < 0) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (l->log != NULL)
		fclose(l->log);
	l->log = f;
	l->log_records = l->live.used;
	return 0;
}

int ledger_sync(struct ledger *l, char **err)
{
	if (l->log == NULL)
		return 0;
	if (l->compact_pending || (l->log_records > LEDGER_COMPACT_MIN && l->log_records > 2 * l->live.used))
		return ledger_compact(l, err);
	if (fflush(l->log) != 0) {
		*err = xasprintf("%s: %s", l->path, strerror(errno));
		clearerr(l->log);
		return -1;
	}
	return 0;
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
	log_record(l, 'A', created, key, klen);
}

bool ledger_remove(struct ledger *l, const char *key, size_t klen)
{
	size_t slot;
	struct ledger_entry *e = lookup(l, key, klen, &slot);

	if (e == NULL)
		return false;
	untrack(l, e, slot);
	log_record(l, 'D', 0, key, klen);	/* before the free: key may be e->key */
	entry_free(l, e);
	return true;
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

uint32_t ledger_oldest_created(const struct ledger *l)
{
	for (const struct ledger_entry *e = l->head; e != NULL; e = next_of(e))
		if (!flag(e, F_MARK))
			return e->created;
	return 0;
}

size_t ledger_memory(const struct ledger *l)
{
	return sizeof(*l) + (l->live.cap + l->taken.cap) * sizeof(uintptr_t) + l->slab.bytes;
}

size_t ledger_take(struct ledger *l, struct ledger_entry **out, size_t max)
{
	size_t n = 0;

	while (n < max && l->head != NULL && !flag(l->head, F_MARK)) {
		struct ledger_entry *e = l->head;

		untrack(l, e, find_entry(&l->live, e));
		set_flag(e, F_RECREATED, false);
		index_insert(&l->taken, e);
		out[n++] = e;
	}
	return n;
}

void ledger_done(struct ledger *l, struct ledger_entry *e)
{
	/* Created again while its deletion was in flight: the log already
	 * has the new 'A', which a 'D' would cancel. */
	index_delete(&l->taken, find_entry(&l->taken, e));
	if (!flag(e, F_RECREATED))
		log_record(l, 'D', 0, e->key, e->klen);
	entry_free(l, e);
}

void ledger_put_back(struct ledger *l, struct ledger_entry **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		index_delete(&l->taken, find_entry(&l->taken, v[i]));
	/* Walk backwards, inserting each at the head, to keep their order. */
	for (size_t i = n; i-- > 0;) {
		struct ledger_entry *e = v[i];

		if (lookup(l, e->key, e->klen, NULL) != NULL) {
			entry_free(l, e);	/* created again meanwhile: the new one counts */
			continue;
		}
		track(l, l->head, e);
	}
}

struct ledger_entry *ledger_mark(struct ledger *l)
{
	struct ledger_entry *m = slab_alloc(&l->slab, sizeof(*m));

	memset(m, 0, sizeof(*m));

	set_flag(m, F_MARK, true);
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
		next = next_of(e);
		if (!flag(e, F_MARK) && !keep(arg, e->key, e->klen)) {
			ledger_remove(l, e->key, e->klen);
			dropped++;
		}
	}
	return dropped;
}

void ledger_unmark(struct ledger *l, struct ledger_entry *mark)
{
	list_unlink(l, mark);
	entry_free(l, mark);
}

bool ledger_flushable(const struct ledger *l)
{
	return l->head != NULL && !ledger_is_mark(l->head);
}
