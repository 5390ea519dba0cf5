/* shard: one Redis server: its connections, its state machine and its tick.
 *
 * Connecting runs in steps, each started by the previous one's success:
 *   command conn ready -> notify-keyspace-events checked (set if needed)
 *   -> subscriber conn ready and subscribed -> connected (tick, flush),
 *   while the reconciliation SCAN runs in the background.
 * Any failure closes both connections, abandons the flush in flight (its
 * chunk goes back to the ledger) and retries after a backoff. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "archive.h"
#include "conn.h"
#include "ledger.h"
#include "log.h"
#include "shard.h"
#include "track.h"
#include "util.h"

#define BACKOFF_FIRST_SECS 0.1
#define LEDGER_SYNC_SECS 1.0

struct shard {
	struct shard_conf *conf;
	struct event_base *base;
	shard_change_fn *on_change;
	void *change_arg;

	enum shard_state state;
	struct conn *cmd;
	struct track *track;
	struct ledger *ledger;
	struct flush *flush;
	struct archive *archive;	/* NULL with archive = no */
	uint64_t archive_segment_bytes;	/* it was opened with */
	bool archive_setup_pending;	/* a reload changed it during a flush */
	char *ledger_path;
	char *archive_dir;
	struct event *retry_timer;	/* next connection attempt */
	struct event *tick_timer;	/* policy key and INFO memory, every period */
	struct event *sync_timer;	/* writes the ledger log */
	unsigned failures;		/* consecutive, for the backoff */
	bool info_in_flight;
	bool paused;
	double tick_mono;		/* when the current tick started */

	struct policy policy;
	char *policy_invalid;		/* last invalid runtime values, logged once */
	bool have_memory;
	uint64_t used_memory;
	double used_memory_mono;	/* when it was read */
	char *last_error;
	double last_error_unix;

	char *notify_value;		/* notify-keyspace-events being set */
	flush_done_fn *caller_done;	/* a forced flush's caller */
	void *caller_arg;

#define X(name, doc) uint64_t name;
	SHARD_STATS(X)
#undef X
};

static void shard_connect(struct shard *s);
static void setup_archive(struct shard *s);
static bool archive_missing(const struct shard *s);
static void retain_archive(struct shard *s);

static const char *const state_names[] = {"down", "connecting", "connected", "error"};

const char *shard_state_name(enum shard_state st)
{
	return state_names[st];
}

const char *shard_name(const struct shard *s) { return s->conf->name; }
enum shard_state shard_state(const struct shard *s) { return s->state; }
bool shard_paused(const struct shard *s) { return s->paused; }
size_t shard_tracked(const struct shard *s) { return ledger_count(s->ledger); }

bool shard_over_threshold(const struct shard *s)
{
	return s->have_memory && policy_over_threshold(&s->policy, s->used_memory);
}

static void changed(struct shard *s)
{
	s->on_change(s->change_arg);
}

static void arm(struct event *ev, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	event_add(ev, &tv);
}

/* ---- failure and backoff ------------------------------------------------------ */

/* Capped exponential backoff with jitter in [d/2, d), so that many daemons
 * (or many shards behind one address) do not retry in lockstep. */
