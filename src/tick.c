/* tick: the runtime policy hash and INFO memory every period, and Ray's
 * policy decision on each reading; in hold mode, INFO memory and a
 * MEMORY USAGE sample every hold interval, and hold's decision. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "parse.h"
#include "tick.h"
#include "timer.h"
#include "util.h"

/* Ticks come every period; the reading that decides comes a round trip
 * later.  Judging the period from the tick's start, with a little slack
 * for timer jitter, keeps one flush per period instead of one every two. */
#define TICK_SLACK 0.02	/* of a period */
/* In hold mode, a notice that the caps hold it back at most this often. */
#define TICK_CAPPED_LOG_SECS 60

struct tick {
	struct conn *cmd;
	const struct tick_ops *ops;
	void *owner;
	struct event *timer;
	char *name;
	char *policy_key;
	struct policy base;		/* the config's */
	struct policy policy;		/* effective: base under the runtime hash */
	char *policy_invalid;		/* the last invalid runtime values, logged once */
	bool running;
	bool info_in_flight;
	double started;			/* monotonic, of the current tick */
	bool have_memory;
	uint64_t used_memory;
	double used_memory_mono;	/* when it was read */
	uint64_t ticks_total;

	bool configured;		/* tick_set_params was called */

	/* Hold mode. */
	struct policy_hold hold;
	double full_at;			/* monotonic: the last tick that read the hash */
	bool sampling;			/* MEMORY USAGE answers on this connection */
	char *sample_error;		/* why it does not, logged once */
	uint64_t sample[HOLD_SAMPLES];	/* the sample in flight ... */
	size_t sample_n, sample_got;	/* ... keys asked and answered */
	uint64_t sample_step;
	uint64_t lazyfree;		/* lazyfree_pending_objects of the last reading */
	struct tick_flush_view sent;	/* the flush when INFO memory was sent */
	double capped_logged;		/* monotonic */
};

static bool holding(const struct tick *t)
{
	return t->policy.flush_mode == FLUSH_MODE_HOLD;
}

static void rearm(struct tick *t)
{
	/* A persistent timer: this sets its interval. */
	timer_arm(t->timer, holding(t) ? t->policy.hold_interval_secs : t->policy.flush_period_secs);
}

/* The policy changed (the hash, a reload): a new mode or period takes a
 * new interval at once, and hold learns its growth afresh. */
static void policy_changed(struct tick *t, int mode, double period)
{
	if (t->policy.flush_mode != mode) {
		if (t->configured)
			log_info("shard %s: flush mode %s", t->name, policy_mode_name(t->policy.flush_mode));
		policy_hold_restart(&t->hold);
	}
	if (t->running && (t->policy.flush_mode != mode || t->policy.flush_period_secs != period))
		rearm(t);
}

/* ---- INFO memory and the decision ------------------------------------------------ */

static void decide(struct tick *t)
{
	double now = t->started + TICK_SLACK * t->policy.flush_period_secs;

	if (!policy_should_flush(&t->policy, t->used_memory, now))
		return;
	if (t->ops->flush(t->owner, policy_entries_to_flush(&t->policy)) == 0)
		policy_record_flush(&t->policy, t->started);
}

static void note_capped(struct tick *t)
{
	double now = time_mono();

	if (!t->hold.capped || (t->capped_logged != 0 && now - t->capped_logged < TICK_CAPPED_LOG_SECS))
		return;
	t->capped_logged = now;
	log_notice("shard %s: hold: the caps (flush_num_entries_each_time %llu per flush_period_secs %gs) hold "
		   "the flush back; used_memory %llu, threshold %llu", t->name,
		   (unsigned long long)t->policy.flush_num_entries_each_time, t->policy.flush_period_secs,
		   (unsigned long long)t->used_memory, (unsigned long long)t->policy.flush_when_at_least_bytes);
}

/* Hold's decision on a reading: start, extend or trim the flush so that
 * the number the policy says is on its way out.  A forced flush is left
 * alone; what could not start goes back to the caps. */
