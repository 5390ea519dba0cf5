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
 * Each sampled key is asked on the node that owns it, through that node's
 * peek_conn, which keeps what it asked for and answers it as failed if
 * its connection is lost (the connection then never replies).  While a
 * dry run sends, it holds one extra count of its pending replies, so that
 * a loss on a send cannot answer and free it halfway.
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
	char *node;			/* NULL: a standalone shard */
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
	struct ledger *ledger;
	peek_route_fn *route;
	void *route_arg;
	struct peek_req *reqs;		/* waiting for MEMORY USAGE replies */
	size_t nreqs;
};

/* One MEMORY USAGE in flight on a node's connection. */
struct ask {
	struct peek_conn *pc;
	struct peek_req *req;
	struct ask *prev, *next;
};

struct peek_conn {
	struct conn *conn;
	struct ask *asks;
};

static void entry_copy(struct peek_entry *dst, const struct ledger_entry *e, const char *node)
{
	dst->key = xmalloc(e->klen + 1);
	memcpy(dst->key, e->key, e->klen);
	dst->key[e->klen] = '\0';
	dst->klen = e->klen;
	dst->created = e->created;
	dst->node = node != NULL ? xstrdup(node) : NULL;
}

static void entry_json(struct json *j, const char *key, size_t klen, uint32_t created, const char *node, double now)
{
	json_obj_begin(j);
	json_key_name(j, "key", key, klen);
	json_key(j, "created_unix");
	json_uint(j, created);
	json_key(j, "age_s");
	json_double(j, round((now - (double)created) * 1000) / 1000);
	if (node != NULL) {
		json_key(j, "node");
		json_str(j, node);
	}
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
		const char *node = NULL;

		if (ledger_is_mark(e)) {
			past_mark = true;	/* a flush stops here until the reconciliation ends */
			continue;
		}
		(void)p->route(p->route_arg, e->key, e->klen, &node);
		entry_json(j, e->key, e->klen, e->created, node, now);
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
	free(r->first.node);
	free(r->last.key);
	free(r->last.node);
	free(r->error);
}

static void set_error(struct peek_report *r, const char *msg)
{
	if (r->error == NULL)
		r->error = xstrdup(msg);
}

/* One pending reply (or the sender's hold) is accounted for: the last
 * answers and forgets req. */
static void settle(struct peek_req *req)
{
	struct peek *p = req->p;
	struct peek_req **pp = &p->reqs;

	if (--req->r.pending > 0)
		return;
	while (*pp != req)
		pp = &(*pp)->next;
	*pp = req->next;
	p->nreqs--;
	req->done(req->arg, &req->r);
	report_free(&req->r);
	free(req);
}

static void ask_unlink(struct ask *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		a->pc->asks = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
}

