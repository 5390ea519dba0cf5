/* shard: a logical shard's nodes, as its topology says, over one store.
 *
 * A standalone shard has one node at its address, for its whole life.  A
 * cluster or Sentinel shard starts with none; each topology reading adds a
 * node for a new master, tells a kept one its new slots, and frees the
 * node of an address that is no longer a master at once, so that nothing
 * more is sent to it (a flush in flight there puts its chunks back, to be
 * flushed on the right node).  Topology refreshes are asked for, never
 * run, from a node's callbacks: a node is only freed from the topology's
 * own. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "peek.h"
#include "policy.h"
#include "shard.h"
#include "status.h"
#include "store.h"
#include "topology.h"
#include "util.h"

#define NODE_COUNTS_SECS 1.0	/* per-node tracked counts are this fresh */

/* A forced flush over several nodes: it ends when the last one does. */
struct forced {
	struct shard *s;
	flush_done_fn *done;
	void *arg;
	size_t pending;
	struct flush_result sum;
	char *error;
};

struct shard {
	struct shard_conf *conf;	/* our own copy */
	struct event_base *base;
	struct evdns_base *dns;
	shard_change_fn *on_change;
	void *change_arg;
	enum topology_kind kind;
	struct store *store;
	struct topology *topo;		/* NULL for a standalone shard */
	struct handoff *handoff;	/* a cluster's: migrations keep their place */
	struct node **nodes;
	size_t nnodes;
	struct peek *peek;		/* oldest and dry runs, over the nodes */
	bool paused;
	char *last_error;		/* the topology's or the store's */
	double last_error_unix;
	struct shard_stats retired;	/* the counters of nodes removed */
	/* Tracked entries per node (in node order), counted now and then. */
	size_t *counts;
	double counts_mono;
};

static const char *const state_names[] = {"down", "connecting", "connected", "error"};

const char *shard_state_name(enum shard_state st)
{
	return state_names[st];
}

const char *shard_name(const struct shard *s)
{
	return s->conf->name;
}

static void changed(struct shard *s)
{
	s->on_change(s->change_arg);
}

static void set_error(struct shard *s, const char *msg)
{
	if (s->last_error == NULL || strcmp(s->last_error, msg) != 0)
		log_warn("shard %s: %s", s->conf->name, msg);
	free(s->last_error);
	s->last_error = xstrdup(msg);
	s->last_error_unix = time_now();
}

enum shard_state shard_state(const struct shard *s)
{
	size_t count[4] = {0};

	if (s->nnodes == 0)
		return s->last_error != NULL ? SHARD_DOWN : SHARD_CONNECTING;
	for (size_t i = 0; i < s->nnodes; i++)
		count[node_state(s->nodes[i])]++;
	if (count[NODE_ERROR])
		return SHARD_ERROR;
	if (count[NODE_CONNECTED] == s->nnodes)
		return SHARD_CONNECTED;
	if (count[NODE_DOWN] == s->nnodes)
		return SHARD_DOWN;
	return SHARD_CONNECTING;
}

/* ---- nodes ------------------------------------------------------------------------ */

static void on_node_changed(void *owner)
{
	changed(owner);
}

static void on_node_redirected(void *owner, const char *why)
{
	struct shard *s = owner;

	if (s->topo == NULL)
		return;
	log_info("shard %s: %s: reading the topology again", s->conf->name, why);
	topology_refresh(s->topo);
}

static const struct node_ops node_ops = {on_node_changed, on_node_redirected};

static struct node *add_node(struct shard *s, const char *address, const struct slot_set *slots)
{
	struct node_params p = {s->conf, address, s->kind == TOPOLOGY_CLUSTER ? slots : NULL, s->handoff};
	struct node *n = node_new(s->base, s->dns, store_ledger(s->store), s->store, &p, &node_ops, s);

	s->nodes = xrealloc(s->nodes, (s->nnodes + 1) * sizeof(*s->nodes));
	s->nodes[s->nnodes++] = n;
	node_set_paused(n, s->paused);
	s->counts_mono = 0;
	return n;
}

/* Frees node i, keeping its counters for the shard's totals. */
static void remove_node(struct shard *s, size_t i)
{
	struct shard_stats st;

	stats_init(&st);
	node_stats(s->nodes[i], &st);
	stats_add_counters(&s->retired, &st);
	log_notice("shard %s: %s is no longer a master: nothing more is sent to it", s->conf->name,
		   node_address(s->nodes[i]));
	node_free(s->nodes[i]);
	memmove(&s->nodes[i], &s->nodes[i + 1], (s->nnodes - i - 1) * sizeof(*s->nodes));
	s->nnodes--;
	s->counts_mono = 0;
}

