/* policy: Ray's SimpleGcsFlushPolicy (batch mode) and hold mode's
 * estimates and decision, free of I/O. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "util.h"

#include "policy.h"

#define POLICY_VALUE_SHOWN 64	/* bytes of an invalid value in the log */
/* Hold mode.  The most entries a MEMORY USAGE sample spans: finding its
 * keys walks the ledger from the head, ten times a second (65536 entries
 * are about 1 ms of cache misses).  No correction counts beyond it. */
#define HOLD_SPAN_MAX 65536
/* A sample spans this many times what one correction takes, past what is
 * on its way out: a correction counts only sampled entries, so when the
 * need jumps (a burst, values ten times larger) it may grow this much
 * from one reading to the next; 32 keys over 8 corrections still place a
 * change of size at the head within a quarter of a correction.  In the
 * model (test_policy.c), values growing tenfold overshot +11.5% with 4,
 * +8.5% with 8. */
#define HOLD_SPAN_AHEAD 8
/* Time constant of the growth estimate, seconds: long enough to smooth the
 * jitter of single readings (client buffers, the keyspace events we cause),
 * short enough to follow a burst within a few readings (0.5 s left the
 * model 3 points lower after values grew tenfold). */
#define HOLD_GROWTH_TAU 0.3

/* The runtime fields, defined once: their config keys (whose table entry
 * gives the type, bounds and words) and where each lives in struct policy.
 * Reading the config, the runtime hash and the status walk it.  A field's
 * slot has its config type's C type: double (CT_SECS, CT_SHARE), int
 * (CT_ENUM, the index of its word) or uint64_t (the other numbers). */
static const struct {
	const char *name;
	size_t value, source;
} fields[] = {
	{"flush_when_at_least_bytes", offsetof(struct policy, flush_when_at_least_bytes),
	 offsetof(struct policy, src_threshold)},
	{"flush_period_secs", offsetof(struct policy, flush_period_secs), offsetof(struct policy, src_period)},
	{"flush_num_entries_each_time", offsetof(struct policy, flush_num_entries_each_time),
	 offsetof(struct policy, src_entries)},
	{"flush_mode", offsetof(struct policy, flush_mode), offsetof(struct policy, src_mode)},
	{"flush_server_budget", offsetof(struct policy, flush_server_budget), offsetof(struct policy, src_budget)},
};

int policy_field_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

static enum conf_type field_type(int f)
{
	return conf_key_find(fields[f].name)->type;
}

/* Numbers go through a double: every bound in the table is below 2^53. */
static double slot_get(enum conf_type type, const void *v)
{
	if (type == CT_SECS || type == CT_SHARE)
		return *(const double *)v;
	if (type == CT_ENUM)
		return *(const int *)v;
	return (double)*(const uint64_t *)v;
}

static void slot_set(enum conf_type type, void *v, double d)
{
	if (type == CT_SECS || type == CT_SHARE)
		*(double *)v = d;
	else if (type == CT_ENUM)
		*(int *)v = (int)d;
	else
		*(uint64_t *)v = (uint64_t)d;
}

double policy_field_value(const struct policy *p, int f)
{
	return slot_get(field_type(f), (const char *)p + fields[f].value);
}

const char *policy_field_word(const struct policy *p, int f)
{
	const char *const *words = conf_enum_words(conf_key_find(fields[f].name));

	return words != NULL ? words[(int)policy_field_value(p, f)] : NULL;
}

const char *policy_mode_name(int mode)
{
	return mode == FLUSH_MODE_HOLD ? "hold" : "batch";
}

enum conf_source policy_field_source(const struct policy *p, int f)
{
	return *(const enum conf_source *)(const void *)((const char *)p + fields[f].source);
}

static void set_field(struct policy *p, int f, double v, enum conf_source src)
{
	slot_set(field_type(f), (char *)p + fields[f].value, v);
	*(enum conf_source *)(void *)((char *)p + fields[f].source) = src;
}

void policy_from_conf(struct policy *p, const struct shard_conf *sc)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct conf_key *k = conf_key_find(fields[i].name);

		set_field(p, (int)i, slot_get(k->type, (const char *)sc + k->offset),
			  (enum conf_source)sc->source[conf_key_index(k)]);
	}
	p->hold_interval_secs = sc->hold_interval_secs;
}

/* Parses one runtime field with the config table's syntax and bounds. */
static int runtime_value(const char *key, const char *text, double *out, const char **err)
{
	const struct conf_key *k = conf_key_find(key);
	const char *const *words = conf_enum_words(k);
	uint64_t u;

	if (words != NULL) {
		for (int i = 0; words[i] != NULL; i++) {
			if (strcmp(words[i], text) == 0) {
				*out = i;
				return 0;
			}
		}
		*err = conf_enum_expected(k);
		return -1;
	}
	if (k->type == CT_SECS || k->type == CT_SHARE) {
		if ((k->type == CT_SECS ? parse_secs(text, out, err) : parse_share(text, out, err)) < 0)
			return -1;
	} else {
		if ((k->type == CT_SIZE ? parse_size(text, &u, err) : parse_uint(text, &u, err)) < 0)
			return -1;
		*out = (double)u;
	}
	if ((k->min != 0 || k->max != 0) && (*out < k->min || *out > k->max)) {
		*err = "value out of range";
		return -1;
	}
	return 0;
}

