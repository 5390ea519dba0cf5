/* node: one master's state machine, backoff and wiring.
 *
 * Connecting runs in steps, each started by the previous one's success:
 *   command conn ready -> handshake (ROLE, notify-keyspace-events) ->
 *   tracking subscribed -> connected (tick, flush),
 * while the reconciliation SCAN runs in the background.  Any loss of the
 * command connection reaches every part through conn_on_lost (a flush in
 * flight puts its chunks back, tracking stops, the tick stops), and the
 * node retries after a backoff; tracking fails the command connection
 * when its subscriber fails, so that every loss takes the one path. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "handshake.h"
#include "ledger.h"
#include "log.h"
#include "node.h"
#include "parse.h"
#include "peek.h"
#include "store.h"
#include "tick.h"
#include "timer.h"
#include "track.h"
#include "util.h"

#define BACKOFF_FIRST_SECS 0.1

struct node {
	const struct node_ops *ops;
	void *owner;
	char *name;			/* the shard's, for the log */
	char *address;
	char *who;			/* "shard NAME", and ": ADDRESS" when one of several */
	struct parse_addr addr;
	double reconnect_max_secs;
	struct ledger *ledger;
	struct store *store;
	struct slot_set *slots;		/* NULL: every key */
	struct handoff *handoff;
	char *policy_key;		/* the shard's; read here only if ours */
	struct policy base;		/* the config's policy */

	enum node_state state;
	struct conn *cmd;
	struct handshake *handshake;
	struct track *track;
	struct tick *tick;
	struct flush *flush;
	struct peek_conn *peek;		/* dry runs' MEMORY USAGE */
	struct event *retry_timer;	/* next connection attempt */
	unsigned failures;		/* consecutive, for the backoff */
	bool paused;

	char *last_error;
	double last_error_unix;
	flush_done_fn *caller_done;	/* a forced flush's caller */
	void *caller_arg;
	uint64_t connects_total, connect_failures_total;
};

static const char *const state_names[] = {"down", "connecting", "connected", "error"};

const char *node_state_name(enum node_state st)
{
	return state_names[st];
}

enum node_state node_state(const struct node *n)
{
	return n->state;
}

const char *node_address(const struct node *n)
{
	return n->address;
}

static void changed(struct node *n)
{
	n->ops->changed(n->owner);
}

static void set_error(struct node *n, const char *msg)
{
	/* Log a new error loudly; a retry failing the same way stays quiet. */
	if (n->last_error == NULL || strcmp(n->last_error, msg) != 0)
		log_warn("%s: %s", n->who, msg);
	else
		log_debug("%s: %s", n->who, msg);
	free(n->last_error);
	n->last_error = xstrdup(msg);
	n->last_error_unix = time_now();
}

/* ---- connecting, failing and the backoff ----------------------------------- */

/* Capped exponential backoff with jitter in [d/2, d), so that many daemons
 * (or many shards behind one address) do not retry in lockstep. */
static double backoff_secs(const struct node *n)
{
	double d = BACKOFF_FIRST_SECS * pow(2.0, (double)(n->failures > 30 ? 30 : n->failures) - 1.0);

	if (d > n->reconnect_max_secs)
		d = n->reconnect_max_secs;
	return d * (0.5 + 0.5 * ((double)random() / (double)RAND_MAX));
}

static void connect_now(struct node *n)
{
	event_del(n->retry_timer);
	n->state = NODE_CONNECTING;
	changed(n);
	conn_open(n->cmd);	/* the handshake follows its ready */
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_now(arg);
}

/* The command connection is lost: every other part has heard it too.  A
 * close of our own (a reload, the end) is no failure. */