static void decide_hold(struct tick *t)
{
	struct hold_reading r = {0};
	struct tick_flush_view now;
	uint64_t target;

	t->ops->view(t->owner, &now);
	if (now.forced)
		return;
	r.at = t->started;
	r.now = time_mono();
	r.used_memory = t->used_memory;
	r.lazyfree_pending_objects = t->lazyfree;
	r.tracked = now.tracked;
	r.deletes_sent = t->sent.deletes_sent;
	r.pending = t->sent.pending;
	r.pending_now = now.pending;
	r.sample = t->sample;
	r.nsample = t->sample_got == t->sample_n ? t->sample_n : 0;
	r.step = t->sample_step;
	target = policy_hold_decide(&t->policy, &t->hold, &r);
	log_debug("shard %s: hold: used_memory %llu, %llu lazy, %.0f bytes/entry, growth %.0f/s: %llu on their way "
		  "(were %llu)", t->name, (unsigned long long)t->used_memory, (unsigned long long)t->lazyfree,
		  t->hold.estimate, t->hold.growth, (unsigned long long)target, (unsigned long long)now.pending);
	note_capped(t);
	if (now.running) {
		if (target != now.pending && t->ops->retarget(t->owner, target) < 0 && target > now.pending)
			policy_hold_refund(&t->policy, &t->hold, target - now.pending);
	} else if (target > 0 && t->ops->flush(t->owner, target) < 0) {
		policy_hold_refund(&t->policy, &t->hold, target);
	}
}

static void on_info(void *owner, redisReply *r, void *arg)
{
	struct tick *t = arg;
	uint64_t used;
	bool was_over;

	(void)owner;
	t->info_in_flight = false;
	if (r->type == REDIS_REPLY_ERROR) {
		char *msg = xasprintf("INFO memory: %s", r->str);

		t->ops->error(t->owner, msg);	/* e.g. LOADING: stay connected, try next tick */
		free(msg);
		return;
	}
	if ((r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) ||
	    parse_info_uint(r->str, "used_memory", &used) < 0) {
		t->ops->error(t->owner, "INFO memory: reply without used_memory");
		return;
	}
	was_over = tick_over_threshold(t);
	t->have_memory = true;
	t->used_memory = used;
	t->used_memory_mono = time_mono();
	t->ticks_total++;
	/* Absent before Redis 4: nothing is freed in the background there. */
	if (parse_info_uint(r->str, "lazyfree_pending_objects", &t->lazyfree) < 0)
		t->lazyfree = 0;
	if (!holding(t)) {
		log_debug("shard %s: used_memory %llu (threshold %llu)", t->name, (unsigned long long)used,
			  (unsigned long long)t->policy.flush_when_at_least_bytes);
		decide(t);
	} else {
		decide_hold(t);
	}
	/* Ten readings a second in hold mode: tell of a change that shows. */
	if (!holding(t) || was_over != tick_over_threshold(t))
		t->ops->changed(t->owner);
}

/* ---- the runtime policy hash ------------------------------------------------------ */

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

/* Says what is invalid once per change, one line per value, so that each
 * keeps its level; an unchanged complaint stays quiet. */
