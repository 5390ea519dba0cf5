/* flush: one flush cycle of a shard, in paced chunks.
 *
 * Entries leave the ledger when their chunk is sent.  If the connection
 * fails before the reply, they go back to the head: the deletion may or
 * may not have run, and a later cycle counts any that are gone as such.
 *
 * Without an archive a chunk is one multi-key UNLINK.  With one, a chunk is
 *   1. a script that DUMPs and PTTLs every key (one round trip),
 *   2. the records handed to the store, which appends them to the archive
 *      and fdatasyncs on its worker thread: one sync covers every chunk
 *      handed over since the last began (group commit), and syncs start at
 *      least STORE_SYNC_INTERVAL apart; the loop goes on meanwhile,
 *   3. once the store says they are durable, a compare-and-delete script
 *      that UNLINKs each key only if its DUMP is still what was archived.
 * A key written between 1 and 3 stays in Redis and goes back to the
 * ledger head, to be archived again by a later chunk.  If the archive
 * cannot be written, nothing of the chunk is deleted and the cycle stops;
 * the next one tries again.
 *
 * Owns the cycle and its chunks.  From the ledger it only takes, settles
 * and puts back (creation order is tracking's); archive records go
 * through the store, which decides whether flushing may delete at all. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "conn.h"
#include "flush.h"
#include "ledger.h"
#include "log.h"
#include "pace.h"
#include "sha1.h"
#include "slot.h"
#include "store.h"
#include "timer.h"
#include "util.h"

/* The scripts carry no "#!lua flags=..." line, on purpose: Redis 7 runs a
 * script without one in its EVAL compatibility mode, where only a call to
 * a deny-oom command is refused over maxmemory.  DUMP, PTTL and UNLINK are
 * not, so both scripts run when memory is full, exactly when they are
 * needed (faults.bats checks it).  A shebang would need allow-oom for
 * that, and is a syntax error to Redis 6 and older.
 *
 * DUMP and PTTL of every key: nil and -2 for a key that is gone. */
static const char dump_script[] =
	"local r = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  r[2 * i - 1] = redis.call('DUMP', k)\n"
	"  r[2 * i] = redis.call('PTTL', k)\n"
	"end\n"
	"return r\n";

/* Per key: 1 deleted, 0 already gone, -1 changed since it was archived.
 * ARGV[i] is the archived payload itself when small (FLUSH_CMP_INLINE_MAX),
 * else its SHA-1 in hex.  The two cannot be confused: a DUMP payload ends
 * in a 2-byte RDB version whose high byte is 0, which no hex digit is. */
static const char cad_script[] =
	"local r = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local d = redis.call('DUMP', k)\n"
	"  local a = ARGV[i]\n"
	"  if not d then\n"
	"    r[i] = 0\n"
	"  elseif d == a or (#a == 40 and redis.sha1hex(d) == a) then\n"
	"    redis.call('UNLINK', k)\n"
	"    r[i] = 1\n"
	"  else\n"
	"    r[i] = -1\n"
	"  end\n"
	"end\n"
	"return r\n";

struct script {
	const char *body;
	char sha[41];
};

static struct script dump_lua = {dump_script, ""}, cad_lua = {cad_script, ""};

struct chunk;

/* A chunk's keys of one slot (or all of them, without slots): in a
 * cluster no command may cross a slot, so a chunk sends one command per
 * group, pipelined, and a step ends when the last group's reply is in. */
struct group {
	struct chunk *c;
	size_t from, to;		/* e[from .. to) */
	double sent;			/* when its command went (monotonic) */
};

/* What a step decided for each entry. */
enum fate { KEEP, DONE, BACK, CHANGED };

