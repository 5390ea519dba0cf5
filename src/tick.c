/* tick: the runtime policy hash and INFO memory every period, and Ray's
 * policy decision on each reading. */
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
};

static void rearm(struct tick *t)
{
	/* A persistent timer: this sets its interval. */
	timer_arm(t->timer, t->policy.flush_period_secs);
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

static void on_info(void *owner, redisReply *r, void *arg)
{
	struct tick *t = arg;
	uint64_t used;

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
	t->have_memory = true;
	t->used_memory = used;
	t->used_memory_mono = time_mono();
	t->ticks_total++;
	log_debug("shard %s: used_memory %llu (threshold %llu)", t->name, (unsigned long long)used,
		  (unsigned long long)t->policy.flush_when_at_least_bytes);
	decide(t);
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
	if (t->policy.flush_period_secs != period)
		rearm(t);
}

/* ---- the timer --------------------------------------------------------------------- */

static void tick(struct tick *t)
{
	t->ops->ticked(t->owner);
	if (!t->running || t->info_in_flight)
		return;	/* a slow reply is the command timeout's business */
	t->started = time_mono();
	if (*t->policy_key != '\0' && conn_send(t->cmd, on_policy_key, t, "HGETALL %s", t->policy_key) < 0)
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

	free(t->name);
	t->name = xstrdup(p->name);
	free(t->policy_key);
	t->policy_key = xstrdup(p->policy_key);
	t->base = p->base;
	/* Until the next reading of the hash, the config's values hold. */
	t->policy = p->base;
	t->policy.last_flush = last_flush;
	if (t->running && t->policy.flush_period_secs != period)
		rearm(t);
}

void tick_free(struct tick *t)
{
	if (t == NULL)
		return;
	event_free(t->timer);
	free(t->name);
	free(t->policy_key);
	free(t->policy_invalid);
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
}