/* One line of the invalid list: the application's value, cut short and
 * with its control bytes as \xNN, cannot break the list into lines. */
static void put_invalid(struct buf *b, const char *field, const char *value, const char *err)
{
	size_t n = strlen(value);

	buf_printf(b, "%s: '", field);
	buf_put_ctl_escaped(b, value, n < POLICY_VALUE_SHOWN ? n : POLICY_VALUE_SHOWN, NULL);
	buf_printf(b, "%s': %s\n", n > POLICY_VALUE_SHOWN ? "..." : "", err);
}

void policy_apply_runtime(struct policy *p, const struct policy *base, const char *const *names,
			  const char *const *values, size_t n, struct buf *invalid)
{
	double last_flush = p->last_flush;

	*p = *base;
	p->last_flush = last_flush;
	for (size_t i = 0; i < n; i++) {
		int f = policy_field_find(names[i]);
		const char *err;
		double v;

		if (f < 0)
			continue;	/* other fields are the application's business */
		if (runtime_value(names[i], values[i], &v, &err) < 0) {
			if (invalid != NULL)
				put_invalid(invalid, names[i], values[i], err);
			continue;
		}
		set_field(p, f, v, SRC_RUNTIME);
	}
}

bool policy_over_threshold(const struct policy *p, uint64_t used_memory)
{
	return used_memory >= p->flush_when_at_least_bytes;
}

bool policy_should_flush(const struct policy *p, uint64_t used_memory, double now)
{
	if (p->last_flush != 0 && now - p->last_flush < p->flush_period_secs)
		return false;
	return policy_over_threshold(p, used_memory);
}

uint64_t policy_entries_to_flush(const struct policy *p)
{
	return p->flush_num_entries_each_time;
}

void policy_record_flush(struct policy *p, double now)
{
	p->last_flush = now;
}

/* ---- hold mode ------------------------------------------------------------------ */

uint64_t policy_hold_step(const struct policy *p, const struct policy_hold *h, uint64_t pending)
{
	double one = h->estimate > 0 ? fmax(h->growth, 0) * p->hold_interval_secs / h->estimate : 0;
	uint64_t span = pending + HOLD_SPAN_AHEAD * (uint64_t)fmax(fmax((double)h->last_more, one), HOLD_SAMPLES);

	if (span > HOLD_SPAN_MAX)
		span = HOLD_SPAN_MAX;
	return (span + HOLD_SAMPLES - 1) / HOLD_SAMPLES;
}

/* The caps of batch mode as a token bucket: flush_num_entries_each_time
 * per flush_period_secs, refilled continuously, holding at most one batch. */
static void refill(const struct policy *p, struct policy_hold *h, double now)
{
	double cap = (double)p->flush_num_entries_each_time;

	if (h->tokens_at == 0)
		h->tokens = cap;
	else if (now > h->tokens_at)
		h->tokens += (now - h->tokens_at) * cap / p->flush_period_secs;
	if (h->tokens > cap)
		h->tokens = cap;
	h->tokens_at = now;
}

/* Bytes per entry about to go: the sample's mean; without a sample (or with
 * every sampled key gone), the mean of all used_memory over the tracked
 * entries, which overstates it (so the corrections fall short, never
 * beyond, and the next readings make up the rest). */
static double bytes_per_entry(const uint64_t *sample, size_t n, const struct hold_reading *r)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)sample[i];
	if (sum > 0)
		return sum / (double)n;
	if (r->tracked == 0)
		return 0;
	return (double)r->used_memory / (double)r->tracked;
}

/* How many entries from ledger offset `from` on hold `bytes` in all, along
 * the sample, where each key stands for the step entries from it.  A mean
 * would misjudge a head whose entries change size (ten times too many
 * removed when values grow tenfold).  Counting stops where the sample
 * ends: what lies beyond is judged at the next reading, from a sample
 * that spans it, not at a mean that may not hold there (the span grows
 * eightfold from reading to reading while it falls short).  Without a
 * sample (MEMORY USAGE refused), at the mean b throughout. */
static double entries_holding(const struct policy_hold *h, double from, double bytes, double b)
{
	double n = 0, step = (double)h->step;

	if (h->nsample == 0)
		return ceil(bytes / b);
	for (size_t i = (size_t)(from / step); bytes > 0 && i < h->nsample; i++) {
		double room = (double)(i + 1) * step - fmax(from, (double)i * step);
		double s = (double)h->sample[i];

		if (s > 0 && bytes <= room * s)
			return n + ceil(bytes / s);
		n += room;
		bytes -= room * s;
	}
	return n;
}

