/* shard: the state machine, the backoff and the wiring.
 *
 * Connecting runs in steps, each started by the previous one's success:
 *   command conn ready -> handshake (notify-keyspace-events) -> tracking
 *   subscribed -> connected (tick, flush),
 * while the reconciliation SCAN runs in the background.  Any loss of the
 * command connection reaches every part through conn_on_lost (a flush in
 * flight puts its chunk back, tracking stops, the tick stops), and the
 * shard retries after a backoff; tracking fails the command connection
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
#include "shard.h"
#include "status.h"
#include "store.h"
#include "tick.h"
#include "timer.h"
#include "track.h"
#include "util.h"

#define BACKOFF_FIRST_SECS 0.1

struct shard {
	struct shard_conf *conf;	/* our own copy */
	shard_change_fn *on_change;
	void *change_arg;

	enum shard_state state;
	struct conn *cmd;
	struct handshake *handshake;
	struct track *track;
	struct tick *tick;
	struct flush *flush;
	struct store *store;
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

const char *shard_state_name(enum shard_state st)
{
	return state_names[st];
}

enum shard_state shard_state(const struct shard *s)
{
	return s->state;
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
	/* Log a new error loudly; a retry failing the same way stays quiet. */
	if (s->last_error == NULL || strcmp(s->last_error, msg) != 0)
		log_warn("shard %s: %s", s->conf->name, msg);
	else
		log_debug("shard %s: %s", s->conf->name, msg);
	free(s->last_error);
	s->last_error = xstrdup(msg);
	s->last_error_unix = time_now();
}

/* ---- connecting, failing and the backoff ----------------------------------- */

/* Capped exponential backoff with jitter in [d/2, d), so that many daemons
 * (or many shards behind one address) do not retry in lockstep. */
static double backoff_secs(const struct shard *s)
{
	double d = BACKOFF_FIRST_SECS * pow(2.0, (double)(s->failures > 30 ? 30 : s->failures) - 1.0);

	if (d > s->conf->reconnect_max_secs)
		d = s->conf->reconnect_max_secs;
	return d * (0.5 + 0.5 * ((double)random() / (double)RAND_MAX));
}

static void shard_connect(struct shard *s)
{
	event_del(s->retry_timer);
	s->state = SHARD_CONNECTING;
	changed(s);
	conn_open(s->cmd);	/* the handshake follows its ready */
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shard_connect(arg);
}

/* The command connection is lost: every other part has heard it too.  A
 * close of our own (a reload, the end) is no failure. */
static void on_cmd_lost(void *arg, const struct conn_loss *loss)
{
	struct shard *s = arg;
	double delay;

	if (loss->closed)
		return;
	set_error(s, loss->msg);
	s->state = loss->refused ? SHARD_ERROR : SHARD_DOWN;
	s->failures++;
	s->connect_failures_total++;
	delay = backoff_secs(s);
	log_debug("shard %s: retrying in %.2fs", s->conf->name, delay);
	timer_arm(s->retry_timer, delay);
	changed(s);
}

static void on_handshake_done(void *owner)
{
	struct shard *s = owner;

	track_start(s->track);
}

static void on_subscribed(void *owner)
{
	struct shard *s = owner;

	s->state = SHARD_CONNECTED;
	s->failures = 0;
	s->connects_total++;
	log_info("shard %s: connected to %s (db %llu), tracking %zu entries", s->conf->name, s->conf->address,
		 (unsigned long long)s->conf->db, ledger_count(store_ledger(s->store)));
	tick_start(s->tick);
	changed(s);
}

static void on_track_failed(void *owner, bool refused, const char *msg)
{
	struct shard *s = owner;

	conn_fail(s->cmd, refused, "%s", msg);
}

static void on_reconciled(void *owner)
{
	changed(owner);
}

static const struct track_ops track_ops = {on_subscribed, on_track_failed, on_reconciled};

/* ---- flushing ------------------------------------------------------------------ */

static void on_flush_done(void *arg, const struct flush_result *r)
{
	struct shard *s = arg;
	flush_done_fn *done = s->caller_done;

	s->caller_done = NULL;
	if (r->error != NULL && strcmp(r->error, "paused") != 0)
		set_error(s, r->error);
	if (done != NULL)
		done(s->caller_arg, r);
	changed(s);
}

