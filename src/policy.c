/* policy: Ray's SimpleGcsFlushPolicy, free of I/O. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "policy.h"

#define POLICY_VALUE_SHOWN 64	/* bytes of an invalid value in the log */

static enum conf_source source_of(const struct shard_conf *sc, const char *key)
{
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	const struct conf_key *k = conf_key_find(key);

	(void)keys;
	return (enum conf_source)sc->source[k - keys];
}

void policy_from_conf(struct policy *p, const struct shard_conf *sc)
{
	p->flush_when_at_least_bytes = sc->flush_when_at_least_bytes;
	p->flush_period_secs = sc->flush_period_secs;
	p->flush_num_entries_each_time = sc->flush_num_entries_each_time;
	p->src_threshold = source_of(sc, "flush_when_at_least_bytes");
	p->src_period = source_of(sc, "flush_period_secs");
	p->src_entries = source_of(sc, "flush_num_entries_each_time");
}

/* Parses one runtime field with the config table's syntax and bounds. */
static int runtime_value(const char *key, const char *text, double *out, const char **err)
{
	const struct conf_key *k = conf_key_find(key);
	uint64_t u;

	if (k->type == CT_SECS) {
		if (parse_secs(text, out, err) < 0)
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
	for (size_t i = 0; i < n && i < POLICY_VALUE_SHOWN; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
	buf_printf(b, "%s': %s\n", n > POLICY_VALUE_SHOWN ? "..." : "", err);
}

void policy_apply_runtime(struct policy *p, const struct shard_conf *sc, const char *const *fields,
			  const char *const *values, size_t n, struct buf *invalid)
{
	double last_flush = p->last_flush;

	policy_from_conf(p, sc);
	p->last_flush = last_flush;
	for (size_t i = 0; i < n; i++) {
		const char *err;
		double v;

		if (strcmp(fields[i], "flush_when_at_least_bytes") != 0 && strcmp(fields[i], "flush_period_secs") != 0 &&
		    strcmp(fields[i], "flush_num_entries_each_time") != 0)
			continue;	/* other fields are the application's business */
		if (runtime_value(fields[i], values[i], &v, &err) < 0) {
			if (invalid != NULL)
				put_invalid(invalid, fields[i], values[i], err);
			continue;
		}
		if (strcmp(fields[i], "flush_when_at_least_bytes") == 0) {
			p->flush_when_at_least_bytes = (uint64_t)v;
			p->src_threshold = SRC_RUNTIME;
		} else if (strcmp(fields[i], "flush_period_secs") == 0) {
			p->flush_period_secs = v;
			p->src_period = SRC_RUNTIME;
		} else {
			p->flush_num_entries_each_time = (uint64_t)v;
			p->src_entries = SRC_RUNTIME;
		}
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
