/* flush: one flush cycle of a shard, in paced chunks.
 *
 * Entries leave the ledger when their chunk is sent.  If the connection
 * fails before the reply, they go back to the head: the UNLINK may or may
 * not have run, and a later cycle counts any that are gone as such.
 *
 * The archive (a later step) slots in between taking a chunk and deleting
 * it: send_chunk is the seam. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "flush.h"
#include "ledger.h"
#include "log.h"
#include "util.h"

struct flush {
	struct event_base *base;
	struct conn *conn;
	struct ledger *ledger;
	char *name;
	struct event *next_chunk;

	bool running;
	bool stopping;
	uint64_t max_per_sec;
	uint64_t remaining;
	struct flush_result res;
	char *error;
	double started;			/* monotonic */
	double chunk_due;		/* when the next chunk may start */
	flush_done_fn *done;
	void *done_arg;

	struct ledger_entry *chunk[FLUSH_CHUNK_MAX];
	size_t nchunk;			/* in flight */

#define X(name, doc) uint64_t name;
	FLUSH_STATS(X)
#undef X
	double last_flush_unix;
};

static void finish(struct flush *f)
{
	flush_done_fn *done = f->done;
	void *arg = f->done_arg;

	f->running = false;
	event_del(f->next_chunk);
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

static void put_back_chunk(struct flush *f)
{
	ledger_put_back(f->ledger, f->chunk, f->nchunk);
	f->nchunk = 0;
}

static void on_unlinked(void *owner, redisReply *r, void *arg)
{
	struct flush *f = arg;
	uint64_t removed;
	double pace;

	(void)owner;
	if (r->type != REDIS_REPLY_INTEGER) {
		f->error = xasprintf("UNLINK: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		put_back_chunk(f);
		finish(f);
		return;
	}
	/* Count from the reply, never from what was sent. */
	removed = r->integer < 0 ? 0 : (uint64_t)r->integer;
	if (removed > f->nchunk)
		removed = f->nchunk;
	f->res.flushed += removed;
	f->res.already_gone += f->nchunk - removed;
	f->flushed_entries_total += removed;
	f->already_gone_total += f->nchunk - removed;
	f->res.chunks++;
	f->remaining -= f->nchunk;
	for (size_t i = 0; i < f->nchunk; i++)
		ledger_done(f->ledger, f->chunk[i]);
	pace = f->max_per_sec ? (double)f->nchunk / (double)f->max_per_sec : 0;
	f->nchunk = 0;
	if (f->remaining == 0 || f->stopping) {
		finish(f);
		return;
	}
	/* Pace: the next chunk starts no sooner than this one's share of a
	 * second after it started; with no limit, on the next loop turn. */
	f->chunk_due += pace;
	{
		double wait = f->chunk_due - time_mono();
		struct timeval tv = {0, 0};

		if (wait > 0) {
			tv.tv_sec = (time_t)wait;
			tv.tv_usec = (suseconds_t)((wait - floor(wait)) * 1e6);
		} else {
			f->chunk_due = time_mono();	/* behind: do not burst to catch up */
		}
		event_add(f->next_chunk, &tv);
	}
}

/* Sends the chunk's deletion.  With the archive this becomes DUMP, write,
 * then compare-and-delete. */
static void send_chunk(struct flush *f)
{
	const char *argv[FLUSH_CHUNK_MAX + 1];
	size_t lens[FLUSH_CHUNK_MAX + 1];

	argv[0] = "UNLINK";
	lens[0] = 6;
	for (size_t i = 0; i < f->nchunk; i++) {
		argv[i + 1] = f->chunk[i]->key;
		lens[i + 1] = f->chunk[i]->klen;
	}
	/* On failure the conn fails and the shard calls flush_abort. */
	conn_send_argv(f->conn, on_unlinked, f, (int)f->nchunk + 1, argv, lens);
}

static size_t chunk_size(const struct flush *f)
{
	uint64_t n = f->remaining < FLUSH_CHUNK_MAX ? f->remaining : FLUSH_CHUNK_MAX;

	/* Under a rate limit, chunks of a hundredth of a second's worth keep
	 * the deletions spread out rather than bunched. */
	if (f->max_per_sec != 0 && n > f->max_per_sec / 100)
		n = f->max_per_sec / 100 ? f->max_per_sec / 100 : 1;
	return (size_t)n;
}

static void on_next_chunk(evutil_socket_t fd, short what, void *arg)
{
	struct flush *f = arg;

	(void)fd;
	(void)what;
	if (!f->running || f->nchunk != 0)
		return;
	f->nchunk = ledger_take(f->ledger, f->chunk, chunk_size(f));
	if (f->nchunk == 0) {
		finish(f);	/* nothing older left (or a reconciliation mark) */
		return;
	}
	send_chunk(f);
}

int flush_start(struct flush *f, uint64_t n, uint64_t max_per_sec, flush_done_fn *done, void *arg,
		const char **why)
{
	if (f->running) {
		*why = "a flush is already running on this shard";
		return -1;
	}
	memset(&f->res, 0, sizeof(f->res));
	f->res.requested = n;
	f->remaining = n;
	f->max_per_sec = max_per_sec;
	f->running = true;
	f->stopping = false;
	f->done = done;
	f->done_arg = arg;
	f->started = f->chunk_due = time_mono();
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
	if (f->nchunk == 0)
		finish(f);
}

void flush_abort(struct flush *f, const char *why)
{
	if (!f->running)
		return;
	put_back_chunk(f);
	free(f->error);
	f->error = xstrdup(why);
	finish(f);
}

struct flush *flush_new(struct event_base *base, struct conn *conn, struct ledger *ledger, const char *name)
{
	struct flush *f = xcalloc(1, sizeof(*f));

	f->base = base;
	f->conn = conn;
	f->ledger = ledger;
	f->name = xstrdup(name);
	f->next_chunk = evtimer_new(base, on_next_chunk, f);
	if (f->next_chunk == NULL)
		abort();
	return f;
}

void flush_set_name(struct flush *f, const char *name)
{
	free(f->name);
	f->name = xstrdup(name);
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

uint64_t flush_flushed_total(const struct flush *f)
{
	return f->flushed_entries_total;
}

void flush_status_json(const struct flush *f, struct json *j)
{
#define X(name, doc) json_key(j, #name); json_uint(j, f->name);
	FLUSH_STATS(X)
#undef X
	json_key(j, "last_flush_unix");
	if (f->flush_cycles_total > 0)
		json_double(j, round(f->last_flush_unix * 1000) / 1000);
	else
		json_null(j);
	json_key(j, "flushing");
	json_bool(j, f->running);
}