/* What keeps any flush from starting, or NULL. */
static const char *cannot_flush(const struct shard *s)
{
	if (s->state != SHARD_CONNECTED)
		return "the shard is not connected";
	if (flush_running(s->flush))
		return "a flush is already running on this shard";
	if (!store_usable(s->store))
		return "the archive cannot be opened (see last_error); nothing is deleted unarchived";
	return NULL;
}

/* The tick's policy says flush n now. */
static int on_policy_flush(void *owner, uint64_t n)
{
	struct shard *s = owner;
	const char *why = cannot_flush(s);

	if (why != NULL || s->paused)
		return -1;
	if (!ledger_flushable(store_ledger(s->store))) {
		/* Nothing tracked, or the first reconciliation has not yet found
		 * the keys older than those seen since: flushing now would take
		 * the newest. */
		log_debug("shard %s: over the threshold but nothing to flush yet", s->conf->name);
		return -1;
	}
	flush_set_quiet(s->flush, tick_policy(s->tick)->flush_mode == FLUSH_MODE_HOLD);
	return flush_start(s->flush, n, on_flush_done, s, &why);
}

/* Hold mode's view of the flush and the ledger. */
static void on_tick_view(void *owner, struct tick_flush_view *v)
{
	struct shard *s = owner;

	flush_progress(s->flush, &v->deletes_sent, &v->pending);
	v->tracked = ledger_count(store_ledger(s->store));
	v->running = flush_running(s->flush);
	v->forced = v->running && s->caller_done != NULL;
}

static int on_tick_retarget(void *owner, uint64_t n)
{
	struct shard *s = owner;

	if (s->paused)
		return -1;
	return flush_retarget(s->flush, n);
}

static size_t on_tick_sample(void *owner, uint64_t step, const char **keys, size_t *lens, size_t max)
{
	struct shard *s = owner;
	const struct ledger_entry *e[HOLD_SAMPLES];
	size_t n = ledger_sample(store_ledger(s->store), step, e, max < HOLD_SAMPLES ? max : HOLD_SAMPLES);

	for (size_t i = 0; i < n; i++) {
		keys[i] = e[i]->key;
		lens[i] = e[i]->klen;
	}
	return n;
}

int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why)
{
	if (n == 0)
		n = policy_entries_to_flush(tick_policy(s->tick));
	if ((*why = cannot_flush(s)) != NULL)
		return -1;
	s->caller_done = done;
	s->caller_arg = arg;
	tick_record_flush(s->tick);
	flush_set_quiet(s->flush, false);
	if (flush_start(s->flush, n, on_flush_done, s, why) < 0) {
		s->caller_done = NULL;
		return -1;
	}
	return 0;
}

void shard_set_paused(struct shard *s, bool paused)
{
	if (s->paused != paused)
		log_info("shard %s: %s", s->conf->name, paused ? "paused" : "resumed");
	s->paused = paused;
	if (paused)
		flush_stop(s->flush, "paused");
	changed(s);
}

/* ---- the tick's and the store's reports ---------------------------------------------- */

static void on_ticked(void *owner)
{
	struct shard *s = owner;

	store_tick(s->store);
}

static void on_part_error(void *owner, const char *msg)
{
	struct shard *s = owner;

	set_error(s, msg);
	changed(s);
}

static void on_tick_changed(void *owner)
{
	changed(owner);
}

static const struct tick_ops tick_ops = {
	on_policy_flush, on_ticked, on_part_error, on_tick_changed, on_tick_view, on_tick_retarget, on_tick_sample,
};

/* ---- parameters by value ------------------------------------------------------------- */

static void store_params_of(const struct shard_conf *sc, struct store_params *p)
{
	p->name = sc->name;
	p->archive = sc->archive;
	p->archive_segment_bytes = sc->archive_segment_bytes;
	p->archive_max_bytes = sc->archive_max_bytes;
	p->archive_max_age = sc->archive_max_age;
}

