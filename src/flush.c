/* flush: one flush cycle of a shard, in paced chunks.
 *
 * Entries leave the ledger when their chunk is sent.  If the connection
 * fails before the reply, they go back to the head: the deletion may or
 * may not have run, and a later cycle counts any that are gone as such.
 *
 * Without an archive a chunk is one multi-key UNLINK.  With one, a chunk is
 *   1. a DUMP and a PTTL of every key, pipelined (one round trip; plain
 *      commands cost the server less than a script that calls them),
 *   2. the records handed to the store, which appends them to the archive
 *      and fdatasyncs on its worker thread: one sync covers every chunk
 *      handed over since the last began (group commit), and syncs start at
 *      least STORE_SYNC_INTERVAL apart; the loop goes on meanwhile,
 *   3. once the store says they are durable, a compare-and-delete script
 *      that UNLINKs (in one call) the keys whose DUMP is still what was
 *      archived.
 * A key written between 1 and 3 stays in Redis and goes back to the
 * ledger head, to be archived again by a later chunk.  If the archive
 * cannot be written, nothing of the chunk is deleted and the cycle stops;
 * the next one tries again.
 *
 * Owns the cycle: taking chunks, pacing them (pace.h), waiting for the
 * group commit, the counts.  A chunk's own commands and replies are chunk.c's.  From the
 * ledger it only takes, settles and puts back (creation order is
 * tracking's); archive records go through the store, which decides
 * whether flushing may delete at all. */
#include "config.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "flush.h"
#include "flush_int.h"
#include "hist.h"
#include "ledger.h"
#include "log.h"
#include "pace.h"
#include "store.h"
#include "timer.h"
#include "util.h"

static void on_next_chunk(evutil_socket_t fd, short what, void *arg);

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
	hist_observe(&f->cycle_secs, f->res.seconds);
	f->flush_cycles_total++;
	f->last_flush_entries = f->res.flushed;
	f->last_flush_unix = time_now();
	log_msg(f->quiet && f->error == NULL ? LOG_LVL_DEBUG : LOG_LVL_INFO,
		"shard %s: flushed %llu entries (%llu already gone) in %.3fs%s%s", f->name,
		(unsigned long long)f->res.flushed, (unsigned long long)f->res.already_gone, f->res.seconds,
		f->error ? "; stopped: " : "", f->error ? f->error : "");
	f->done = NULL;
	if (done != NULL)
		done(arg, &f->res);
	free(f->error);
	f->error = NULL;
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
	chunk_put_back(c);
	chunk_release(f, c);
	maybe_finish(f);
}

static size_t depth(const struct flush *f)
{
	return f->archiving ? FLUSH_ARCHIVE_DEPTH : FLUSH_DEPTH;
}

/* Counts a settled chunk and lets the next one start. */
void flush_chunk_settled(struct chunk *c, uint64_t removed, uint64_t gone)
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
			if (pace_budgeted(&f->pace)) {
				c->synced = true;	/* sent in its turn */
			} else {
				chunk_send_cad(c);	/* may abort the cycle */
			}
		}
	}
	if (f->running && pace_budgeted(&f->pace))
		on_next_chunk(-1, 0, f);
}

void flush_chunk_archived(struct chunk *c, uint64_t gone)
{
	struct flush *f = c->f;

	/* The compare-and-delete counts the rest; what is gone already counts now. */
	f->res.already_gone += gone;
	f->already_gone_total += gone;
	c->unsynced = true;
	c->gen = store_sync(f->store, &c->recs, on_synced, f);
	if (pace_budgeted(&f->pace))
		on_next_chunk(-1, 0, f);	/* the next command may go */
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
		chunk_send_cad(c);	/* may abort the cycle */
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
		chunk_send(c);
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

/* Entries in chunks whose deleting command is not sent yet (hold's view). */
static uint64_t undeleted(const struct flush *f)
{
	uint64_t n = 0;

	for (size_t i = 0; i < f->inflight; i++)
		n += f->chunks[i]->deleting ? 0 : f->chunks[i]->n;
	return n;
}

void flush_progress(const struct flush *f, uint64_t *deletes_sent, uint64_t *pending)
{
	*deletes_sent = f->deletes_sent;
	*pending = f->running ? (f->stopping ? 0 : f->to_take) + undeleted(f) : 0;
}

int flush_retarget(struct flush *f, uint64_t pending)
{
	uint64_t taken = undeleted(f);

	if (!f->running || f->stopping)
		return -1;
	f->res.requested -= f->to_take;
	f->to_take = pending > taken ? pending - taken : 0;
	f->res.requested += f->to_take;
	/* Go on now unless pacing's timer will; with nothing to take, end as chunks settle. */
	if (f->to_take > 0 && !event_pending(f->next_chunk, EV_TIMEOUT, NULL))
		on_next_chunk(-1, 0, f);
	else
		maybe_finish(f);
	return 0;
}

void flush_set_quiet(struct flush *f, bool quiet)
{
	f->quiet = quiet;
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

		chunk_put_back(c);
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
	chunk_scripts_init();
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
	st->flush_cycle_duration_s = f->cycle_secs;
	st->chunk_roundtrip_s = f->roundtrip_secs;
}
