/* track: keyspace events into the ledger, and reconciliation by SCAN.
 * Owns the subscriber connection and every write of creation order: adds,
 * moves, drops and reconciliation marks.  On the shard's command
 * connection it only sends SCAN and OBJECT IDLETIME, and stops when that
 * connection is lost. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "handoff.h"
#include "ledger.h"
#include "log.h"
#include "match.h"
#include "track.h"
#include "util.h"

#define RECON_SCAN_COUNT 1000
#define RECON_STEP_PAUSE_USEC 2000	/* between SCAN steps: others' commands interleave */

/* A key found by SCAN that the ledger did not know, and its idle time. */
struct found {
	char *key;
	size_t klen;
	long long idle;
	size_t seq;		/* SCAN order, to keep the sort stable */
};

struct track {
	struct event_base *base;
	struct conn *sub;		/* ours: subscribed to keyspace events */
	struct conn *cmd;		/* the shard's: SCAN and OBJECT IDLETIME */
	struct ledger *ledger;
	const struct track_ops *ops;
	void *owner;
	char *name;			/* the shard's, for the log */
	uint64_t db;
	struct handoff *handoff;	/* a cluster's: migrations keep their place */
	char *match_spec;		/* as configured, to see a change */
	struct match_list match;
	char *policy_key;		/* the daemon's own: never an entry */
	size_t policy_key_len;
	char *channels[4];
	int subscribed;			/* subscribe confirmations so far */

	enum track_recon recon;
	struct ledger_entry *mark;
	char *cursor;
	struct found *found;
	size_t nfound, capfound;
	size_t batch_from;		/* first found of the SCAN step in flight */
	size_t idle_pending;		/* OBJECT IDLETIME replies outstanding */
	bool idle_usable;		/* false under LFU: SCAN order instead */
	struct event *step_timer;
	double recon_started;
	double recon_started_unix;	/* for status: a stuck one can be alerted on */
	uint64_t recon_runs_total;
	uint64_t recon_added_total;
	uint64_t events_total;
};

static const char *const event_names[] = {"new", "del", "expired", "evicted"};
/* ---- events ---------------------------------------------------------------------- */

/* Is key an entry?  It must match the patterns and not be the runtime
 * policy hash, which the application keeps for us. */
static bool is_entry(const struct track *t, const char *key, size_t klen)
{
	if (t->policy_key != NULL && t->policy_key_len == klen && memcmp(t->policy_key, key, klen) == 0)
		return false;
	return match_list_any(&t->match, key, klen);
}

static void on_event(struct track *t, const char *channel, size_t clen, const char *key, size_t klen)
{
	const char *colon = memchr(channel, ':', clen);
	size_t elen;

	if (colon == NULL)
		return;
	colon++;
	elen = clen - (size_t)(colon - channel);
	t->events_total++;
	if (!is_entry(t, key, klen))
		return;
	if (elen == 3 && memcmp(colon, "new", 3) == 0) {
		uint32_t now = (uint32_t)time(NULL);	/* cheaper than time_now(), per event */

		if (t->handoff != NULL)
			handoff_new_key(t->handoff, t, key, klen, now);
		else
			ledger_add(t->ledger, key, klen, now);
	} else if (t->handoff != NULL && elen == 3 && memcmp(colon, "del", 3) == 0) {
		handoff_del(t->handoff, t, key, klen);	/* maybe a migration's source half */
	} else {
		ledger_remove(t->ledger, key, klen);
	}
}

/* How many events ahead the ledger's memory is fetched: enough to cover a
 * miss to memory, few enough for the core's outstanding misses. */
#define EVENT_PREFETCH_AHEAD 12

/* Keyspace events as one read brought them, read in place (conn_on_message).
 * The ledger's index is far larger than the caches, so each event's
 * lookup would wait for memory in turn: fetching the slots of the lookups
 * a few events ahead overlaps those waits (lookups were 39% of the
 * daemon's time per event without, 16% with). */