static struct node *node_at(const struct shard *s, const char *address)
{
	for (size_t i = 0; i < s->nnodes; i++)
		if (strcmp(node_address(s->nodes[i]), address) == 0)
			return s->nodes[i];
	return NULL;
}

/* A topology reading: the masters now. */
static void on_topology(void *owner, const struct topology_master *m, size_t n)
{
	struct shard *s = owner;

	for (size_t i = s->nnodes; i-- > 0;) {
		size_t k;

		for (k = 0; k < n && strcmp(m[k].address, node_address(s->nodes[i])) != 0; k++)
			;
		if (k == n)
			remove_node(s, i);
	}
	for (size_t k = 0; k < n; k++) {
		struct node *nd = node_at(s, m[k].address);

		if (nd != NULL) {
			node_set_slots(nd, &m[k].slots);
			continue;
		}
		log_info("shard %s: master %s found", s->conf->name, m[k].address);
		node_start(add_node(s, m[k].address, &m[k].slots));
	}
	free(s->last_error);
	s->last_error = NULL;
	s->counts_mono = 0;
	changed(s);
}

static void on_topology_error(void *owner, const char *msg)
{
	struct shard *s = owner;

	set_error(s, msg);
	changed(s);
}

static const struct topology_ops topology_ops = {on_topology, on_topology_error};

static void on_store_error(void *owner, const char *msg)
{
	struct shard *s = owner;

	set_error(s, msg);
	changed(s);
}

/* ---- a forced flush ------------------------------------------------------------------ */

/* Which node owns key, or nnodes. */
static size_t owner_of(const struct shard *s, const char *key, size_t klen)
{
	for (size_t i = 0; i < s->nnodes; i++)
		if (node_owns(s->nodes[i], key, klen))
			return i;
	return s->nnodes;
}

/* The shares of the n oldest entries per node, into counts. */
static void oldest_shares(const struct shard *s, uint64_t n, uint64_t *counts)
{
	const struct ledger_entry *e = ledger_head(store_ledger(s->store));

	for (; e != NULL && n > 0; e = ledger_next(e)) {
		size_t i;

		if (ledger_is_mark(e))
			continue;
		if ((i = owner_of(s, e->key, e->klen)) < s->nnodes)
			counts[i]++;
		n--;
	}
}

static void on_part_done(void *arg, const struct flush_result *r)
{
	struct forced *fo = arg;

	fo->sum.requested += r->requested;
	fo->sum.flushed += r->flushed;
	fo->sum.already_gone += r->already_gone;
	fo->sum.chunks += r->chunks;
	if (r->seconds > fo->sum.seconds)
		fo->sum.seconds = r->seconds;
	if (r->error != NULL && fo->error == NULL)
		fo->error = xstrdup(r->error);
	if (--fo->pending > 0)
		return;
	fo->sum.error = fo->error;
	if (fo->done != NULL)
		fo->done(fo->arg, &fo->sum);
	free(fo->error);
	free(fo);
}

int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why)
{
	uint64_t *counts;
	struct forced *fo;

	if (s->nnodes == 0) {
		*why = "the shard is not connected";
		return -1;
	}
	if (s->nnodes == 1)
		return node_flush_now(s->nodes[0], n, done, arg, why);
	if (n == 0)
		n = policy_entries_to_flush(node_policy(s->nodes[0]));
	counts = xcalloc(s->nnodes, sizeof(*counts));
	oldest_shares(s, n, counts);
	fo = xcalloc(1, sizeof(*fo));
	*fo = (struct forced){s, done, arg, 1, {0}, NULL};
	for (size_t i = 0; i < s->nnodes; i++) {
		if (counts[i] == 0)
			continue;
		fo->pending++;
		if (node_flush_now(s->nodes[i], counts[i], on_part_done, fo, why) < 0) {
			fo->pending--;
			if (fo->error == NULL)
				fo->error = xasprintf("%s: %s", node_address(s->nodes[i]), *why);
		}
	}
	free(counts);
	on_part_done(fo, &(struct flush_result){0});	/* the start's own share */
	return 0;
}

/* ---- looking without taking ------------------------------------------------------- */

/* peek's question: which node would delete key, and its name when the
 * shard has names for its nodes (a cluster or Sentinel shard). */
static struct peek_conn *route(void *arg, const char *key, size_t klen, const char **node)
{
	struct shard *s = arg;
	size_t i = owner_of(s, key, klen);

