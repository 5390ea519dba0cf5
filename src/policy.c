/* policy: Ray's SimpleGcsFlushPolicy, free of I/O. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "util.h"

#include "policy.h"

#define POLICY_VALUE_SHOWN 64	/* bytes of an invalid value in the log */

/* The three values of Ray's policy, and the flush's budget, defined once:
 * their config keys (whose table entry gives the type and bounds) and
 * where each lives in struct policy.  Reading the config, the runtime hash
 * and the status walk it. */
static const struct {
	const char *name;
	size_t value, source;
} fields[] = {
	{"flush_when_at_least_bytes", offsetof(struct policy, flush_when_at_least_bytes),
	 offsetof(struct policy, src_threshold)},
	{"flush_period_secs", offsetof(struct policy, flush_period_secs), offsetof(struct policy, src_period)},
	{"flush_num_entries_each_time", offsetof(struct policy, flush_num_entries_each_time),
	 offsetof(struct policy, src_entries)},
	{"flush_server_budget", offsetof(struct policy, flush_server_budget), offsetof(struct policy, src_budget)},
};

/* A field held in a double (the others are uint64_t). */
static bool is_real(enum conf_type t)
{
	return t == CT_SECS || t == CT_SHARE;
}

int policy_field_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Numbers go through a double: every bound in the table is below 2^53. */
double policy_field_value(const struct policy *p, int f)
{
	const char *v = (const char *)p + fields[f].value;

	if (is_real(conf_key_find(fields[f].name)->type))
		return *(const double *)(const void *)v;
	return (double)*(const uint64_t *)(const void *)v;
}

enum conf_source policy_field_source(const struct policy *p, int f)
{
	return *(const enum conf_source *)(const void *)((const char *)p + fields[f].source);
}

static void set_field(struct policy *p, int f, double v, enum conf_source src)
{
	char *slot = (char *)p + fields[f].value;

	if (is_real(conf_key_find(fields[f].name)->type))
		*(double *)(void *)slot = v;
	else
		*(uint64_t *)(void *)slot = (uint64_t)v;
	*(enum conf_source *)(void *)((char *)p + fields[f].source) = src;
}

void policy_from_conf(struct policy *p, const struct shard_conf *sc)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct conf_key *k = conf_key_find(fields[i].name);
		const char *v = (const char *)sc + k->offset;
		double d = is_real(k->type) ? *(const double *)(const void *)v
					      : (double)*(const uint64_t *)(const void *)v;

		set_field(p, (int)i, d, (enum conf_source)sc->source[conf_key_index(k)]);
	}
	p->last_flush = 0;
}

/* Parses one runtime field with the config table's syntax and bounds. */
static int runtime_value(const char *key, const char *text, double *out, const char **err)
{
	const struct conf_key *k = conf_key_find(key);
	uint64_t u;

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