static void on_cmd_lost(void *arg, const struct conn_loss *loss)
{
	struct node *n = arg;
	double delay;

	if (loss->closed)
		return;
	set_error(n, loss->msg);
	/* A master gone may be a failover: let the topology look (a no-op for
	 * one server; the look happens later, never inside this callback). */
	n->ops->redirected(n->owner, "connection lost");
	n->state = loss->refused ? NODE_ERROR : NODE_DOWN;
	n->failures++;
	n->connect_failures_total++;
	delay = backoff_secs(n);
	log_debug("%s: retrying in %.2fs", n->who, delay);
	timer_arm(n->retry_timer, delay);
	changed(n);
}

static void on_handshake_done(void *owner)
{
	struct node *n = owner;

	track_start(n->track);
}

/* ROLE said this is not a master (any more): the topology is stale. */
static void on_not_master(void *owner, const char *why)
{
	struct node *n = owner;

	n->ops->redirected(n->owner, why);
}

static void on_subscribed(void *owner)
{
	struct node *n = owner;

	n->state = NODE_CONNECTED;
	n->failures = 0;
	n->connects_total++;
	log_info("shard %s: connected to %s, tracking %zu entries", n->name, n->address, ledger_count(n->ledger));
	tick_start(n->tick);
	changed(n);
}

static void on_track_failed(void *owner, bool refused, const char *msg)
{
	struct node *n = owner;

	conn_fail(n->cmd, refused, "%s", msg);
}

static void on_reconciled(void *owner)
{
	changed(owner);
}

static const struct track_ops track_ops = {on_subscribed, on_track_failed, on_reconciled};

/* ---- flushing ------------------------------------------------------------------ */

static void on_flush_done(void *arg, const struct flush_result *r)
{
	struct node *n = arg;
	flush_done_fn *done = n->caller_done;

	n->caller_done = NULL;
	if (r->error != NULL && strcmp(r->error, "paused") != 0)
		set_error(n, r->error);
	if (done != NULL)
		done(n->caller_arg, r);
	changed(n);
}

static void on_redirect(void *owner, const char *why)
{
	struct node *n = owner;

	n->ops->redirected(n->owner, why);
}

bool node_owns(const struct node *n, const char *key, size_t klen)
{
	return n->slots == NULL || slot_set_has(n->slots, slot_of(key, klen));
}

static bool wants(void *arg, const char *key, size_t klen)
{
	return node_owns(arg, key, klen);
}

/* What keeps any flush from starting, or NULL. */
static const char *cannot_flush(const struct node *n)
{
	if (n->state != NODE_CONNECTED)
		return "the shard is not connected";
	if (flush_running(n->flush))
		return "a flush is already running on this shard";
	if (!store_usable(n->store))
		return "the archive cannot be opened (see last_error); nothing is deleted unarchived";
	return NULL;
}

/* The tick's policy says flush count now. */
static int on_policy_flush(void *owner, uint64_t count)
{
	struct node *n = owner;
	const char *why = cannot_flush(n);

	if (why != NULL || n->paused)
		return -1;
	if (!ledger_flushable(n->ledger)) {
		/* Nothing tracked, or the first reconciliation has not yet found
		 * the keys older than those seen since: flushing now would take
		 * the newest. */
		log_debug("shard %s: over the threshold but nothing to flush yet", n->name);
		return -1;
	}
	flush_set_quiet(n->flush, tick_policy(n->tick)->flush_mode == FLUSH_MODE_HOLD);
	return flush_start(n->flush, count, tick_policy(n->tick)->flush_server_budget, on_flush_done, n, &why);
}

/* Hold mode's view of the node's flush and entries.  A cluster node's
 * share of the tracked entries is counted by its slots' share (only for
 * the estimate without MEMORY USAGE, where an overstated size is safe). */
static void on_tick_view(void *owner, struct tick_flush_view *v)
{
	struct node *n = owner;
	uint64_t all = ledger_count(n->ledger);

	flush_progress(n->flush, &v->deletes_sent, &v->pending);
	v->tracked = n->slots == NULL ? all : all * slot_set_count(n->slots) / SLOT_COUNT;
	v->running = flush_running(n->flush);
	v->forced = v->running && n->caller_done != NULL;
}