static void note_invalid(struct tick *t, const char *what, bool per_line)
{
	if (*what != '\0' && (t->policy_invalid == NULL || strcmp(t->policy_invalid, what) != 0)) {
		if (!per_line) {
			log_warn("shard %s: policy key %s: %s; using the config", t->name, t->policy_key, what);
		} else {
			for (const char *p = what, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
				log_warn("shard %s: policy key %s: ignoring %.*s", t->name, t->policy_key,
					 (int)(nl - p), p);
		}
	}
	free(t->policy_invalid);
	t->policy_invalid = *what != '\0' ? xstrdup(what) : NULL;
}

static void on_policy_key(void *owner, redisReply *r, void *arg)
{
	struct tick *t = arg;
	const char **fields, **values;
	size_t n = 0;
	double period = t->policy.flush_period_secs;
	int mode = t->policy.flush_mode;
	struct buf invalid;

	(void)owner;
	buf_init(&invalid);
	if (r->type != REDIS_REPLY_ARRAY) {
		/* WRONGTYPE and the like: keep the config values. */
		note_invalid(t, r->type == REDIS_REPLY_ERROR ? r->str : "not a hash", false);
		policy_apply_runtime(&t->policy, &t->base, NULL, NULL, 0, NULL);
	} else {
		fields = xcalloc(r->elements / 2 + 1, sizeof(*fields));
		values = xcalloc(r->elements / 2 + 1, sizeof(*values));
		for (size_t i = 0; i + 1 < r->elements; i += 2, n++) {
			fields[n] = policy_text(r->element[i]);
			values[n] = policy_text(r->element[i + 1]);
		}
		policy_apply_runtime(&t->policy, &t->base, fields, values, n, &invalid);
		note_invalid(t, invalid.len > 0 ? invalid.data : "", true);
		free(fields);
		free(values);
	}
	buf_free(&invalid);
	policy_changed(t, mode, period);
}

/* ---- hold mode's sample: MEMORY USAGE of the oldest entries ---------------------- */

static void on_usage(void *owner, redisReply *r, void *arg)
{
	struct tick *t = arg;

	(void)owner;
	if (t->sample_got >= t->sample_n)
		return;	/* a sample abandoned (the mode changed): its replies still come */
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		t->sample[t->sample_got++] = (uint64_t)r->integer;
	} else if (r->type == REDIS_REPLY_NIL) {
		t->sample[t->sample_got++] = 0;	/* gone: removing it frees nothing */
	} else {
		char *msg = xasprintf("%s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");

		/* ACLs or a renamed command: estimate from INFO alone. */
		if (t->sample_error == NULL || strcmp(t->sample_error, msg) != 0)
			log_warn("shard %s: MEMORY USAGE: %s; hold mode estimates bytes per entry from "
				 "used_memory and the tracked entries", t->name, msg);
		free(t->sample_error);
		t->sample_error = msg;
		t->sampling = false;
		t->sample_n = 0;
	}
}

/* MEMORY USAGE of HOLD_SAMPLES keys from the ledger head, spanning what
 * is on its way out (t->sent) and what the next correction may take; sent
 * before INFO memory so that their replies are in when it answers. */
static int send_sample(struct tick *t)
{
	const char *keys[HOLD_SAMPLES], *argv[3] = {"MEMORY", "USAGE", NULL};
	size_t lens[HOLD_SAMPLES], alens[3] = {6, 5, 0};

	t->sample_n = t->sample_got = 0;
	if (!t->sampling)
		return 0;
	t->sample_step = policy_hold_step(&t->policy, &t->hold, t->sent.pending);
	t->sample_n = t->ops->sample(t->owner, t->sample_step, keys, lens, HOLD_SAMPLES);
	for (size_t i = 0; i < t->sample_n; i++) {
		argv[2] = keys[i];
		alens[2] = lens[i];
		if (conn_send_argv(t->cmd, on_usage, t, 3, argv, alens) < 0)
			return -1;
	}
	return 0;
}

/* ---- the timer --------------------------------------------------------------------- */

/* In batch mode every tick reads the policy hash and runs the owner's
 * chores; in hold mode, one a period does. */
static bool full_tick(const struct tick *t, double now)
{
	return !holding(t) || t->full_at == 0 || now - t->full_at >= (1 - TICK_SLACK) * t->policy.flush_period_secs;
}