/* One chunk: its entries, on their way from DUMP to deletion. */
struct chunk {
	struct flush *f;
	struct ledger_entry *e[FLUSH_CHUNK_MAX];
	uint16_t ord[FLUSH_CHUNK_MAX];	/* each entry's place in creation order */
	uint16_t slot[FLUSH_CHUNK_MAX];	/* each entry's hash slot (with slots only) */
	size_t n;
	bool unsynced;			/* handed to the store, waiting for the sync */
	bool synced;			/* durable, its compare-and-delete not yet sent */
	uint64_t gen;			/* the store's generation of its records */
	struct archive_batch recs;	/* its records, until handed over */
	struct group g[FLUSH_CHUNK_MAX];
	size_t ngroups;
	size_t due;			/* replies of this step still to come */
	unsigned char fate[FLUSH_CHUNK_MAX];
	uint64_t removed, gone;		/* this step's counts */
	char *error;			/* the first group error of this step */
	/* What the compare-and-delete compares each key's DUMP with: the
	 * archived payload, or its SHA-1; kept for a resend after NOSCRIPT. */
	struct buf cmp;
	size_t cmp_off[FLUSH_CHUNK_MAX], cmp_len[FLUSH_CHUNK_MAX];
};

struct flush {
	struct event_base *base;
	struct conn *conn;
	struct ledger *ledger;
	struct store *store;
	char *name;
	uint32_t db;
	ledger_want_fn *want;		/* NULL: every entry, one group a chunk */
	void *want_arg;
	struct ledger_entry *cursor;	/* where the cycle's takes resume */
	flush_redirect_fn *redirected;
	void *redirect_arg;
	struct event *next_chunk;

	bool running;
	bool stopping;			/* start no more chunks; finish when none is left */
	uint64_t max_per_sec;
	uint64_t to_take;		/* entries not yet taken into a chunk */
	struct flush_result res;
	char *error;
	double started;			/* monotonic */
	struct pace pace;		/* the current or last cycle's */
	bool step_out;			/* under a budget: a step's commands (or a PING) are out */
	bool probing;			/* the PING is out */
	double probe_sent;
	flush_done_fn *done;
	void *done_arg;

	/* Chunks in flight, oldest first. */
	struct chunk *chunks[FLUSH_ARCHIVE_DEPTH];
	size_t inflight;
	bool archiving;			/* this cycle archives (the store is held) */

#define X(name) uint64_t name;
	FLUSH_COUNTERS(X)
#undef X
	double last_flush_unix;
};

static void on_next_chunk(evutil_socket_t fd, short what, void *arg);
static void put_back(struct chunk *c, const unsigned char *only);

static void finish(struct flush *f)
{
	flush_done_fn *done = f->done;
	void *arg = f->done_arg;

	f->running = false;
	pace_stop(&f->pace, time_mono());
	event_del(f->next_chunk);
	store_sync_cancel(f->store, f);
	store_release(f->store);
	ledger_cursor_free(f->ledger, f->cursor);
	f->cursor = NULL;
	f->res.seconds = time_mono() - f->started;
	f->res.error = f->error;
	f->flush_cycles_total++;
	f->last_flush_entries = f->res.flushed;
	f->last_flush_unix = time_now();
	log_info("shard %s: flushed %llu entries (%llu already gone) in %.3fs%s%s", f->name,
		 (unsigned long long)f->res.flushed, (unsigned long long)f->res.already_gone, f->res.seconds,
		 f->error ? "; stopped: " : "", f->error ? f->error : "");
	f->done = NULL;
	if (done != NULL)
		done(arg, &f->res);
	free(f->error);
	f->error = NULL;
}

/* A chunk leaves the pipeline (usually the oldest; a failed one may not be). */
static struct chunk *chunk_new(struct flush *f)
{
	struct chunk *c = xmalloc(sizeof(*c));

	c->f = f;
	c->n = 0;
	c->unsynced = c->synced = false;
	c->error = NULL;
	buf_init(&c->cmp);
	archive_batch_init(&c->recs);
	return c;
}