	*node = s->kind != TOPOLOGY_STANDALONE && i < s->nnodes ? node_address(s->nodes[i]) : NULL;
	return i < s->nnodes ? node_peek(s->nodes[i]) : NULL;
}

void shard_oldest_json(const struct shard *s, size_t n, struct json *j)
{
	peek_oldest_json(s->peek, n, j);
}

int shard_dry_run(struct shard *s, uint64_t n, peek_done_fn *done, void *arg, const char **why)
{
	if (n == 0)
		n = s->nnodes ? policy_entries_to_flush(node_policy(s->nodes[0])) : s->conf->flush_num_entries_each_time;
	return peek_dry_run(s->peek, n, done, arg, why);
}

void shard_set_paused(struct shard *s, bool paused)
{
	if (s->paused != paused)
		log_info("shard %s: %s", s->conf->name, paused ? "paused" : "resumed");
	s->paused = paused;
	for (size_t i = 0; i < s->nnodes; i++)
		node_set_paused(s->nodes[i], paused);
	changed(s);
}

/* ---- lifetime ---------------------------------------------------------------------- */

static void store_params_of(const struct shard_conf *sc, struct store_params *p)
{
	p->name = sc->name;
	p->archive = sc->archive;
	p->archive_segment_bytes = sc->archive_segment_bytes;
	p->archive_max_bytes = sc->archive_max_bytes;
	p->archive_max_age = sc->archive_max_age;
}

/* The parts of this kind of shard: one node at its address, or a
 * topology that finds the nodes (and, for a cluster, the handoff). */
static void start_kind(struct shard *s)
{
	s->kind = topology_kind_of(s->conf);
	if (s->kind == TOPOLOGY_STANDALONE) {
		add_node(s, s->conf->address, NULL);
		return;
	}
	if (s->kind == TOPOLOGY_CLUSTER)
		s->handoff = handoff_new(s->base, store_ledger(s->store));
	s->topo = topology_new(s->base, s->dns, s->conf, &topology_ops, s);
}

struct shard *shard_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg)
{
	struct shard *s = xcalloc(1, sizeof(*s));
	struct store_params sp;

	s->conf = conf_shard_dup(sc);
	s->base = base;
	s->dns = dns;
	s->on_change = on_change;
	s->change_arg = arg;
	stats_init(&s->retired);
	store_params_of(s->conf, &sp);
	s->store = store_new(base, state_dir, &sp, on_store_error, s);
	s->peek = peek_new(store_ledger(s->store), route, s);
	start_kind(s);
	return s;
}

void shard_start(struct shard *s)
{
	if (s->topo != NULL)
		topology_start(s->topo);
	for (size_t i = 0; i < s->nnodes; i++)
		node_start(s->nodes[i]);
}

void shard_reconfigure(struct shard *s, const struct shard_conf *sc)
{
	struct shard_conf *old = s->conf;
	bool reconnect = !conf_shard_conn_equal(old, sc);
	bool moved = strcmp(old->address, sc->address) != 0 || old->db != sc->db || topology_kind_of(sc) != s->kind;
	struct store_params sp;

	s->conf = conf_shard_dup(sc);
	conf_shard_free(old);
	store_params_of(s->conf, &sp);
	store_set_params(s->store, &sp);
	if (moved) {
		/* Another server's keys: the old order means nothing there. */
		log_notice("shard %s: its Redis changed; starting a new ledger", sc->name);
		while (s->nnodes > 0)
			remove_node(s, s->nnodes - 1);
		topology_free(s->topo);
		s->topo = NULL;
		handoff_free(s->handoff);
		s->handoff = NULL;
		ledger_clear(store_ledger(s->store));
		start_kind(s);
		shard_start(s);
	} else {
		for (size_t i = 0; i < s->nnodes; i++)
			node_reconfigure(s->nodes[i], s->conf, reconnect);
		if (reconnect && s->topo != NULL)
			topology_reconfigure(s->topo, s->conf);
	}
	changed(s);
}

void shard_free(struct shard *s)
{
	if (s == NULL)
		return;
	/* Nodes first: each answers the dry runs that wait for it. */
	for (size_t i = 0; i < s->nnodes; i++)
		node_free(s->nodes[i]);
	free(s->nodes);
	peek_free(s->peek, "shard removed");
	topology_free(s->topo);
	handoff_free(s->handoff);
	store_free(s->store);
	conf_shard_free(s->conf);
	free(s->counts);
	free(s->last_error);
	free(s);
}

/* ---- status ------------------------------------------------------------------------ */

/* Each node's share of the ledger, counted at most once a second: a walk
 * of every entry, for status only. */