/* Gives every part its settings from our copy of the config. */
static void apply_conf(struct shard *s)
{
	const struct shard_conf *sc = s->conf;
	struct conn_params cp;
	struct track_params tp = {sc->name, sc->db, sc->match, sc->policy_key, {{0}, 0, 0, 0, 0, 0}};
	struct tick_params kp = {sc->name, sc->policy_key, {0}};
	struct flush_params fp = {sc->name, (uint32_t)sc->db, sc->flush_max_entries_per_sec};
	struct store_params sp;

	conn_params_from_conf(&cp, sc);
	conn_set_params(s->cmd, &cp);
	tp.conn = cp;
	track_set_params(s->track, &tp);
	policy_from_conf(&kp.base, sc);
	tick_set_params(s->tick, &kp);
	flush_set_params(s->flush, &fp);
	store_params_of(sc, &sp);
	store_set_params(s->store, &sp);
	handshake_set_name(s->handshake, sc->name);
}

/* ---- lifetime ---------------------------------------------------------------------- */

struct shard *shard_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg)
{
	struct shard *s = xcalloc(1, sizeof(*s));
	struct store_params sp;
	struct ledger *ledger;

	s->conf = conf_shard_dup(sc);
	s->on_change = on_change;
	s->change_arg = arg;
	s->state = SHARD_CONNECTING;	/* shard_start follows at once */
	s->retry_timer = evtimer_new(base, on_retry, s);
	if (s->retry_timer == NULL)
		abort();
	store_params_of(s->conf, &sp);
	s->store = store_new(base, state_dir, &sp, on_part_error, s);
	ledger = store_ledger(s->store);
	/* The command connection's users hear of a loss in this order: the
	 * flush puts its chunks back, tracking stops, the tick stops, and
	 * last the state machine schedules the retry. */
	s->handshake = handshake_new(sc->name, on_handshake_done, s);
	s->cmd = conn_new(base, dns, handshake_ready, s->handshake);
	s->flush = flush_new(base, s->cmd, ledger, s->store);
	s->track = track_new(base, dns, s->cmd, ledger, &track_ops, s);
	s->tick = tick_new(base, s->cmd, &tick_ops, s);
	conn_on_lost(s->cmd, on_cmd_lost, s);
	apply_conf(s);
	return s;
}

void shard_start(struct shard *s)
{
	shard_connect(s);
}

void shard_reconfigure(struct shard *s, const struct shard_conf *sc)
{
	struct shard_conf *old = s->conf;
	bool reconnect = !conf_shard_conn_equal(old, sc);
	bool moved = strcmp(old->address, sc->address) != 0 || old->db != sc->db;

	s->conf = conf_shard_dup(sc);
	conf_shard_free(old);
	apply_conf(s);
	if (reconnect) {
		log_info("shard %s: connection settings changed; reconnecting", sc->name);
		conn_close(s->cmd, "reconnecting after a reload");
		if (moved) {
			/* Another server's keys: the old order means nothing there. */
			log_notice("shard %s: address or db changed; starting a new ledger", sc->name);
			track_reset(s->track);
		}
		s->failures = 0;
		shard_connect(s);
	}
	changed(s);
}

void shard_free(struct shard *s)
{
	if (s == NULL)
		return;
	conn_close(s->cmd, "shard removed");
	flush_free(s->flush);
	tick_free(s->tick);
	track_free(s->track);
	conn_free(s->cmd);
	handshake_free(s->handshake);
	store_free(s->store);
	event_free(s->retry_timer);
	conf_shard_free(s->conf);
	free(s->last_error);
	free(s);
}

/* ---- status ------------------------------------------------------------------------ */

void shard_stats(const struct shard *s, struct shard_stats *st)
{
	stats_init(st);
	st->name = s->conf->name;
	st->address = s->conf->address;
	st->db = s->conf->db;
	st->state = shard_state_name(s->state);
	st->paused = s->paused;
	tick_stats(s->tick, st);
	track_stats(s->track, st);
	flush_stats(s->flush, st);
	store_stats(s->store, st);
	st->last_error = s->last_error;
	if (s->last_error != NULL)
		st->last_error_unix = s->last_error_unix;
	st->connects_total = s->connects_total;
	st->connect_failures_total = s->connect_failures_total;
}

void shard_status_json(const struct shard *s, struct json *j)
{
	struct shard_stats st;

	shard_stats(s, &st);
	status_shard_json(&st, s->conf, tick_policy(s->tick), j);
}