static void tick(struct tick *t)
{
	double now = time_mono();
	bool full = full_tick(t, now);

	if (full)
		t->ops->ticked(t->owner);
	if (!t->running || t->info_in_flight)
		return;	/* a slow reply is the command timeout's business */
	t->started = now;
	if (full) {
		t->full_at = now;
		if (*t->policy_key != '\0' && conn_send(t->cmd, on_policy_key, t, "HGETALL %s", t->policy_key) < 0)
			return;
	}
	/* What the flush has on its way out as INFO goes: the deletes sent
	 * before it show in its reply, the rest is at the ledger's head. */
	t->ops->view(t->owner, &t->sent);
	if (holding(t) && send_sample(t) < 0)
		return;
	if (conn_send(t->cmd, on_info, t, "INFO memory") == 0)
		t->info_in_flight = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tick(arg);
}

void tick_start(struct tick *t)
{
	t->running = true;
	t->sampling = true;
	t->full_at = 0;
	policy_hold_restart(&t->hold);
	rearm(t);
	tick(t);
}

/* The command connection is gone: its replies will never come. */
static void on_lost(void *arg, const struct conn_loss *loss)
{
	struct tick *t = arg;

	(void)loss;
	t->running = false;
	t->info_in_flight = false;
	t->sample_n = 0;
	event_del(t->timer);
}

/* ---- lifetime and queries ------------------------------------------------------------ */

struct tick *tick_new(struct event_base *base, struct conn *cmd, const struct tick_ops *ops, void *owner)
{
	struct tick *t = xcalloc(1, sizeof(*t));

	t->cmd = cmd;
	t->ops = ops;
	t->owner = owner;
	t->timer = event_new(base, -1, EV_PERSIST, on_timer, t);
	if (t->timer == NULL)
		abort();
	t->name = xstrdup("");
	t->policy_key = xstrdup("");
	conn_on_lost(cmd, on_lost, t);
	return t;
}

void tick_set_params(struct tick *t, const struct tick_params *p)
{
	double last_flush = t->policy.last_flush, period = t->policy.flush_period_secs;
	int mode = t->policy.flush_mode;

	free(t->name);
	t->name = xstrdup(p->name);
	free(t->policy_key);
	t->policy_key = xstrdup(p->policy_key);
	t->base = p->base;
	/* Until the next reading of the hash, the config's values hold. */
	t->policy = p->base;
	t->policy.last_flush = last_flush;
	policy_changed(t, mode, period);
	t->configured = true;
}

void tick_free(struct tick *t)
{
	if (t == NULL)
		return;
	event_free(t->timer);
	free(t->name);
	free(t->policy_key);
	free(t->policy_invalid);
	free(t->sample_error);
	free(t);
}

void tick_record_flush(struct tick *t)
{
	policy_record_flush(&t->policy, time_mono());
}

const struct policy *tick_policy(const struct tick *t)
{
	return &t->policy;
}

bool tick_over_threshold(const struct tick *t)
{
	return t->have_memory && policy_over_threshold(&t->policy, t->used_memory);
}

void tick_stats(const struct tick *t, struct shard_stats *st)
{
	if (t->have_memory) {
		st->used_memory = t->used_memory;
		st->used_memory_age_s = time_mono() - t->used_memory_mono;
	}
	st->flush_when_at_least_bytes = t->policy.flush_when_at_least_bytes;
	st->flush_period_secs = t->policy.flush_period_secs;
	st->flush_num_entries_each_time = t->policy.flush_num_entries_each_time;
	st->over_threshold = tick_over_threshold(t);
	st->ticks_total = t->ticks_total;
	st->flush_mode = policy_mode_name(t->policy.flush_mode);
	if (!holding(t))
		return;
	if (t->hold.estimate > 0) {
		st->hold_bytes_per_entry = t->hold.estimate;
		st->hold_growth_bytes_per_s = t->hold.growth;
		st->hold_lazyfree_bytes = t->hold.lazy_bytes;
	}
	if (t->hold.last_at != 0) {
		st->hold_last_correction_entries = t->hold.last_entries;
		st->hold_last_correction_bytes = t->hold.last_bytes;
		st->hold_last_correction_unix = time_now() - (time_mono() - t->hold.last_at);
	}
	st->hold_capped = t->hold.capped;
	st->hold_capped_total = t->hold.capped_total;
}
