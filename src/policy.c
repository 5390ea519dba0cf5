/* policy: Ray's SimpleGcsFlushPolicy, free of I/O. */
#include "config.h"

#include <stddef.h>

#include "policy.h"

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