static void on_events(void *arg, const struct conn_message *m, size_t n)
{
	struct track *t = arg;
	size_t ahead = t->handoff == NULL && n > 1 ? EVENT_PREFETCH_AHEAD : 0;

	for (size_t i = 0; i < ahead && i < n; i++)
		ledger_prefetch(t->ledger, m[i].payload, m[i].payload_len);
	for (size_t i = 0; i < n; i++) {
		if (ahead > 0 && i + ahead < n)
			ledger_prefetch(t->ledger, m[i + ahead].payload, m[i + ahead].payload_len);
		on_event(t, m[i].channel, m[i].channel_len, m[i].payload, m[i].payload_len);
	}
}

static void start_reconcile(struct track *t);

static void on_message(void *owner, redisReply *r, void *arg)
{
	struct track *t = arg;

	(void)owner;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING) {
		if (r->type == REDIS_REPLY_ERROR)
			conn_fail(t->sub, true, "SUBSCRIBE: %s", r->str);
		return;
	}
	/* Messages go to on_event; one with a part of the wrong type comes
	 * here, and is ignored. */
	if (strcmp(r->element[0]->str, "unsubscribe") == 0) {
		/* We never unsubscribe: the server did, and events would stop
		 * unseen.  Subscribing again also reconciles the gap. */
		conn_fail(t->sub, false, "the server unsubscribed us from a channel");
	} else if (strcmp(r->element[0]->str, "subscribe") == 0 && ++t->subscribed == (int)ARRAY_SIZE(t->channels)) {
		/* Events flow from here on: whatever happened before is the gap. */
		conn_subscribed(t->sub);
		t->ops->subscribed(t->owner);
		start_reconcile(t);
	}
}

static void on_sub_ready(void *owner, struct conn *c)
{
	struct track *t = owner;

	(void)c;
	t->subscribed = 0;
	for (size_t i = 0; i < ARRAY_SIZE(t->channels); i++) {
		free(t->channels[i]);
		t->channels[i] = xasprintf("__keyevent@%llu__:%s", (unsigned long long)t->db, event_names[i]);
	}
	{
		const char *argv[5] = {"SUBSCRIBE", t->channels[0], t->channels[1], t->channels[2], t->channels[3]};

		conn_subscribe(t->sub, on_message, t, 5, argv);
	}
}

static void abandon_reconcile(struct track *t)
{
	event_del(t->step_timer);
	for (size_t i = 0; i < t->nfound; i++)
		free(t->found[i].key);
	t->nfound = 0;
	t->idle_pending = 0;
	free(t->cursor);
	t->cursor = NULL;
	if (t->mark != NULL)
		ledger_unmark(t->ledger, t->mark);
	t->mark = NULL;
	if (t->recon == RECON_RUNNING)
		t->recon = RECON_PENDING;
}

/* The subscriber is gone: events stop, so the reconciliation's mark no
 * longer marks a gap's start; the next subscription reconciles again. */
static void on_sub_lost(void *arg, const struct conn_loss *loss)
{
	struct track *t = arg;
	char *m;

	abandon_reconcile(t);
	t->recon = RECON_PENDING;
	if (loss->closed)
		return;
	m = xasprintf("subscriber: %s", loss->msg);
	t->ops->failed(t->owner, loss->refused, m);
	free(m);
}

/* The command connection is gone: SCAN replies will never come, and the
 * shard starts over, subscription included. */
static void on_cmd_lost(void *arg, const struct conn_loss *loss)
{
	(void)loss;
	track_stop(arg);
}

/* ---- reconciliation ---------------------------------------------------------------- */

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->idle != y->idle)
		return x->idle > y->idle ? -1 : 1;	/* idle longest = oldest first */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void finish_reconcile(struct track *t)
{
	uint32_t now = (uint32_t)time_now();
	size_t added = 0;

	if (t->nfound > 1)
		qsort(t->found, t->nfound, sizeof(*t->found), found_cmp);
	for (size_t i = 0; i < t->nfound; i++) {
		long long idle = t->found[i].idle > 0 ? t->found[i].idle : 0;
		size_t before = ledger_count(t->ledger);

		ledger_insert_before(t->ledger, t->mark, t->found[i].key, t->found[i].klen,
				     idle < now ? now - (uint32_t)idle : now);
		added += ledger_count(t->ledger) - before;
		free(t->found[i].key);
	}
	t->nfound = 0;
	ledger_unmark(t->ledger, t->mark);
	t->mark = NULL;
	t->recon = RECON_DONE;
	t->recon_added_total += added;
	/* The inserted keys were not logged one by one: the store's next sync
	 * persists the order (off the loop). */
	ledger_compact_soon(t->ledger);
	log_info("shard %s: reconciliation done in %.2fs: %zu unknown keys added%s", t->name,
		 time_mono() - t->recon_started, added,
		 t->idle_usable ? " (ordered by OBJECT IDLETIME)" : " (in SCAN order: OBJECT IDLETIME unavailable)");
	t->ops->reconciled(t->owner);
}