static const size_t *node_counts(struct shard *s)
{
	const struct ledger_entry *e;

	if (s->counts != NULL && time_mono() - s->counts_mono < NODE_COUNTS_SECS)
		return s->counts;
	free(s->counts);
	s->counts = xcalloc(s->nnodes + 1, sizeof(*s->counts));
	for (e = ledger_head(store_ledger(s->store)); e != NULL; e = ledger_next(e))
		if (!ledger_is_mark(e))
			s->counts[owner_of(s, e->key, e->klen)]++;
	s->counts_mono = time_mono();
	return s->counts;
}

/* Hold mode's figures from a node's: the bytes per entry as the nodes'
 * mean, growth and lazy-free bytes summed, the latest correction, capped
 * if any node is (the counters are summed with the others). */
static void add_hold(struct shard_stats *st, const struct shard_stats *ns, size_t *nbytes)
{
	st->flush_mode = ns->flush_mode;
	if (!isnan(ns->hold_bytes_per_entry)) {
		st->hold_bytes_per_entry = ((isnan(st->hold_bytes_per_entry) ? 0 : st->hold_bytes_per_entry) *
						    (double)*nbytes + ns->hold_bytes_per_entry) / (double)(*nbytes + 1);
		(*nbytes)++;
		st->hold_growth_bytes_per_s = (isnan(st->hold_growth_bytes_per_s) ? 0 : st->hold_growth_bytes_per_s) +
					      ns->hold_growth_bytes_per_s;
		st->hold_lazyfree_bytes = (isnan(st->hold_lazyfree_bytes) ? 0 : st->hold_lazyfree_bytes) +
					  ns->hold_lazyfree_bytes;
	}
	if (!isnan(ns->hold_last_correction_unix) &&
	    (isnan(st->hold_last_correction_unix) || ns->hold_last_correction_unix > st->hold_last_correction_unix)) {
		st->hold_last_correction_entries = ns->hold_last_correction_entries;
		st->hold_last_correction_bytes = ns->hold_last_correction_bytes;
		st->hold_last_correction_unix = ns->hold_last_correction_unix;
	}
	st->hold_capped |= ns->hold_capped;
}

/* The shard's figures from its nodes': counters summed (the removed
 * nodes' included), memory summed, flags if any node's is set. */
static void sum_nodes(const struct shard *s, struct shard_stats *st)
{
	double age = NAN;
	size_t nbytes = 0;

	stats_add_counters(st, &s->retired);
	for (size_t i = 0; i < s->nnodes; i++) {
		struct shard_stats ns;

		stats_init(&ns);
		node_stats(s->nodes[i], &ns);
		stats_add_counters(st, &ns);
		if (ns.used_memory != STATS_UNKNOWN) {
			st->used_memory = (st->used_memory == STATS_UNKNOWN ? 0 : st->used_memory) + ns.used_memory;
			age = isnan(age) || ns.used_memory_age_s > age ? ns.used_memory_age_s : age;
		}
		st->over_threshold |= ns.over_threshold;
		st->flushing |= ns.flushing;
		st->reconciling |= ns.reconciling;
		if (!isnan(ns.reconcile_started_unix) &&
		    (isnan(st->reconcile_started_unix) || ns.reconcile_started_unix > st->reconcile_started_unix))
			st->reconcile_started_unix = ns.reconcile_started_unix;
		/* The nodes' paces add up; their shares are of different servers. */
		if (!isnan(ns.flush_entries_per_sec))
			st->flush_entries_per_sec = (isnan(st->flush_entries_per_sec) ? 0 : st->flush_entries_per_sec) +
						    ns.flush_entries_per_sec;
		if (!isnan(ns.flush_server_share) &&
		    (isnan(st->flush_server_share) || ns.flush_server_share > st->flush_server_share))
			st->flush_server_share = ns.flush_server_share;
		if (!isnan(ns.last_flush_unix) && (isnan(st->last_flush_unix) || ns.last_flush_unix > st->last_flush_unix))
			st->last_flush_unix = ns.last_flush_unix;
		st->last_flush_entries += ns.last_flush_entries;
		if (st->reconcile_state == NULL || strcmp(ns.reconcile_state, "done") != 0)
			st->reconcile_state = ns.reconcile_state;
		if (ns.last_error != NULL && (st->last_error == NULL || ns.last_error_unix > st->last_error_unix)) {
			st->last_error = ns.last_error;
			st->last_error_unix = ns.last_error_unix;
		}
		st->flush_when_at_least_bytes = ns.flush_when_at_least_bytes;
		st->flush_period_secs = ns.flush_period_secs;
		st->flush_num_entries_each_time = ns.flush_num_entries_each_time;
		add_hold(st, &ns, &nbytes);
	}
	st->used_memory_age_s = age;
}