static double backoff_secs(const struct shard *s)
{
	double d = BACKOFF_FIRST_SECS * pow(2.0, (double)(s->failures > 30 ? 30 : s->failures) - 1.0);

	if (d > s->conf->reconnect_max_secs)
		d = s->conf->reconnect_max_secs;
	return d * (0.5 + 0.5 * ((double)random() / (double)RAND_MAX));
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

/* Closes everything of the current connection; safe inside callbacks. */
static void disconnect(struct shard *s, const char *why)
{
	conn_close(s->cmd);
	track_stop(s->track);
	flush_abort(s->flush, why);
	event_del(s->tick_timer);
	event_del(s->retry_timer);
	s->info_in_flight = false;
}

static void shard_fail(struct shard *s, enum shard_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void shard_fail(struct shard *s, enum shard_state st, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	double delay;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	set_error(s, msg);
	disconnect(s, msg);
	free(msg);
	s->state = st;
	s->failures++;
	s->connect_failures_total++;
	delay = backoff_secs(s);
	log_debug("shard %s: retrying in %.2fs", s->conf->name, delay);
	arm(s->retry_timer, delay);
	changed(s);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shard_connect(arg);
}

/* ---- flushing ------------------------------------------------------------------ */

static void on_flush_done(void *arg, const struct flush_result *r)
{
	struct shard *s = arg;
	flush_done_fn *done = s->caller_done;

	s->caller_done = NULL;
	if (r->error != NULL && strcmp(r->error, "paused") != 0)
		set_error(s, r->error);
	if (s->archive_setup_pending)
		setup_archive(s);
	if (done != NULL)
		done(s->caller_arg, r);
	changed(s);
}

/* Ticks come every period; the reading that decides comes a round trip
 * later.  Judging the period from the tick's start, with a little slack
 * for timer jitter, keeps one flush per period instead of one every two. */
#define TICK_SLACK 0.02	/* of a period */

static void maybe_flush(struct shard *s)
{
	double now = s->tick_mono + TICK_SLACK * s->policy.flush_period_secs;
	const char *why;

	if (s->state != SHARD_CONNECTED || s->paused || flush_running(s->flush) || archive_missing(s) ||
	    !policy_should_flush(&s->policy, s->used_memory, now))
		return;
	if (ledger_head(s->ledger) == NULL || ledger_is_mark(ledger_head(s->ledger))) {
		/* Nothing tracked, or the first reconciliation has not yet found
		 * the keys older than those seen since: flushing now would take
		 * the newest. */
		log_debug("shard %s: over the threshold but nothing to flush yet", s->conf->name);
		return;
	}
	policy_record_flush(&s->policy, s->tick_mono);
	if (flush_start(s->flush, policy_entries_to_flush(&s->policy), s->conf->flush_max_entries_per_sec,
			on_flush_done, s, &why) < 0)
		log_debug("shard %s: %s", s->conf->name, why);
}

int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why)
{
	if (n == 0)
		n = policy_entries_to_flush(&s->policy);
	if (s->state != SHARD_CONNECTED) {
		*why = "the shard is not connected";
		return -1;
	}
	if (flush_running(s->flush)) {
		*why = "a flush is already running on this shard";
		return -1;
	}
	if (archive_missing(s)) {
		*why = "the archive cannot be opened (see last_error); nothing is deleted unarchived";
		return -1;
	}
	s->caller_done = done;
	s->caller_arg = arg;
	policy_record_flush(&s->policy, time_mono());
	if (flush_start(s->flush, n, s->conf->flush_max_entries_per_sec, on_flush_done, s, why) < 0) {
		s->caller_done = NULL;
		return -1;
	}
	return 0;
}

void shard_forget_caller(struct shard *s, void *arg)
{
	if (s->caller_arg == arg)
		s->caller_done = NULL;
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

uint64_t shard_flushed_total(const struct shard *s)
{
	return flush_flushed_total(s->flush);
}

/* ---- the tick ------------------------------------------------------------------- */

static bool parse_used_memory(const char *info, uint64_t *out)
{
	const char *p = info;

	while ((p = strstr(p, "used_memory:")) != NULL) {
		if (p == info || p[-1] == '\n') {
			char *end;
			unsigned long long v;

			/* strtoull would take a sign, and "-5" as a huge number. */
			if (p[strlen("used_memory:")] < '0' || p[strlen("used_memory:")] > '9')
				return false;
			errno = 0;
			v = strtoull(p + strlen("used_memory:"), &end, 10);
			if (errno != 0 || (*end != '\r' && *end != '\n' && *end != '\0'))
				return false;
			*out = v;
			return true;
		}
		p++;
	}
	return false;
}

static void on_info(void *owner, redisReply *r, void *arg)
{
	struct shard *s = owner;
	uint64_t used;

	(void)arg;
	s->info_in_flight = false;
	if (r->type == REDIS_REPLY_ERROR) {
		char *msg = xasprintf("INFO memory: %s", r->str);

		set_error(s, msg);	/* e.g. LOADING: stay connected, try next tick */
		free(msg);
		changed(s);
		return;
	}
	if ((r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) || !parse_used_memory(r->str, &used)) {
		set_error(s, "INFO memory: reply without used_memory");
		changed(s);
		return;
	}
	s->have_memory = true;
	s->used_memory = used;
	s->used_memory_mono = time_mono();
	s->ticks_total++;
	log_debug("shard %s: used_memory %llu (threshold %llu)", s->conf->name, (unsigned long long)used,
		  (unsigned long long)s->policy.flush_when_at_least_bytes);
	maybe_flush(s);
	changed(s);
}

static void rearm_tick(struct shard *s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s->policy.flush_period_secs;
	tv.tv_usec = (suseconds_t)((s->policy.flush_period_secs - (double)tv.tv_sec) * 1e6);
	event_add(s->tick_timer, &tv);
}

/* A field or value of the policy hash as C text: "" for what is not a
 * string, and a text that fails to parse for a value with a NUL byte
 * (which would otherwise be read up to the NUL: "5\0junk" as 5). */
static const char *policy_text(const redisReply *e)
{
	if (e->type != REDIS_REPLY_STRING)
		return "";
	if (strlen(e->str) != e->len)
		return "(a value with a NUL byte)";
	return e->str;
}

static void on_policy_key(void *owner, redisReply *r, void *arg)
{
	struct shard *s = owner;
	const char **fields, **values;
	size_t n = 0;
	double period = s->policy.flush_period_secs;
	struct buf invalid;

	(void)arg;
	if (r->type != REDIS_REPLY_ARRAY) {
		/* WRONGTYPE and the like: say so once, keep the config values. */
		const char *msg = r->type == REDIS_REPLY_ERROR ? r->str : "not a hash";

		if (s->policy_invalid == NULL || strcmp(s->policy_invalid, msg) != 0)
			log_warn("shard %s: policy key %s: %s; using the config", s->conf->name, s->conf->policy_key, msg);
		free(s->policy_invalid);
		s->policy_invalid = xstrdup(msg);
		policy_apply_runtime(&s->policy, s->conf, NULL, NULL, 0, NULL);
		if (s->policy.flush_period_secs != period)
			rearm_tick(s);
		return;
	}
	fields = xcalloc(r->elements / 2 + 1, sizeof(*fields));
	values = xcalloc(r->elements / 2 + 1, sizeof(*values));
	for (size_t i = 0; i + 1 < r->elements; i += 2, n++) {
		fields[n] = policy_text(r->element[i]);
		values[n] = policy_text(r->element[i + 1]);
	}
	buf_init(&invalid);
	policy_apply_runtime(&s->policy, s->conf, fields, values, n, &invalid);
	/* Said once per change, one line per value, so each keeps its level. */
	if (invalid.len > 0 && (s->policy_invalid == NULL || strcmp(s->policy_invalid, invalid.data) != 0)) {
		for (char *p = invalid.data, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			log_warn("shard %s: policy key %s: ignoring %.*s", s->conf->name, s->conf->policy_key,
				 (int)(nl - p), p);
	}
	free(s->policy_invalid);
	s->policy_invalid = invalid.len > 0 ? xstrdup(invalid.data) : NULL;
	buf_free(&invalid);
	free(fields);
	free(values);
	if (s->policy.flush_period_secs != period)
		rearm_tick(s);
}

static void tick(struct shard *s)
{
	if (archive_missing(s))
		setup_archive(s);
	retain_archive(s);
	if (s->state != SHARD_CONNECTED || s->info_in_flight)
		return;	/* a slow reply is the command timeout's business */
	s->tick_mono = time_mono();
	if (*s->conf->policy_key != '\0' &&
	    conn_send(s->cmd, on_policy_key, NULL, "HGETALL %s", s->conf->policy_key) < 0)
		return;
	if (conn_send(s->cmd, on_info, NULL, "INFO memory") == 0)
		s->info_in_flight = true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tick(arg);
}

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
	struct shard *s = arg;
	char *err = NULL;

	(void)fd;
	(void)what;
	if (ledger_sync(s->ledger, &err) < 0) {
		set_error(s, err);
		free(err);
	}
}

/* ---- connecting ------------------------------------------------------------------ */

static void on_subscribed(void *owner)
{
	struct shard *s = owner;

	s->state = SHARD_CONNECTED;
	s->failures = 0;
	s->connects_total++;
	log_info("shard %s: connected to %s (db %llu), tracking %zu entries", s->conf->name, s->conf->address,
		 (unsigned long long)s->conf->db, ledger_count(s->ledger));
	rearm_tick(s);
	tick(s);
	changed(s);
}

static void on_track_failed(void *owner, bool refused, const char *msg)
{
	shard_fail(owner, refused ? SHARD_ERROR : SHARD_DOWN, "%s", msg);
}

static void on_reconciled(void *owner)
{
	changed(owner);
}

static const struct track_ops track_ops = {on_subscribed, on_track_failed, on_reconciled};

/* value: what notify-keyspace-events must be, the operator's flags kept. */
static void refuse_config(struct shard *s, const char *value, const char *err)
{
	shard_fail(s, SHARD_ERROR, "cannot enable keyspace notifications (%s); add to redis.conf: notify-keyspace-events %s",
		   err, value);
}

static void on_config_set(void *owner, redisReply *r, void *arg)
{
	struct shard *s = owner;

	(void)arg;
	if (r->type == REDIS_REPLY_ERROR) {
		refuse_config(s, s->notify_value, r->str);
	} else {
		log_notice("shard %s: set notify-keyspace-events to '%s'", s->conf->name, s->notify_value);
		track_start(s->track, s->conf);
	}
}

/* Adds the notification flags the ledger needs; never removes the
 * operator's. */
static void on_config_get(void *owner, redisReply *r, void *arg)
{
	struct shard *s = owner;
	const char *current;
	char *missing;

	(void)arg;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
		refuse_config(s, TRACK_NOTIFY_FLAGS, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected CONFIG GET reply");
		return;
	}
	current = r->element[1]->str;
	missing = track_missing_flags(current);
	if (*missing == '\0') {
		free(missing);
		track_start(s->track, s->conf);
		return;
	}
	free(s->notify_value);
	s->notify_value = xasprintf("%s%s", current, missing);
	free(missing);
	conn_send(s->cmd, on_config_set, NULL, "CONFIG SET notify-keyspace-events %s", s->notify_value);
}

static void on_cmd_ready(void *owner, struct conn *c)
{
	struct shard *s = owner;

	(void)c;
	conn_send(s->cmd, on_config_get, NULL, "CONFIG GET notify-keyspace-events");
}

static void on_cmd_failed(void *owner, struct conn *c, bool refused, const char *msg)
{
	(void)c;
	shard_fail(owner, refused ? SHARD_ERROR : SHARD_DOWN, "%s", msg);
}

static const struct conn_ops cmd_ops = {on_cmd_ready, on_cmd_failed};

static void shard_connect(struct shard *s)
{
	s->state = SHARD_CONNECTING;
	changed(s);
	conn_open(s->cmd, s->conf);
}

/* ---- lifetime --------------------------------------------------------------------- */

/* Opens or closes the archive to match the config.  A shard whose archive
 * cannot be opened does not flush: nothing may be deleted unarchived. */
static void setup_archive(struct shard *s)
{
	int64_t cut = 0;
	char *err = NULL;

	/* A chunk in flight was dumped for this archive: switch after the cycle. */
	if (flush_running(s->flush)) {
		s->archive_setup_pending = true;
		return;
	}
	s->archive_setup_pending = false;
	if (s->archive != NULL && s->conf->archive && s->archive_segment_bytes != s->conf->archive_segment_bytes) {
		archive_close(s->archive);	/* reopened below with the new segment size */
		s->archive = NULL;
	}
	if (!s->conf->archive) {
		if (s->archive != NULL)
			log_notice("shard %s: archive off: flushed entries are no longer archived", s->conf->name);
		archive_close(s->archive);
		s->archive = NULL;
		flush_set_archive(s->flush, NULL, 0);
		return;
	}
	if (s->archive == NULL) {
		char *parent = xstrndup(s->archive_dir, (size_t)(strrchr(s->archive_dir, '/') - s->archive_dir));

		if (mkdir(parent, 0750) < 0 && errno != EEXIST)
			log_debug("shard %s: mkdir %s: %s", s->conf->name, parent, strerror(errno));
		free(parent);
		s->archive = archive_open(s->archive_dir, s->conf->archive_segment_bytes, &cut, &err);
		s->archive_segment_bytes = s->conf->archive_segment_bytes;
		if (s->archive == NULL) {
			/* Said once (set_error logs changes only); retried every tick. */
			char *msg = xasprintf("archive: %s; not flushing", err);

			set_error(s, msg);
			free(msg);
			free(err);
		} else {
			if (cut > 0)
				log_notice("shard %s: archive %s: cut a torn tail of %lld bytes", s->conf->name,
					   s->archive_dir, (long long)cut);
			if (archive_warning(s->archive) != NULL)
				log_warn("shard %s: archive %s: %s", s->conf->name, s->archive_dir,
					 archive_warning(s->archive));
		}
	}
	flush_set_archive(s->flush, s->archive, (uint32_t)s->conf->db);
}

static bool archive_missing(const struct shard *s)
{
	return s->conf->archive && s->archive == NULL;
}

static void retain_archive(struct shard *s)
{
	int n;

	if (s->archive == NULL)
		return;
	n = archive_retain(s->archive, s->conf->archive_max_bytes, (int64_t)(s->conf->archive_max_age * 1000),
			   (int64_t)(time_now() * 1000));
	if (n > 0)
		log_info("shard %s: archive retention removed %d segment%s", s->conf->name, n, n == 1 ? "" : "s");
}

static void open_ledger(struct shard *s)
{
	char *err = NULL;
	int cut = ledger_open(s->ledger, s->ledger_path, &err);

	if (cut < 0) {
		log_error("shard %s: ledger %s; tracking in memory only", s->conf->name, err);
		set_error(s, err);
		free(err);
		return;
	}
	if (cut > 0)
		log_notice("shard %s: ledger %s: cut a torn tail of %d bytes", s->conf->name, s->ledger_path, cut);
	if (ledger_count(s->ledger) > 0)
		log_info("shard %s: ledger %s: %zu entries in creation order", s->conf->name, s->ledger_path,
			 ledger_count(s->ledger));
}

struct shard *shard_new(struct event_base *base, struct evdns_base *dns, struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg)
{
	struct shard *s = xcalloc(1, sizeof(*s));
	struct timeval sync = {(time_t)LEDGER_SYNC_SECS, 0};

	s->conf = sc;
	s->base = base;
	s->on_change = on_change;
	s->change_arg = arg;
	s->state = SHARD_CONNECTING;	/* shard_start follows at once */
	policy_from_conf(&s->policy, sc);
	s->ledger = ledger_new();
	s->ledger_path = xasprintf("%s/%s.ledger", state_dir, sc->name);
	s->archive_dir = xasprintf("%s/archive/%s", state_dir, sc->name);
	s->cmd = conn_new(base, dns, &cmd_ops, s);
	s->track = track_new(base, dns, s->cmd, s->ledger, &track_ops, s);
	s->flush = flush_new(base, s->cmd, s->ledger, sc->name);
	s->retry_timer = evtimer_new(base, on_retry, s);
	s->tick_timer = event_new(base, -1, EV_PERSIST, on_tick, s);
	s->sync_timer = event_new(base, -1, EV_PERSIST, on_sync, s);
	if (!s->retry_timer || !s->tick_timer || !s->sync_timer) {
		log_error("out of memory creating events");
		abort();
	}
	event_add(s->sync_timer, &sync);
	open_ledger(s);
	setup_archive(s);
	return s;
}

void shard_start(struct shard *s)
{
	shard_connect(s);
}

void shard_reconfigure(struct shard *s, struct shard_conf *sc)
{
	bool reconnect = !conf_shard_conn_equal(s->conf, sc);
	bool moved = strcmp(s->conf->address, sc->address) != 0 || s->conf->db != sc->db;
	bool new_period = s->conf->flush_period_secs != sc->flush_period_secs;
	double last_flush = s->policy.last_flush;

	s->conf = sc;
	policy_from_conf(&s->policy, sc);
	s->policy.last_flush = last_flush;
	conn_set_conf(s->cmd, sc);
	track_set_conf(s->track, sc);
	flush_set_name(s->flush, sc->name);
	setup_archive(s);
	if (reconnect) {
		log_info("shard %s: connection settings changed; reconnecting", sc->name);
		disconnect(s, "reconnecting after a reload");
		if (moved) {
			/* Another server's keys: the old order means nothing there. */
			log_notice("shard %s: address or db changed; starting a new ledger", sc->name);
			ledger_clear(s->ledger);
		}
		s->failures = 0;
		shard_connect(s);
	} else if (new_period && s->state == SHARD_CONNECTED) {
		rearm_tick(s);
	}
	changed(s);
}

void shard_free(struct shard *s)
{
	char *err = NULL;

	if (s == NULL)
		return;
	disconnect(s, "shard removed");
	flush_free(s->flush);
	track_free(s->track);
	conn_free(s->cmd);
	if (ledger_sync(s->ledger, &err) < 0) {
		log_warn("shard %s: %s", s->conf->name, err);
		free(err);
	}
	ledger_free(s->ledger);
	archive_close(s->archive);
	event_free(s->retry_timer);
	event_free(s->tick_timer);
	event_free(s->sync_timer);
	free(s->ledger_path);
	free(s->archive_dir);
	free(s->policy_invalid);
	free(s->notify_value);
	free(s->last_error);
	free(s);
}

/* ---- status ----------------------------------------------------------------------- */

/* The effective value of one of the three policy keys and its source. */
static bool policy_setting(const struct shard *s, const char *name, struct json *j)
{
	const struct policy *p = &s->policy;

	if (strcmp(name, "flush_when_at_least_bytes") == 0) {
		json_uint(j, p->flush_when_at_least_bytes);
		json_key(j, "source");
		json_str(j, conf_source_name(p->src_threshold));
	} else if (strcmp(name, "flush_period_secs") == 0) {
		json_double(j, p->flush_period_secs);
		json_key(j, "source");
		json_str(j, conf_source_name(p->src_period));
	} else if (strcmp(name, "flush_num_entries_each_time") == 0) {
		json_uint(j, p->flush_num_entries_each_time);
		json_key(j, "source");
		json_str(j, conf_source_name(p->src_entries));
	} else {
		return false;
	}
	return true;
}

static void settings_json(const struct shard *s, struct json *j)
{
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	struct buf v;

	buf_init(&v);
	json_key(j, "settings");
	json_obj_begin(j);
	for (size_t i = 0; i < n; i++) {
		const struct conf_key *k = &keys[i];

		if (k->scope == CS_DAEMON || (k->flags & CK_SECRET))
			continue;
		json_key(j, k->name);
		json_obj_begin(j);
		json_key(j, "value");
		if (!policy_setting(s, k->name, j)) {
			buf_reset(&v);
			conf_format_value(k, s->conf, &v);
			if (k->type == CT_STR)
				json_str(j, v.data);
			else if (k->type == CT_BOOL)
				json_bool(j, strcmp(v.data, "yes") == 0);
			else
				json_raw(j, v.data);
			json_key(j, "source");
			json_str(j, conf_source_name((enum conf_source)s->conf->source[i]));
		}
		json_obj_end(j);
	}
	json_obj_end(j);
	buf_free(&v);
}

static void archive_status_json(const struct shard *s, struct json *j)
{
	struct archive_stats st = {0, 0, -1, 0};

	if (s->archive != NULL)
		archive_stats(s->archive, &st);
	json_key(j, "archive_bytes");
	json_uint(j, st.bytes);
	json_key(j, "archive_segments");
	json_uint(j, st.segments);
	json_key(j, "archive_oldest_unix");
	if (st.oldest_flushed_ms >= 0)
		json_double(j, (double)st.oldest_flushed_ms / 1000);
	else
		json_null(j);
	json_key(j, "archive_blocked");
	json_bool(j, archive_missing(s) || flush_archive_blocked(s->flush));
}

static void age_json(struct json *j, bool known, double age)
{
	if (known)
		json_double(j, round(age * 1000) / 1000);
	else
		json_null(j);
}

void shard_status_json(const struct shard *s, struct json *j)
{
	uint32_t oldest = ledger_oldest_created(s->ledger);

	json_obj_begin(j);
	json_key(j, "name");
	json_str(j, s->conf->name);
	json_key(j, "address");
	json_str(j, s->conf->address);
	json_key(j, "db");
	json_uint(j, s->conf->db);
	json_key(j, "state");
	json_str(j, shard_state_name(s->state));
	json_key(j, "paused");
	json_bool(j, s->paused);
	json_key(j, "used_memory");
	if (s->have_memory)
		json_uint(j, s->used_memory);
	else
		json_null(j);
	json_key(j, "used_memory_age_s");
	age_json(j, s->have_memory, time_mono() - s->used_memory_mono);
	json_key(j, "flush_when_at_least_bytes");
	json_uint(j, s->policy.flush_when_at_least_bytes);
	json_key(j, "flush_period_secs");
	json_double(j, s->policy.flush_period_secs);
	json_key(j, "flush_num_entries_each_time");
	json_uint(j, s->policy.flush_num_entries_each_time);
	json_key(j, "over_threshold");
	json_bool(j, shard_over_threshold(s));
	json_key(j, "tracked_entries");
	json_uint(j, ledger_count(s->ledger));
	json_key(j, "oldest_entry_age_s");
	age_json(j, oldest != 0, time_now() - (double)oldest);
	json_key(j, "ledger_bytes");
	json_uint(j, ledger_memory(s->ledger));
	flush_status_json(s->flush, j);
	archive_status_json(s, j);
	track_status_json(s->track, j);
	json_key(j, "last_error");
	json_str(j, s->last_error);
	json_key(j, "last_error_unix");
	age_json(j, s->last_error != NULL, s->last_error_unix);
#define X(name, doc) json_key(j, #name); json_uint(j, s->name);
	SHARD_STATS(X)
#undef X
	settings_json(s, j);
	json_obj_end(j);
}