static void schedule_step(struct track *t)
{
	struct timeval tv = {0, RECON_STEP_PAUSE_USEC};

	if (t->cursor != NULL && strcmp(t->cursor, "0") == 0) {
		finish_reconcile(t);
		return;
	}
	event_add(t->step_timer, &tv);
}

static void on_idletime(void *owner, redisReply *r, void *arg)
{
	struct track *t = arg;

	(void)owner;
	if (t->idle_pending == 0)
		return;
	/* Replies come in order: the k-th outstanding one is found[batch_from + done]. */
	{
		size_t idx = t->nfound - t->idle_pending;

		if (r->type == REDIS_REPLY_INTEGER) {
			t->found[idx].idle = r->integer;
		} else if (r->type == REDIS_REPLY_ERROR && t->idle_usable) {
			/* Under an LFU policy OBJECT IDLETIME is refused: SCAN order it is. */
			log_info("shard %s: OBJECT IDLETIME refused (%s); reconciling in SCAN order", t->name, r->str);
			t->idle_usable = false;
		}
	}
	if (--t->idle_pending == 0)
		schedule_step(t);
}

static void add_found(struct track *t, const char *key, size_t klen)
{
	if (t->nfound == t->capfound) {
		t->capfound = t->capfound ? t->capfound * 2 : 1024;
		t->found = xrealloc(t->found, t->capfound * sizeof(*t->found));
	}
	t->found[t->nfound].key = xstrndup(key, klen);
	t->found[t->nfound].klen = klen;
	t->found[t->nfound].idle = 0;
	t->found[t->nfound].seq = t->nfound;
	t->nfound++;
}

static void on_scan(void *owner, redisReply *r, void *arg)
{
	struct track *t = arg;
	redisReply *keys;

	(void)owner;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		log_warn("shard %s: reconciliation: SCAN failed: %s", t->name, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		abandon_reconcile(t);
		return;
	}
	free(t->cursor);
	t->cursor = xstrndup(r->element[0]->str, r->element[0]->len);
	keys = r->element[1];
	t->batch_from = t->nfound;
	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];

		/* SCAN may return a key twice; the ledger check dedupes against
		 * known keys, insertion dedupes the rest. */
		if (k->type != REDIS_REPLY_STRING || !is_entry(t, k->str, k->len) ||
		    ledger_contains(t->ledger, k->str, k->len))
			continue;
		add_found(t, k->str, k->len);
	}
	if (!t->idle_usable || t->nfound == t->batch_from) {
		schedule_step(t);
		return;
	}
	/* OBJECT IDLETIME does not touch the LRU clock (DUMP would). */
	t->idle_pending = t->nfound - t->batch_from;
	for (size_t i = t->batch_from; i < t->nfound; i++) {
		const char *argv[3] = {"OBJECT", "IDLETIME", t->found[i].key};
		size_t lens[3] = {6, 8, t->found[i].klen};

		if (conn_send_argv(t->cmd, on_idletime, t, 3, argv, lens) < 0)
			return;	/* the conn failed: on_cmd_lost stopped us */
	}
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct track *t = arg;

	(void)fd;
	(void)what;
	if (t->recon != RECON_RUNNING || !conn_ready(t->cmd))
		return;
	/* One pattern can go to the server; several are filtered here. */
	if (t->match.n == 1 && !t->match.all)
		conn_send(t->cmd, on_scan, t, "SCAN %s MATCH %s COUNT %d", t->cursor ? t->cursor : "0",
			  t->match.pats[0], RECON_SCAN_COUNT);
	else
		conn_send(t->cmd, on_scan, t, "SCAN %s COUNT %d", t->cursor ? t->cursor : "0", RECON_SCAN_COUNT);
}