void shard_stats(const struct shard *s, struct shard_stats *st)
{
	struct ledger *l = store_ledger(s->store);
	uint32_t oldest = ledger_oldest_created(l);

	stats_init(st);
	st->name = s->conf->name;
	st->address = s->kind == TOPOLOGY_CLUSTER ? s->conf->cluster
		      : s->kind == TOPOLOGY_SENTINEL ? (s->nnodes ? node_address(s->nodes[0]) : s->conf->sentinels)
		      : s->conf->address;
	st->db = s->conf->db;
	st->state = shard_state_name(shard_state(s));
	st->up = shard_state(s) == SHARD_CONNECTED;
	st->paused = s->paused;
	sum_nodes(s, st);
	st->reconcile_state = st->reconcile_state ? st->reconcile_state : "pending";
	st->tracked_entries = ledger_count(l);
	if (oldest != 0)
		st->oldest_entry_age_s = time_now() - (double)oldest;
	st->ledger_bytes = ledger_memory(l);
	store_stats(s->store, st);
	if (s->last_error != NULL && (st->last_error == NULL || s->last_error_unix >= st->last_error_unix)) {
		st->last_error = s->last_error;
		st->last_error_unix = s->last_error_unix;
	}
	if (s->nnodes == 0) {
		st->flush_when_at_least_bytes = s->conf->flush_when_at_least_bytes;
		st->flush_period_secs = s->conf->flush_period_secs;
		st->flush_num_entries_each_time = s->conf->flush_num_entries_each_time;
		st->flush_mode = policy_mode_name(s->conf->flush_mode);
	}
}

static void node_json(const struct node *n, size_t tracked, struct json *j)
{
	struct shard_stats st;
	char *slots;

	stats_init(&st);
	node_stats(n, &st);
	json_obj_begin(j);
	json_key(j, "address");
	json_str(j, st.address);
	json_key(j, "role");
	json_str(j, "master");
	json_key(j, "slots");
	slots = node_slots_text(n);
	json_str(j, slots);
	free(slots);
	json_key(j, "state");
	json_str(j, st.state);
	json_key(j, "used_memory");
	if (st.used_memory == STATS_UNKNOWN)
		json_null(j);
	else
		json_uint(j, st.used_memory);
	json_key(j, "over_threshold");
	json_bool(j, st.over_threshold);
	json_key(j, "tracked_entries");
	json_uint(j, tracked);
	json_key(j, "flushed_entries_total");
	json_uint(j, st.flushed_entries_total);
	json_key(j, "last_error");
	json_str(j, st.last_error);
	json_obj_end(j);
}

size_t shard_nseries(const struct shard *s)
{
	return s->kind == TOPOLOGY_STANDALONE ? 1 : 1 + s->nnodes;
}

size_t shard_series(const struct shard *s, struct shard_stats *st, struct metrics_series *series)
{
	shard_stats(s, &st[0]);
	series[0] = (struct metrics_series){{{"shard", s->conf->name}}, 1, STATS_SHARD | STATS_NODE, &st[0]};
	if (s->kind == TOPOLOGY_STANDALONE)
		return 1;
	series[0].scopes = STATS_SHARD;
	for (size_t i = 0; i < s->nnodes; i++) {
		stats_init(&st[i + 1]);
		node_stats(s->nodes[i], &st[i + 1]);
		series[i + 1] = (struct metrics_series){
			{{"shard", s->conf->name}, {"node", node_address(s->nodes[i])}}, 2, STATS_NODE, &st[i + 1]};
	}
	return 1 + s->nnodes;
}

void shard_status_json(struct shard *s, struct json *j)
{
	struct shard_stats st;
	const struct policy *p = s->nnodes ? node_policy(s->nodes[0]) : NULL;
	struct policy conf_policy;
	const size_t *counts;

	shard_stats(s, &st);
	if (p == NULL) {
		policy_from_conf(&conf_policy, s->conf);
		p = &conf_policy;
	}
	json_obj_begin(j);
	status_fields_json(&st, j);
	json_key(j, "topology");
	json_str(j, topology_kind_name(s->kind));
	if (s->kind != TOPOLOGY_STANDALONE) {
		counts = node_counts(s);
		json_key(j, "nodes");
		json_arr_begin(j);
		for (size_t i = 0; i < s->nnodes; i++)
			node_json(s->nodes[i], counts[i], j);
		json_arr_end(j);
	}
	status_settings_json(s->conf, p, j);
	json_obj_end(j);
}