static int on_tick_retarget(void *owner, uint64_t count)
{
	struct node *n = owner;

	if (n->paused)
		return -1;
	return flush_retarget(n->flush, count);
}

/* The oldest of the node's own entries, for MEMORY USAGE. */
static size_t on_tick_sample(void *owner, uint64_t step, const char **keys, size_t *lens, size_t max)
{
	struct node *n = owner;
	const struct ledger_entry *e[HOLD_SAMPLES];
	size_t got = ledger_sample(n->ledger, n->slots != NULL ? wants : NULL, n, step, e,
				   max < HOLD_SAMPLES ? max : HOLD_SAMPLES);

	for (size_t i = 0; i < got; i++) {
		keys[i] = e[i]->key;
		lens[i] = e[i]->klen;
	}
	return got;
}

int node_flush_now(struct node *n, uint64_t count, flush_done_fn *done, void *arg, const char **why)
{
	if (count == 0)
		count = policy_entries_to_flush(tick_policy(n->tick));
	if ((*why = cannot_flush(n)) != NULL)
		return -1;
	n->caller_done = done;
	n->caller_arg = arg;
	tick_record_flush(n->tick);
	flush_set_quiet(n->flush, false);
	if (flush_start(n->flush, count, tick_policy(n->tick)->flush_server_budget, on_flush_done, n, why) < 0) {
		n->caller_done = NULL;
		return -1;
	}
	return 0;
}

void node_set_paused(struct node *n, bool paused)
{
	n->paused = paused;
	if (paused)
		flush_stop(n->flush, "paused");
}

/* ---- the tick's reports -------------------------------------------------------------- */

static void on_ticked(void *owner)
{
	struct node *n = owner;

	store_tick(n->store);
}

static void on_part_error(void *owner, const char *msg)
{
	struct node *n = owner;

	set_error(n, msg);
	changed(n);
}

static void on_tick_changed(void *owner)
{
	changed(owner);
}

static const struct tick_ops tick_ops = {
	on_policy_flush, on_ticked, on_part_error, on_tick_changed, on_tick_view, on_tick_retarget, on_tick_sample,
};

/* ---- parameters by value ------------------------------------------------------------- */

/* The tick's settings: in a cluster, only the master that owns the policy
 * key's slot reads it (the others would be answered MOVED). */
static void apply_tick(struct node *n)
{
	bool ours = *n->policy_key != '\0' && node_owns(n, n->policy_key, strlen(n->policy_key));
	struct tick_params kp = {n->name, ours ? n->policy_key : "", n->base};

	tick_set_params(n->tick, &kp);
}

/* Gives every part its settings from the shard's config and our address. */
static void apply_conf(struct node *n, const struct shard_conf *sc)
{
	struct conn_params cp;
	struct track_params tp = {sc->name, sc->db, sc->match, sc->policy_key, {{0}, 0, 0, 0, 0, 0, 0, 0}, n->handoff};
	struct flush_params fp = {sc->name, (uint32_t)sc->db, sc->flush_max_entries_per_sec, NULL, NULL};

	free(n->name);
	n->name = xstrdup(sc->name);
	free(n->who);
	/* A lone server's messages read as they always did; a cluster's or a
	 * Sentinel's say which master. */
	n->who = n->slots != NULL || *sc->sentinels ? xasprintf("shard %s: %s", sc->name, n->address)
						  : xasprintf("shard %s", sc->name);
	n->reconnect_max_secs = sc->reconnect_max_secs;
	conn_params_from_conf(&cp, sc);
	cp.addr = n->addr;
	conn_set_params(n->cmd, &cp);
	tp.conn = cp;
	track_set_params(n->track, &tp);
	free(n->policy_key);
	n->policy_key = xstrdup(sc->policy_key);
	policy_from_conf(&n->base, sc);
	apply_tick(n);
	if (n->slots != NULL) {
		/* A command may not cross slots, and a take skips other nodes' keys. */
		fp.want = wants;
		fp.want_arg = n;
	}
	flush_set_params(n->flush, &fp);
	handshake_set_name(n->handshake, sc->name);
}