/* The bytes the n entries from the ledger head hold, the same way (at the
 * mean b beyond the sample). */
static double bytes_held(const struct policy_hold *h, double n, double b)
{
	double bytes = 0, step = (double)h->step;

	for (size_t i = 0; n > 0 && i < h->nsample; i++) {
		double room = fmin(step, n);

		bytes += room * (double)h->sample[i];
		n -= room;
	}
	return bytes + n * b;
}

void policy_hold_restart(struct policy_hold *h)
{
	h->have_prev = false;
}

/* Memory gained per second besides our deletions: the change of
 * used_memory (less what Redis still frees) plus what the entries deleted
 * since the previous reading held.  Those were the head of the previous
 * reading's sample, which values them: when the head's entries change
 * size, the new sample would misjudge them, and an overstated growth
 * feeds on itself (more removed, counted as more grown). */
static void learn_growth(struct policy_hold *h, const struct hold_reading *r, double used, double b)
{
	double deleted = r->deletes_sent > h->prev_deletes ? (double)(r->deletes_sent - h->prev_deletes) : 0;
	double held = bytes_held(h, deleted, h->estimate > 0 ? h->estimate : b);

	/* What Redis still frees in the background is what the latest
	 * deletions held, an object each. */
	h->lazy_bytes = fmin((double)r->lazyfree_pending_objects * (deleted > 0 ? held / deleted : b), used);
	if (h->have_prev && r->at > h->prev_at) {
		double dt = r->at - h->prev_at;

		h->growth += (1 - exp(-dt / HOLD_GROWTH_TAU)) * ((used - h->lazy_bytes - h->prev_memory + held) / dt -
								  h->growth);
	}
	h->have_prev = true;
	h->prev_at = r->at;
	h->prev_memory = used - h->lazy_bytes;
	h->prev_deletes = r->deletes_sent;
}

/* The caps: more entries take tokens (a decision that wanted more than
 * they allow is counted), cancelled ones give theirs back.  Returns the
 * change allowed. */
static double within_caps(const struct policy *p, struct policy_hold *h, double more, uint64_t pending_now)
{
	h->capped = false;
	if (more > 0) {
		double allowed = fmin(more, floor(h->tokens));

		h->capped = allowed < more;
		h->capped_total += h->capped;
		h->tokens -= allowed;
		return allowed;
	}
	more = -fmin(-more, (double)pending_now);
	h->tokens = fmin(h->tokens - more, (double)p->flush_num_entries_each_time);
	return more;
}

static void adopt_sample(struct policy_hold *h, const struct hold_reading *r)
{
	h->nsample = r->nsample < HOLD_SAMPLES ? r->nsample : HOLD_SAMPLES;
	if (h->nsample > 0)
		memcpy(h->sample, r->sample, h->nsample * sizeof(*h->sample));
	h->step = r->step > 0 ? r->step : 1;
}

/* The memory that will be there once what is on its way out is gone is
 * used_memory, less the objects Redis still frees in the background, less
 * the entries still to be deleted; the memory of the coming interval, on
 * average, is that plus the growth of half an interval (and of the reply's
 * delay).  Aiming that at the threshold keeps used_memory swinging around
 * it rather than above it, by half an interval's growth each way. */
uint64_t policy_hold_decide(const struct policy *p, struct policy_hold *h, const struct hold_reading *r)
{
	double b, predicted, excess, more;

	refill(p, h, r->now);
	b = bytes_per_entry(r->sample, r->nsample, r);
	learn_growth(h, r, (double)r->used_memory, b);
	adopt_sample(h, r);
	if (b <= 0)
		return r->pending_now;	/* nothing tracked: nothing to correct with */
	h->estimate = b;
	predicted = (double)r->used_memory - h->lazy_bytes - bytes_held(h, (double)r->pending, b) +
		    fmax(h->growth, 0) * ((r->now - r->at) + p->hold_interval_secs / 2);
	excess = predicted - (double)p->flush_when_at_least_bytes;
	/* Whole entries: enough to come under the line, the ones after those
	 * already on their way; but cancel only those surely not needed. */
	more = excess > 0 ? entries_holding(h, (double)r->pending, excess, b) : -floor(-excess / b);
	more = within_caps(p, h, more, r->pending_now);
	if (more != 0) {
		h->last_entries = more;
		h->last_bytes = excess;
		h->last_at = r->now;
	}
	if (more > 0)
		h->last_more = (uint64_t)more;
	return (uint64_t)((double)r->pending_now + more);
}

void policy_hold_refund(const struct policy *p, struct policy_hold *h, uint64_t n)
{
	h->tokens = fmin(h->tokens + (double)n, (double)p->flush_num_entries_each_time);
}