static void chunk_free(struct chunk *c)
{
	buf_free(&c->cmp);
	archive_batch_free(&c->recs);
	free(c->error);
	free(c);
}

static void chunk_release(struct flush *f, struct chunk *c)
{
	size_t i = 0;

	while (i < f->inflight && f->chunks[i] != c)
		i++;
	if (i == f->inflight)
		abort();	/* not in flight: a bug */
	memmove(&f->chunks[i], &f->chunks[i + 1], (f->inflight - i - 1) * sizeof(f->chunks[0]));
	f->chunks[--f->inflight] = NULL;
	chunk_free(c);
}

/* A cycle ends once it stops taking chunks and the last one settled. */
static void maybe_finish(struct flush *f)
{
	if (f->inflight == 0 && (f->stopping || f->to_take == 0))
		finish(f);
}

/* Stops the cycle: nothing of the chunk was deleted, it goes back.  Other
 * chunks in flight still settle. */
static void chunk_failed(struct chunk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void chunk_failed(struct chunk *c, const char *fmt, ...)
{
	struct flush *f = c->f;
	va_list ap;

	if (f->error == NULL) {
		va_start(ap, fmt);
		f->error = xvasprintf(fmt, ap);
		va_end(ap);
	}
	f->stopping = true;
	put_back(c, NULL);
	chunk_release(f, c);
	maybe_finish(f);
}

static size_t depth(const struct flush *f)
{
	return f->archiving ? FLUSH_ARCHIVE_DEPTH : FLUSH_DEPTH;
}

/* Counts a settled chunk and lets the next one start. */
static void chunk_settled(struct chunk *c, uint64_t removed, uint64_t gone)
{
	struct flush *f = c->f;

	f->res.flushed += removed;
	f->res.already_gone += gone;
	f->flushed_entries_total += removed;
	f->already_gone_total += gone;
	f->res.chunks++;
	chunk_release(f, c);
	/* The next command, or the end when none is left. */
	on_next_chunk(-1, 0, f);
}

/* ---- groups and steps ----------------------------------------------------- */

/* Puts entries back at the ledger head in creation order: those whose
 * fate is BACK or CHANGED, or every one (only == NULL). */
struct placed {
	uint16_t ord;
	struct ledger_entry *e;
};

static int placed_cmp(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;

	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static void put_back(struct chunk *c, const unsigned char *only)
{
	struct placed p[FLUSH_CHUNK_MAX];
	struct ledger_entry *v[FLUSH_CHUNK_MAX];
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		if (only == NULL || only[i] == BACK || only[i] == CHANGED)
			p[n++] = (struct placed){c->ord[i], c->e[i]};
	/* The chunk is in slot order; the ledger wants creation order. */
	if (c->f->want != NULL)
		qsort(p, n, sizeof(p[0]), placed_cmp);
	for (size_t i = 0; i < n; i++)
		v[i] = p[i].e;
	ledger_put_back(c->f->ledger, v, n);
}

/* One group per slot when the flush has slots, else one for all. */
static void make_groups(struct chunk *c)
{
	c->ngroups = 0;
	for (size_t i = 0; i < c->n;) {
		size_t j = i + 1;

		if (c->f->want != NULL)
			while (j < c->n && c->slot[j] == c->slot[i])
				j++;
		else
			j = c->n;
		c->g[c->ngroups++] = (struct group){c, i, j, 0};
		i = j;
	}
}

struct sortable {
	uint16_t slot, ord;
	struct ledger_entry *e;
};

static int slot_cmp(const void *a, const void *b)
{
	const struct sortable *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* A new chunk of n taken entries: in slot order (creation order within a
 * slot), its groups made.  Each key's slot is computed once, here. */
static void chunk_ready(struct chunk *c)
{
	struct sortable v[FLUSH_CHUNK_MAX];

	for (size_t i = 0; i < c->n; i++)
		c->ord[i] = (uint16_t)i;
	if (c->f->want != NULL) {
		for (size_t i = 0; i < c->n; i++)
			v[i] = (struct sortable){slot_of(c->e[i]->key, c->e[i]->klen), (uint16_t)i, c->e[i]};
		qsort(v, c->n, sizeof(v[0]), slot_cmp);
		for (size_t i = 0; i < c->n; i++) {
			c->slot[i] = v[i].slot;
			c->ord[i] = v[i].ord;
			c->e[i] = v[i].e;
		}
	}
	make_groups(c);
}

/* A step begins: every group's reply is due.  Under a budget it is the
 * one step out. */
static void step_begin(struct chunk *c)
{
	c->due = c->ngroups;
	c->f->step_out = pace_budgeted(&c->f->pace);
	c->removed = c->gone = 0;
	memset(c->fate, KEEP, c->n);
	free(c->error);
	c->error = NULL;
}

/* A reply that says the keys are elsewhere now: the node's owner reads the
 * topology again (the keys go back, to be flushed on the right node). */
static bool is_redirect(const char *err)
{
	static const char *const words[] = {"MOVED", "ASK", "TRYAGAIN", "READONLY", "CLUSTERDOWN"};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strncmp(err, words[i], strlen(words[i])) == 0)
			return true;
	return false;
}

/* A group failed: its keys go back; the cycle stops after this chunk. */
static void group_failed(struct group *g, const char *what, const redisReply *r)
{
	struct chunk *c = g->c;

	for (size_t i = g->from; i < g->to; i++)
		c->fate[i] = BACK;
	if (c->error == NULL)
		c->error = xasprintf("%s: %s", what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (r->type == REDIS_REPLY_ERROR && is_redirect(r->str) && c->f->redirected != NULL)
		c->f->redirected(c->f->redirect_arg, r->str);
}

/* After the last reply of a step: settles DONE entries, puts BACK and
 * CHANGED ones back, keeps the rest (in slot order, regrouped).  Returns
 * false when the chunk is gone (it failed or nothing is left). */
static bool step_end(struct chunk *c)
{
	struct flush *f = c->f;
	size_t keep = 0;

	f->step_out = false;

	put_back(c, c->fate);
	for (size_t i = 0; i < c->n; i++) {
		if (c->fate[i] == CHANGED)
			f->changed_total++;
		if (c->fate[i] == DONE)
			ledger_done(f->ledger, c->e[i]);
		if (c->fate[i] != KEEP)
			continue;
		c->e[keep] = c->e[i];
		c->ord[keep] = c->ord[i];
		c->slot[keep] = c->slot[i];
		c->cmp_off[keep] = c->cmp_off[i];
		c->cmp_len[keep++] = c->cmp_len[i];
	}
	c->n = keep;
	make_groups(c);
	if (c->error != NULL) {
		/* The other groups go on (their records are buffered for the
		 * archive); the cycle takes no more chunks. */
		if (f->error == NULL)
			f->error = xstrdup(c->error);
		f->stopping = true;
	}
	if (c->n == 0) {
		chunk_settled(c, c->removed, c->gone);
		return false;
	}
	return true;
}

/* ---- archive off: UNLINK ---------------------------------------------------- */

static void on_unlinked(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	size_t sent = g->to - g->from;
	uint64_t removed;

	(void)owner;
	pace_command_done(&c->f->pace, PACE_UNLINK, sent, g->sent, time_mono());
	if (r->type != REDIS_REPLY_INTEGER) {
		group_failed(g, "UNLINK", r);
	} else {
		/* Count from the reply, never from what was sent. */
		removed = r->integer < 0 ? 0 : (uint64_t)r->integer;
		if (removed > sent)
			removed = sent;
		c->removed += removed;
		c->gone += sent - removed;
		memset(c->fate + g->from, DONE, sent);
	}
	if (--c->due == 0)
		step_end(c);
}

static void send_unlink(struct chunk *c)
{
	const char *argv[FLUSH_CHUNK_MAX + 1];
	size_t lens[FLUSH_CHUNK_MAX + 1];

	step_begin(c);
	for (size_t k = 0; k < c->ngroups; k++) {
		struct group *g = &c->g[k];
		int argc = 1;

		argv[0] = "UNLINK";
		lens[0] = 6;
		for (size_t i = g->from; i < g->to; i++, argc++) {
			argv[argc] = c->e[i]->key;
			lens[argc] = c->e[i]->klen;
		}
		g->sent = time_mono();
		/* On failure the conn fails, and the flush hears of it. */
		if (conn_send_argv(c->f->conn, on_unlinked, g, argc, argv, lens) < 0)
			return;
	}
}

/* ---- archive on: DUMP, write, compare-and-delete --------------------------- */

/* EVALSHA, or EVAL with the body after NOSCRIPT (which also caches it);
 * the keys are the group's, and with_cmp adds what each is compared with. */
static int send_script(struct group *g, const struct script *s, bool by_body, bool with_cmp, conn_reply_fn *fn)
{
	static const char *argv[2 * FLUSH_CHUNK_MAX + 3];
	static size_t lens[2 * FLUSH_CHUNK_MAX + 3];
	struct chunk *c = g->c;
	char nkeys[16];
	int argc = 0;

	snprintf(nkeys, sizeof(nkeys), "%zu", g->to - g->from);
	argv[argc] = by_body ? "EVAL" : "EVALSHA";
	lens[argc++] = strlen(argv[0]);
	argv[argc] = by_body ? s->body : s->sha;
	lens[argc++] = strlen(argv[1]);
	argv[argc] = nkeys;
	lens[argc++] = strlen(nkeys);
	for (size_t i = g->from; i < g->to; i++) {
		argv[argc] = c->e[i]->key;
		lens[argc++] = c->e[i]->klen;
	}
	for (size_t i = g->from; with_cmp && i < g->to; i++) {
		argv[argc] = c->cmp.data + c->cmp_off[i];
		lens[argc++] = c->cmp_len[i];
	}
	g->sent = time_mono();
	return conn_send_argv(c->f->conn, fn, g, argc, argv, lens);
}

/* Sends a script to every group; a step begins. */
static void send_scripts(struct chunk *c, const struct script *s, bool with_cmp, conn_reply_fn *fn)
{
	step_begin(c);
	for (size_t k = 0; k < c->ngroups; k++)
		if (send_script(&c->g[k], s, false, with_cmp, fn) < 0)
			return;	/* the conn failed, and the flush heard of it */
}

/* Comparing a small payload itself spares the server a SHA-1 per key
 * (1.5 us of 10 in all, measured), and the daemon one too. */
static void cmp_add(struct chunk *c, size_t i, const char *payload, size_t len)
{
	c->cmp_off[i] = c->cmp.len;
	if (len <= FLUSH_CMP_INLINE_MAX) {
		buf_append(&c->cmp, payload, len);
	} else {
		char hex[41];

		sha1_hex(payload, len, hex);
		buf_append(&c->cmp, hex, 40);
	}
	c->cmp_len[i] = c->cmp.len - c->cmp_off[i];
}

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* After NOSCRIPT a group re-sends with EVAL.  Chunks and groups need not
 * settle in order: each is a set of keys of its own. */

static void on_cad(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	size_t sent = g->to - g->from;

	(void)owner;
	if (is_noscript(r)) {
		send_script(g, &cad_lua, true, true, on_cad);
		return;
	}
	pace_command_done(&c->f->pace, PACE_CAD, sent, g->sent, time_mono());
	if (r->type != REDIS_REPLY_ARRAY || r->elements != sent) {
		/* Archived, not deleted: harmless, a later chunk archives them again. */
		group_failed(g, "compare-and-delete", r);
	} else {
		for (size_t i = 0; i < sent; i++) {
			long long outcome = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : -1;

			c->removed += outcome == 1;
			c->gone += outcome == 0;
			/* Written since: archive it again later. */
			c->fate[g->from + i] = outcome == 1 || outcome == 0 ? DONE : CHANGED;
		}
	}
	if (--c->due == 0)
		step_end(c);
}

/* Encodes the dumped keys' records into the chunk's batch; the ones that
 * are gone (or too large to archive) are done. */
static void archive_group(struct group *g, redisReply *r)
{
	struct chunk *c = g->c;
	struct flush *f = c->f;
	int64_t now_ms = (int64_t)(time_now() * 1000);

	for (size_t i = g->from; i < g->to; i++) {
		redisReply *d = r->element[2 * (i - g->from)], *ttl = r->element[2 * (i - g->from) + 1];
		struct archive_rec rec;

		if (d->type != REDIS_REPLY_STRING) {
			c->fate[i] = DONE;
			c->gone++;
			continue;
		}
		memset(&rec, 0, sizeof(rec));
		rec.shard = f->name;
		rec.shard_len = strlen(f->name);
		rec.db = f->db;
		rec.key = c->e[i]->key;
		rec.key_len = c->e[i]->klen;
		rec.expire_ms = ttl->type == REDIS_REPLY_INTEGER && ttl->integer >= 0 ? now_ms + ttl->integer : -1;
		rec.payload = d->str;
		rec.payload_len = d->len;
		rec.flushed_ms = now_ms;
		if (archive_batch_add(&c->recs, &rec) < 0) {
			/* Beyond what a record can hold: it can never be archived, so
			 * it is never deleted; untracked, it stops blocking the head. */
			log_warn("shard %s: a %zu-byte DUMP is too large to archive; the key stays in Redis, untracked",
				 f->name, d->len);
			c->fate[i] = DONE;
			continue;
		}
		cmp_add(c, i, d->str, d->len);
	}
}

/* The store synced generations up to gen (the group commit), or failed
 * gen: the chunks whose records it holds go on to their compare-and-delete,
 * or fail with nothing deleted. */
static void on_synced(void *arg, uint64_t gen, bool ok, const char *err)
{
	struct flush *f = arg;

	for (size_t i = 0; i < f->inflight && f->running;) {
		struct chunk *c = f->chunks[i];

		if (!c->unsynced || c->gen > gen) {
			i++;
		} else if (!ok) {
			chunk_failed(c, "archive: %s; nothing deleted", err);	/* releases c */
		} else {
			c->unsynced = false;
			f->archived_entries_total += c->n;
			i++;
			if (pace_budgeted(&f->pace))
				c->synced = true;	/* sent in its turn */
			else
				send_scripts(c, &cad_lua, true, on_cad);	/* may abort the cycle */
		}
	}
	if (f->running && pace_budgeted(&f->pace))
		on_next_chunk(-1, 0, f);
}

static void on_dumped(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	struct flush *f = c->f;
	uint64_t gone;

	(void)owner;
	if (is_noscript(r)) {
		send_script(g, &dump_lua, true, false, on_dumped);
		return;
	}
	pace_command_done(&f->pace, PACE_DUMP, g->to - g->from, g->sent, time_mono());
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * (g->to - g->from))
		group_failed(g, "DUMP", r);
	else
		archive_group(g, r);
	if (--c->due > 0)
		return;
	gone = c->gone;
	if (!step_end(c))
		return;
	/* The CAD reply counts the rest; what is gone already counts now. */
	f->res.already_gone += gone;
	f->already_gone_total += gone;
	c->unsynced = true;
	c->gen = store_sync(f->store, &c->recs, on_synced, f);
	if (pace_budgeted(&f->pace))
		on_next_chunk(-1, 0, f);	/* the next command may go */
}

static void send_chunk(struct chunk *c)
{
	chunk_ready(c);
	if (!c->f->archiving)
		send_unlink(c);
	else
		send_scripts(c, &dump_lua, false, on_dumped);
}

static size_t chunk_size(struct flush *f)
{
	/* DUMP twice and a hash per key cost the server more than UNLINK. */
	size_t max = f->archiving ? FLUSH_ARCHIVE_CHUNK_MAX : FLUSH_CHUNK_MAX;
	unsigned kinds = f->archiving ? 1u << PACE_DUMP | 1u << PACE_CAD : 1u << PACE_UNLINK;

	max = pace_chunk_size(&f->pace, kinds, max);
	return (size_t)(f->to_take < max ? f->to_take : max);
}

/* Under a budget, a synced chunk's compare-and-delete goes before any new
 * chunk: it settles what is archived already.  Returns true when one
 * went, or must wait (the timer is armed). */
static bool send_synced(struct flush *f, double now)
{
	double due;

	for (size_t i = 0; i < f->inflight; i++) {
		struct chunk *c = f->chunks[i];

		if (!c->synced)
			continue;
		if ((due = pace_command_due(&f->pace, now)) > now) {
			timer_arm(f->next_chunk, due - now);
			return true;
		}
		c->synced = false;
		send_scripts(c, &cad_lua, true, on_cad);	/* may abort the cycle */
		return true;
	}
	return false;
}

/* The PING that measures the connection's own round trip (pace.h). */
static void on_probe(void *owner, redisReply *r, void *arg)
{
	struct flush *f = arg;

	(void)owner;
	(void)r;
	if (!f->probing)
		return;	/* a cycle's that ended */
	f->probing = f->step_out = false;
	pace_latency(&f->pace, time_mono() - f->probe_sent);
	on_next_chunk(-1, 0, f);
}

static void send_probe(struct flush *f, double now)
{
	f->probing = f->step_out = true;
	f->probe_sent = now;
	pace_probe_sent(&f->pace, now);
	conn_send(f->conn, on_probe, f, "PING");	/* on failure the flush hears of the loss */
}

/* Sends what may go now: unpaced, chunks until depth(f) are in flight (so
 * that the server never waits for us, or for an archive write); under a
 * budget, one step at a time, each when the budget allows; under a cap,
 * each chunk no sooner than its due time.  Stops when the cycle has taken
 * its N. */
static void on_next_chunk(evutil_socket_t fd, short what, void *arg)
{
	struct flush *f = arg;

	(void)fd;
	(void)what;
	while (f->running && !f->step_out) {
		double now = time_mono(), due;
		struct chunk *c;

		if (pace_probe_due(&f->pace, now) && (f->to_take > 0 || f->inflight > 0)) {
			send_probe(f, now);
			return;
		}
		if (pace_budgeted(&f->pace) && send_synced(f, now))
			return;
		if (f->stopping || f->to_take == 0 || f->inflight >= depth(f))
			break;
		if ((due = pace_chunk_due(&f->pace, now)) > now) {
			timer_arm(f->next_chunk, due - now);
			return;
		}
		c = chunk_new(f);
		if (f->want != NULL)
			c->n = ledger_take_where(f->ledger, f->cursor, f->want, f->want_arg, c->e, chunk_size(f));
		else
			c->n = ledger_take(f->ledger, c->e, chunk_size(f));
		if (c->n == 0) {
			chunk_free(c);
			f->to_take = 0;	/* nothing older left (or a reconciliation mark) */
			break;
		}
		f->to_take -= c->n;
		pace_chunk_started(&f->pace, c->n, now);
		f->chunks[f->inflight++] = c;
		send_chunk(c);
	}
	if (f->running)
		maybe_finish(f);
}

int flush_start(struct flush *f, uint64_t n, double budget, flush_done_fn *done, void *arg, const char **why)
{
	if (f->running) {
		*why = "a flush is already running on this shard";
		return -1;
	}
	memset(&f->res, 0, sizeof(f->res));
	f->res.requested = n;
	/* The oldest entries of the cycle's start, not those created while it
	 * runs: a paced cycle would otherwise chase a busy writer for as long as
	 * it writes. */
	f->to_take = n < ledger_count(f->ledger) ? n : ledger_count(f->ledger);
	f->running = true;
	/* The archive stays as it is until the cycle ends. */
	store_hold(f->store);
	if (f->want != NULL)
		f->cursor = ledger_cursor_new(f->ledger);
	f->archiving = store_archiving(f->store);
	f->stopping = false;
	f->done = done;
	f->done_arg = arg;
	f->started = time_mono();
	f->step_out = f->probing = false;
	pace_start(&f->pace, budget, f->max_per_sec, f->started);
	on_next_chunk(-1, 0, f);
	return 0;
}

bool flush_running(const struct flush *f)
{
	return f->running;
}

void flush_stop(struct flush *f, const char *why)
{
	if (!f->running)
		return;
	if (f->error == NULL)
		f->error = xstrdup(why);
	f->stopping = true;
	maybe_finish(f);
}

void flush_abort(struct flush *f, const char *why)
{
	if (!f->running)
		return;
	/* Records already handed over may still be written: a record of a key
	 * that stays in Redis is harmless (a later flush archives it again,
	 * and the newest record wins), and in a cluster the store's buffer
	 * holds other nodes' records too.  Those not handed over die with
	 * their chunks. */
	/* Newest first, each to the ledger head: the oldest ends up first. */
	while (f->inflight > 0) {
		struct chunk *c = f->chunks[--f->inflight];

		put_back(c, NULL);
		f->chunks[f->inflight] = NULL;
		chunk_free(c);
	}
	free(f->error);
	f->error = xstrdup(why);
	finish(f);
}

/* The command connection is gone: replies will never come. */
static void on_lost(void *arg, const struct conn_loss *loss)
{
	flush_abort(arg, loss->msg);
}

struct flush *flush_new(struct event_base *base, struct conn *conn, struct ledger *ledger, struct store *store,
			flush_redirect_fn *redirected, void *arg)
{
	struct flush *f = xcalloc(1, sizeof(*f));

	f->redirected = redirected;
	f->redirect_arg = arg;
	f->base = base;
	f->conn = conn;
	f->ledger = ledger;
	f->store = store;
	f->name = xstrdup("");
	f->next_chunk = evtimer_new(base, on_next_chunk, f);
	if (f->next_chunk == NULL)
		abort();
	pace_init(&f->pace);
	if (dump_lua.sha[0] == '\0') {
		sha1_hex(dump_lua.body, strlen(dump_lua.body), dump_lua.sha);
		sha1_hex(cad_lua.body, strlen(cad_lua.body), cad_lua.sha);
	}
	conn_on_lost(conn, on_lost, f);
	return f;
}

void flush_set_params(struct flush *f, const struct flush_params *p)
{
	free(f->name);
	f->name = xstrdup(p->name);
	f->db = p->db;
	f->max_per_sec = p->max_per_sec;
	f->want = p->want;
	f->want_arg = p->want_arg;
}

void flush_free(struct flush *f)
{
	if (f == NULL)
		return;
	flush_abort(f, "shard removed");
	event_free(f->next_chunk);
	free(f->name);
	free(f);
}

void flush_stats(const struct flush *f, struct shard_stats *st)
{
#define X(name) st->name = f->name;
	FLUSH_COUNTERS(X)
#undef X
	if (f->flush_cycles_total > 0)
		st->last_flush_unix = f->last_flush_unix;
	st->flushing = f->running;
	if (f->running || f->flush_cycles_total > 0) {
		st->flush_entries_per_sec = pace_entries_per_sec(&f->pace, time_mono());
		st->flush_server_share = pace_server_share(&f->pace, time_mono());
	}
}
