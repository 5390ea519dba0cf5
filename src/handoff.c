/* handoff: held keyspace events, matched by key across nodes.
 *
 * Held events sit in a FIFO (they all wait the same HANDOFF_SECS, so the
 * oldest expires first) and in a chained hash by key.  A resharding moves
 * keys a slot at a time, so at most a few thousand are held at once. */
#include "config.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "ledger.h"
#include "timer.h"
#include "util.h"

enum held_kind { HELD_DEL, HELD_NEW };

struct held {
	struct held *next_fifo, *next_hash;
	const void *who;
	enum held_kind kind;
	uint32_t created;
	double due;			/* monotonic */
	size_t klen;
	char key[];
};

struct handoff {
	struct ledger *ledger;
	struct event *timer;
	struct held *head, *tail;	/* FIFO, oldest first */
	struct held **bucket;
	size_t nbuckets, count;
};

static size_t hash_of(const char *key, size_t klen, size_t nbuckets)
{
	size_t h = 1469598103934665603u;

	for (size_t i = 0; i < klen; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211u;
	return h & (nbuckets - 1);
}

static struct held **slot_for(struct handoff *h, const char *key, size_t klen)
{
	struct held **p = &h->bucket[hash_of(key, klen, h->nbuckets)];

	while (*p != NULL && ((*p)->klen != klen || memcmp((*p)->key, key, klen) != 0))
		p = &(*p)->next_hash;
	return p;
}

static void grow(struct handoff *h)
{
	size_t n = h->nbuckets * 2;
	struct held **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < h->nbuckets; i++)
		for (struct held *e = h->bucket[i], *next; e != NULL; e = next) {
			size_t k = hash_of(e->key, e->klen, n);

			next = e->next_hash;
			e->next_hash = b[k];
			b[k] = e;
		}
	free(h->bucket);
	h->bucket = b;
	h->nbuckets = n;
}

/* Unhooks e from the hash; the FIFO drops it when it reaches the head. */
static void unhash(struct handoff *h, struct held *e)
{
	struct held **p = slot_for(h, e->key, e->klen);

	if (*p == e)
		*p = e->next_hash;
	e->who = NULL;		/* dead: the FIFO frees it */
	h->count--;
}

static void hold(struct handoff *h, const void *who, enum held_kind kind, const char *key, size_t klen,
		 uint32_t created)
{
	struct held *e = xmalloc(sizeof(*e) + klen);
	struct held **p;

	if (h->count + 1 > h->nbuckets)
		grow(h);
	e->who = who;
	e->kind = kind;
	e->created = created;
	e->due = time_mono() + HANDOFF_SECS;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->next_fifo = NULL;
	p = slot_for(h, key, klen);
	e->next_hash = *p;	/* NULL: slot_for found no other */
	*p = e;
	h->count++;
	if (h->tail != NULL)
		h->tail->next_fifo = e;
	else
		h->head = e;
	h->tail = e;
	if (!event_pending(h->timer, EV_TIMEOUT, NULL))
		timer_arm(h->timer, HANDOFF_SECS);
}

/* The held event's time is up: no other half came. */
static void apply(struct handoff *h, struct held *e)
{
	if (e->kind == HELD_DEL)
		ledger_remove(h->ledger, e->key, e->klen);
	else
		ledger_add(h->ledger, e->key, e->klen, e->created);	/* created again: the newest */
}

static void expire(struct handoff *h, bool all)
{
	double now = time_mono();

	while (h->head != NULL && (all || h->head->due <= now)) {
		struct held *e = h->head;

		h->head = e->next_fifo;
		if (h->head == NULL)
			h->tail = NULL;
		if (e->who != NULL) {
			unhash(h, e);
			apply(h, e);
		}
		free(e);
	}
	if (h->head != NULL)
		timer_arm(h->timer, h->head->due - now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	expire(arg, false);
}

void handoff_del(struct handoff *h, const void *who, const char *key, size_t klen)
{
	struct held *e = *slot_for(h, key, klen);

	if (e != NULL && e->who != who && e->kind == HELD_NEW) {
		unhash(h, e);	/* the source's half of a migration: the key stays */
		return;
	}
	if (e != NULL)
		unhash(h, e);	/* the same node again: the newer event counts */
	if (!ledger_contains(h->ledger, key, klen))
		return;
	hold(h, who, HELD_DEL, key, klen, 0);
}

void handoff_new_key(struct handoff *h, const void *who, const char *key, size_t klen, uint32_t created)
{
	struct held *e = *slot_for(h, key, klen);

	if (e != NULL && e->who != who && e->kind == HELD_DEL) {
		unhash(h, e);	/* the target's half of a migration: the key stays */
		return;
	}
	if (e != NULL) {
		/* Deleted and created again on the same node: now the newest. */
		unhash(h, e);
		ledger_add(h->ledger, key, klen, created);
		return;
	}
	if (!ledger_contains(h->ledger, key, klen)) {
		ledger_add(h->ledger, key, klen, created);
		return;
	}
	hold(h, who, HELD_NEW, key, klen, created);
}

size_t handoff_held(const struct handoff *h)
{
	return h->count;
}

struct handoff *handoff_new(struct event_base *base, struct ledger *ledger)
{
	struct handoff *h = xcalloc(1, sizeof(*h));

	h->ledger = ledger;
	h->nbuckets = 64;
	h->bucket = xcalloc(h->nbuckets, sizeof(*h->bucket));
	h->timer = evtimer_new(base, on_timer, h);
	if (h->timer == NULL)
		abort();
	return h;
}

void handoff_free(struct handoff *h)
{
	if (h == NULL)
		return;
	expire(h, true);
	event_free(h->timer);
	free(h->bucket);
	free(h);
}
