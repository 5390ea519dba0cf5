/* peek: the ledger's head as a flush would see it, and a dry run (see
 * peek.h).
 *
 * A dry run walks from the head as ledger_take would: entries in creation
 * order, stopping at a reconciliation mark (a flush stops there too), at
 * n, or at PEEK_DRY_RUN_MAX.  In that one walk it keeps PEEK_SAMPLE
 * entries spread evenly over all it counted (sizes drift with age, so the
 * head alone would be a poor sample), and it sends one MEMORY USAGE per
 * sampled key, all at once; the estimate is the sample's mean (a key
 * already gone counts 0: it would free nothing) times the count.
 *
 * The walk runs on the loop, so PEEK_DRY_RUN_MAX bounds it.  Measured on
 * the project's machine (2-million-entry ledger, -O2): walking 100000
 * entries took 0.7-1.3 ms in creation order and 2.4-2.6 ms after a random
 * 90% of the keys were created again (list order no longer memory
 * order); 1000000 entries took 10-12 ms and 62-64 ms, too long a pause
 * for an operator's question.
 *
 * Owns its requests in flight; the ledger is track's and flush's, and is
 * only read here. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "ledger.h"
#include "peek.h"
#include "util.h"

struct peek_entry {
	char *key;
	size_t klen;
	uint32_t created;
};

struct peek_report {
	uint64_t requested, count;
	const char *stop;		/* why count < requested, or NULL */
	struct peek_entry first, last;	/* key NULL when count is 0 */
	size_t sampled, missing, pending;
	uint64_t sample_bytes;
	char *error;			/* why there is no estimate, or NULL */
};

struct peek_req {
	struct peek *p;
	struct peek_req *next;
	peek_done_fn *done;
	void *arg;
	struct peek_report r;
};

struct peek {
	struct conn *conn;
	struct ledger *ledger;
	struct peek_req *reqs;		/* waiting for MEMORY USAGE replies */
	size_t nreqs;
};

static void entry_copy(struct peek_entry *dst, const struct ledger_entry *e)
{
	dst->key = xmalloc(e->klen + 1);
	memcpy(dst->key, e->key, e->klen);
	dst->key[e->klen] = '\0';
	dst->klen = e->klen;
	dst->created = e->created;
}

static void entry_json(struct json *j, const char *key, size_t klen, uint32_t created, double now)
{
	json_obj_begin(j);
	json_key_name(j, "key", key, klen);
	json_key(j, "created_unix");
	json_uint(j, created);
	json_key(j, "age_s");
	json_double(j, round((now - (double)created) * 1000) / 1000);
	json_obj_end(j);
}

void peek_oldest_json(const struct peek *p, size_t n, struct json *j)
{
	double now = time_now();
	size_t listed = 0, flushable = 0;
	bool past_mark = false;

	json_key(j, "tracked");
	json_uint(j, ledger_count(p->ledger));
	json_key(j, "entries");
	json_arr_begin(j);
	for (const struct ledger_entry *e = ledger_head(p->ledger); e != NULL && listed < n; e = ledger_next(e)) {
		if (ledger_is_mark(e)) {
			past_mark = true;	/* a flush stops here until the reconciliation ends */
			continue;
		}
		entry_json(j, e->key, e->klen, e->created, now);
		listed++;
		flushable += !past_mark;
	}
	json_arr_end(j);
	json_key(j, "listed");
	json_uint(j, listed);
	json_key(j, "flushable");
	json_uint(j, flushable);
}

/* ---- dry runs ----------------------------------------------------------------- */

static void report_free(struct peek_report *r)
{
	free(r->first.key);
	free(r->last.key);
	free(r->error);
}

/* Answers and forgets req (which must be in the list). */
static void finish(struct peek_req *req)
{
	struct peek *p = req->p;
	struct peek_req **pp = &p->reqs;

	while (*pp != req)
		pp = &(*pp)->next;
	*pp = req->next;
	p->nreqs--;
	req->done(req->arg, &req->r);
	report_free(&req->r);
	free(req);
}