static void on_usage(void *owner, redisReply *r, void *arg)
{
	struct ask *a = arg;
	struct peek_report *rep = &a->req->r;
	struct peek_req *req = a->req;

	(void)owner;
	ask_unlink(a);
	free(a);
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		rep->sample_bytes += (uint64_t)r->integer;
	} else if (r->type == REDIS_REPLY_NIL) {
		rep->missing++;
	} else if (rep->error == NULL) {
		rep->error = xasprintf("MEMORY USAGE: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	}
	settle(req);
}

/* Answers everything pc waits for as failed, with why. */
static void fail_asks(struct peek_conn *pc, const char *why)
{
	while (pc->asks != NULL) {
		struct ask *a = pc->asks;
		struct peek_req *req = a->req;

		ask_unlink(a);
		free(a);
		set_error(&req->r, why);
		settle(req);
	}
}

/* The connection is gone: replies will never come. */
static void on_lost(void *arg, const struct conn_loss *loss)
{
	fail_asks(arg, loss->msg);
}

struct peek_conn *peek_conn_new(struct conn *conn)
{
	struct peek_conn *pc = xcalloc(1, sizeof(*pc));

	pc->conn = conn;
	conn_on_lost(conn, on_lost, pc);
	return pc;
}

void peek_conn_free(struct peek_conn *pc)
{
	if (pc == NULL)
		return;
	fail_asks(pc, "node removed");
	free(pc);
}

/* Asks the node that owns e for its MEMORY USAGE; a key no connected node
 * owns, or a send that fails, leaves the report without an estimate. */
static void ask(struct peek_req *req, const struct ledger_entry *e)
{
	struct peek *p = req->p;
	const char *node = NULL;
	struct peek_conn *pc = p->route(p->route_arg, e->key, e->klen, &node);
	const char *argv[3] = {"MEMORY", "USAGE", e->key};
	size_t lens[3] = {6, 5, e->klen};
	struct ask *a;

	req->r.sampled++;
	if (pc == NULL || !conn_ready(pc->conn)) {
		set_error(&req->r, node == NULL ? "the shard is not connected" : "a master that owns a sampled key is not connected");
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->pc = pc;
	a->req = req;
	a->next = pc->asks;
	if (pc->asks != NULL)
		pc->asks->prev = a;
	pc->asks = a;
	req->r.pending++;
	/* On failure the conn fails, and on_lost answers the ask. */
	(void)conn_send_argv(pc->conn, on_usage, a, 3, argv, lens);
}

/* Walks what a flush of n would take (up to a mark, the end or the cap),
 * once: counts it, copies the first and the last, and keeps candidates
 * for the sample at a stride that doubles whenever 2 * PEEK_SAMPLE of
 * them are kept, so that they end up evenly spread over all of it.
 * Returns how many candidates cand holds (at most 2 * PEEK_SAMPLE). */
static size_t walk(struct peek_req *req, const struct ledger_entry **cand)
{
	struct peek *p = req->p;
	struct peek_report *r = &req->r;
	uint64_t max = r->requested < PEEK_DRY_RUN_MAX ? r->requested : PEEK_DRY_RUN_MAX, stride = 1;
	const struct ledger_entry *e = ledger_head(p->ledger), *last = NULL;
	const char *node = NULL;
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
		if (r->count == 0) {
			(void)p->route(p->route_arg, e->key, e->klen, &node);
			entry_copy(&r->first, e, node);
		}
		last = e;
		r->count++;
	}
	if (last != NULL) {
		(void)p->route(p->route_arg, last->key, last->klen, &node);
		entry_copy(&r->last, last, node);
	}
	r->stop = r->count == r->requested ? NULL : e == NULL ? "end" : ledger_is_mark(e) ? "reconciliation" : "limit";
	return ncand;
}

int peek_dry_run(struct peek *p, uint64_t n, peek_done_fn *done, void *arg, const char **why)
{
	const struct ledger_entry *cand[2 * PEEK_SAMPLE];
	struct peek_req *req;
	size_t ncand, want;

	if (p->nreqs >= PEEK_MAX_PENDING) {
		*why = "too many dry runs at once on this shard; try again";
		return -1;
	}
	req = xcalloc(1, sizeof(*req));
	req->p = p;
	req->done = done;
	req->arg = arg;
	req->r.requested = n;
	req->r.pending = 1;	/* the sender's hold, released below */
	req->next = p->reqs;
	p->reqs = req;
	p->nreqs++;
	ncand = walk(req, cand);
	want = ncand < PEEK_SAMPLE ? ncand : PEEK_SAMPLE;
	for (size_t k = 0; k < want; k++)
		ask(req, cand[k * ncand / want]);
	settle(req);
	return 0;
}

static void report_entry(struct json *j, const char *member, const struct peek_entry *e, double now)
{
	json_key(j, member);
	if (e->key != NULL)
		entry_json(j, e->key, e->klen, e->created, e->node, now);
	else
		json_null(j);
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
	report_entry(j, "first", &r->first, now);
	report_entry(j, "last", &r->last, now);
	json_key(j, "sampled");
	json_uint(j, r->sampled);
	json_key(j, "sample_gone");
	json_uint(j, r->missing);
	json_key(j, "sample_bytes");
	json_uint(j, r->sample_bytes);
	json_key(j, "estimated_bytes");
	if (r->error != NULL)
		json_null(j);
	else if (r->sampled > 0)
		json_uint(j, (uint64_t)llround((double)r->sample_bytes * (double)r->count / (double)r->sampled));
	else
		json_uint(j, 0);
	json_key(j, "sample_error");
	json_str(j, r->error);
}

struct peek *peek_new(struct ledger *ledger, peek_route_fn *route, void *arg)
{
	struct peek *p = xcalloc(1, sizeof(*p));

	p->ledger = ledger;
	p->route = route;
	p->route_arg = arg;
	return p;
}

void peek_free(struct peek *p, const char *why)
{
	if (p == NULL)
		return;
	/* Its nodes went first and answered what they waited for; what is left
	 * waits for nothing but its hold, which a dry run never keeps across
	 * a turn of the loop. */
	while (p->reqs != NULL) {
		set_error(&p->reqs->r, why);
		p->reqs->r.pending = 1;
		settle(p->reqs);
	}
	free(p);
}