static void start_reconcile(struct track *t)
{
	abandon_reconcile(t);
	t->recon = RECON_RUNNING;
	t->recon_runs_total++;
	t->recon_started = time_mono();
	t->recon_started_unix = time_now();
	t->idle_usable = true;
	t->mark = ledger_mark(t->ledger);
	on_step(-1, 0, t);
}

/* ---- lifetime ------------------------------------------------------------------------ */

struct track *track_new(struct event_base *base, struct evdns_base *dns, struct conn *cmd,
			struct ledger *ledger, const struct track_ops *ops, void *owner)
{
	struct track *t = xcalloc(1, sizeof(*t));

	t->base = base;
	t->cmd = cmd;
	t->ledger = ledger;
	t->ops = ops;
	t->owner = owner;
	t->name = xstrdup("");
	t->sub = conn_new(base, dns, on_sub_ready, t);
	conn_on_message(t->sub, on_events);
	conn_on_lost(t->sub, on_sub_lost, t);
	conn_on_lost(cmd, on_cmd_lost, t);
	t->step_timer = evtimer_new(base, on_step, t);
	if (t->step_timer == NULL)
		abort();
	return t;
}

static bool keep_entry(void *arg, const char *key, size_t klen)
{
	return is_entry(arg, key, klen);
}

void track_set_params(struct track *t, const struct track_params *p)
{
	bool first = t->match_spec == NULL;
	bool entries_changed = first || strcmp(t->match_spec, p->match) != 0 ||
			       strcmp(t->policy_key ? t->policy_key : "", p->policy_key) != 0;
	size_t n;

	free(t->name);
	t->name = xstrdup(p->name);
	t->db = p->db;
	t->handoff = p->handoff;
	conn_set_params(t->sub, &p->conn);
	if (!entries_changed)
		return;
	free(t->match_spec);
	t->match_spec = xstrdup(p->match);
	match_list_free(&t->match);
	match_list_init(&t->match, p->match);
	free(t->policy_key);
	t->policy_key = *p->policy_key ? xstrdup(p->policy_key) : NULL;
	t->policy_key_len = strlen(p->policy_key);
	/* Keys tracked under the old patterns, or the key that just became the
	 * policy key, are entries no more: they must never be flushed. */
	n = ledger_retain(t->ledger, keep_entry, t);
	if (n > 0)
		log_info("shard %s: %zu tracked keys are no longer entries (match or policy_key changed)", t->name, n);
}

void track_start(struct track *t)
{
	abandon_reconcile(t);
	t->recon = RECON_PENDING;
	conn_open(t->sub);
}

void track_stop(struct track *t)
{
	conn_close(t->sub, "stopped");
	abandon_reconcile(t);
	t->recon = RECON_PENDING;
}

void track_reset(struct track *t)
{
	ledger_clear(t->ledger);
}

void track_free(struct track *t)
{
	if (t == NULL)
		return;
	abandon_reconcile(t);
	conn_free(t->sub);
	event_free(t->step_timer);
	free(t->found);
	for (size_t i = 0; i < ARRAY_SIZE(t->channels); i++)
		free(t->channels[i]);
	match_list_free(&t->match);
	free(t->match_spec);
	free(t->policy_key);
	free(t->name);
	free(t);
}

void track_stats(const struct track *t, struct shard_stats *st)
{
	static const char *const names[] = {"pending", "running", "done"};
	uint32_t oldest = ledger_oldest_created(t->ledger);

	st->reconcile_state = names[t->recon];
	st->reconciling = t->recon == RECON_RUNNING;
	if (t->recon_runs_total > 0)
		st->reconcile_started_unix = t->recon_started_unix;
	st->reconcile_runs_total = t->recon_runs_total;
	st->reconcile_added_total = t->recon_added_total;
	st->events_total = t->events_total;
	st->tracked_entries = ledger_count(t->ledger);
	if (oldest != 0)
		st->oldest_entry_age_s = time_now() - (double)oldest;
	st->ledger_bytes = ledger_memory(t->ledger);
}