static void on_usage(void *owner, redisReply *r, void *arg)
{
	struct peek_req *req = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
		req->r.sample_bytes += (uint64_t)r->integer;
	else if (r->type == REDIS_REPLY_NIL)
		req->r.missing++;
	else if (req->r.error == NULL)
		req->r.error = xasprintf("MEMORY USAGE: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (--req->r.pending == 0)
		finish(req);
}

/* The connection is gone: replies will never come. */
static void on_lost(void *arg, const struct conn_loss *loss)
{
	struct peek *p = arg;

	while (p->reqs != NULL) {
		if (p->reqs->r.error == NULL)
			p->reqs->r.error = xstrdup(loss->msg);
		finish(p->reqs);
	}
}

/* Walks what a flush of n would take (up to a mark, the end or the cap),
 * once: counts it, copies the first and the last, and keeps candidates
 * for the sample at a stride that doubles whenever 2 * PEEK_SAMPLE of
 * them are kept, so that they end up evenly spread over all of it.
 * Returns how many candidates cand holds (at most 2 * PEEK_SAMPLE). */
static size_t walk(struct peek_req *req, const struct ledger_entry **cand)
{
	struct peek_report *r = &req->r;
	uint64_t max = r->requested < PEEK_DRY_RUN_MAX ? r->requested : PEEK_DRY_RUN_MAX, stride = 1;
	const struct ledger_entry *e = ledger_head(req->p->ledger), *last = NULL;
	size_t ncand = 0;

	for (; e != NULL && r->count < max && !ledger_is_mark(e); e = ledger_next(e)) {
		if (r->count % stride == 0 && ncand == 2 * PEEK_SAMPLE) {
			for (size_t k = 0; k < PEEK_SAMPLE; k++)
				cand[k] = cand[2 * k];
			ncand = PEEK_SAMPLE;
			stride *= 2;
		}
		if (r->count % stride == 0)
			cand[ncand++] = e;
		if (r->count == 0)
			entry_copy(&r->first, e);
		last = e;
		r->count++;
	}
	if (last != NULL)
		entry_copy(&r->last, last);
	r->stop = r->count == r->requested ? NULL : e == NULL ? "end" : ledger_is_mark(e) ? "reconciliation" : "limit";
	return ncand;
}

/* Sends MEMORY USAGE for PEEK_SAMPLE of the candidates, spread evenly; req
 * is answered when the last reply is in.  Returns -1 if the connection
 * failed on a send (on_lost has then answered and freed req). */
static int sample(struct peek_req *req, const struct ledger_entry **cand, size_t ncand)
{
	size_t want = ncand < PEEK_SAMPLE ? ncand : PEEK_SAMPLE;

	req->r.pending = want + 1;	/* held until every command is sent */
	for (size_t k = 0; k < want; k++) {
		const struct ledger_entry *e = cand[k * ncand / want];
		const char *argv[3] = {"MEMORY", "USAGE", e->key};
		size_t lens[3] = {6, 5, e->klen};

		req->r.sampled++;
		if (conn_send_argv(req->p->conn, on_usage, req, 3, argv, lens) < 0)
			return -1;
	}
	if (--req->r.pending == 0)
		finish(req);
	return 0;
}

int peek_dry_run(struct peek *p, uint64_t n, peek_done_fn *done, void *arg, const char **why)
{
	const struct ledger_entry *cand[2 * PEEK_SAMPLE];
	struct peek_req *req;
	size_t ncand;

	if (p->nreqs >= PEEK_MAX_PENDING) {
		*why = "too many dry runs at once on this shard; try again";
		return -1;
	}
	req = xcalloc(1, sizeof(*req));
	req->p = p;
	req->done = done;
	req->arg = arg;
	req->r.requested = n;
	req->next = p->reqs;
	p->reqs = req;
	p->nreqs++;
	ncand = walk(req, cand);
	/* Not connected: the ledger still says what a flush would take. */
	if (!conn_ready(p->conn)) {
		req->r.error = xstrdup("the shard is not connected");
		ncand = 0;
	}
	(void)sample(req, cand, ncand);
	return 0;
}

void peek_report_json(const struct peek_report *r, struct json *j)
{
	double now = time_now();

	json_key(j, "dry_run");
	json_bool(j, true);
	json_key(j, "requested");
	json_uint(j, r->requested);
	json_key(j, "would_flush");
	json_uint(j, r->count);
	json_key(j, "stops_at");
	json_str(j, r->stop);
	json_key(j, "first");
	if (r->first.key != NULL)
		entry_json(j, r->first.key, r->first.klen, r->first.created, now);
	else
		json_null(j);
	json_key(j, "last");
	if (r->last.key != NULL)
		entry_json(j, r->last.key, r->last.klen, r->last.created, now);
	else
		json_null(j);
	json_key(j, "sampled");
	json_uint(j, r->sampled);
	json_key(j, "sample_gone");
	json_uint(j, r->missing);
	json_key(j, "sample_bytes");
	json_uint(j, r->sample_bytes);
	json_key(j, "estimated_bytes");
	if (r->error == NULL && r->sampled > 0)
		json_uint(j, (uint64_t)llround((double)r->sample_bytes * (double)r->count / (double)r->sampled));
	else if (r->error == NULL)
		json_uint(j, 0);
	else
		json_null(j);
	json_key(j, "sample_error");
	json_str(j, r->error);
}

struct peek *peek_new(struct conn *conn, struct ledger *ledger)
{
	struct peek *p = xcalloc(1, sizeof(*p));

	p->conn = conn;
	p->ledger = ledger;
	conn_on_lost(conn, on_lost, p);
	return p;
}

void peek_free(struct peek *p, const char *why)
{
	if (p == NULL)
		return;
	while (p->reqs != NULL) {
		if (p->reqs->r.error == NULL)
			p->reqs->r.error = xstrdup(why);
		finish(p->reqs);
	}
	free(p);
}