/* ---- lifetime ---------------------------------------------------------------------- */

struct node *node_new(struct event_base *base, struct evdns_base *dns, struct ledger *ledger, struct store *store,
		      const struct node_params *p, const struct node_ops *ops, void *owner)
{
	struct node *n = xcalloc(1, sizeof(*n));
	const char *err;

	n->ops = ops;
	n->owner = owner;
	n->ledger = ledger;
	n->store = store;
	n->handoff = p->handoff;
	n->address = xstrdup(p->address);
	if (parse_address(p->address, &n->addr, &err) < 0)
		abort();	/* the config and the topology give valid addresses */
	if (p->slots != NULL) {
		n->slots = xmalloc(sizeof(*n->slots));
		*n->slots = *p->slots;
	}
	n->state = NODE_CONNECTING;	/* node_start follows at once */
	n->retry_timer = evtimer_new(base, on_retry, n);
	if (n->retry_timer == NULL)
		abort();
	/* The command connection's users hear of a loss in this order: the
	 * flush puts its chunks back, tracking stops, the tick stops, dry runs
	 * are answered, and last the state machine schedules the retry. */
	n->handshake = handshake_new(p->conf->name, on_handshake_done, on_not_master, n);
	n->cmd = conn_new(base, dns, handshake_ready, n->handshake);
	n->flush = flush_new(base, n->cmd, ledger, store, on_redirect, n);
	n->track = track_new(base, dns, n->cmd, ledger, &track_ops, n);
	n->tick = tick_new(base, n->cmd, &tick_ops, n);
	n->peek = peek_conn_new(n->cmd);
	conn_on_lost(n->cmd, on_cmd_lost, n);
	apply_conf(n, p->conf);
	return n;
}

void node_start(struct node *n)
{
	connect_now(n);
}

void node_reconfigure(struct node *n, const struct shard_conf *sc, bool reconnect)
{
	apply_conf(n, sc);
	if (!reconnect)
		return;
	log_info("%s: connection settings changed; reconnecting", n->who);
	conn_close(n->cmd, "reconnecting after a reload");
	n->failures = 0;
	connect_now(n);
}

void node_set_slots(struct node *n, const struct slot_set *slots)
{
	if (n->slots == NULL || slots == NULL)
		return;	/* a node's kind never changes */
	*n->slots = *slots;
	apply_tick(n);
}

void node_free(struct node *n)
{
	if (n == NULL)
		return;
	conn_close(n->cmd, "node removed");
	peek_conn_free(n->peek);
	flush_free(n->flush);
	tick_free(n->tick);
	track_free(n->track);
	conn_free(n->cmd);
	handshake_free(n->handshake);
	event_free(n->retry_timer);
	parse_addr_free(&n->addr);
	free(n->slots);
	free(n->address);
	free(n->who);
	free(n->policy_key);
	free(n->name);
	free(n->last_error);
	free(n);
}

/* ---- status ------------------------------------------------------------------------ */

void node_stats(const struct node *n, struct shard_stats *st)
{
	st->address = n->address;
	st->state = node_state_name(n->state);
	st->up = n->state == NODE_CONNECTED;
	st->paused = n->paused;
	tick_stats(n->tick, st);
	track_stats(n->track, st);
	flush_stats(n->flush, st);
	st->last_error = n->last_error;
	if (n->last_error != NULL)
		st->last_error_unix = n->last_error_unix;
	st->connects_total = n->connects_total;
	st->connect_failures_total = n->connect_failures_total;
}

char *node_slots_text(const struct node *n)
{
	return n->slots != NULL ? slot_set_format(n->slots) : xstrdup("");
}

struct peek_conn *node_peek(const struct node *n)
{
	return n->peek;
}

const struct policy *node_policy(const struct node *n)
{
	return tick_policy(n->tick);
}
