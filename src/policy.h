/* policy: Ray's SimpleGcsFlushPolicy, free of I/O so that it is unit-tested
 * as plain C.  A tick asks should_flush; a flush asks entries_to_flush and
 * then calls record_flush, which restarts the period.  It also carries the
 * flush's pacing budget, which the runtime hash may set like the rest. */
#ifndef GCS_POLICY_H
#define GCS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "util.h"

struct policy {
	uint64_t flush_when_at_least_bytes;
	double flush_period_secs;
	uint64_t flush_num_entries_each_time;
	double flush_server_budget;	/* the flush's pacing: a share of the server's time; 0: none */
	enum conf_source src_threshold, src_period, src_entries, src_budget;
	double last_flush;	/* monotonic seconds; 0 = never flushed */
};

/* Takes the values, and their sources, from a shard's config. */
void policy_from_conf(struct policy *p, const struct shard_conf *sc);
/* Applies the runtime policy hash (name/value pairs from HGETALL) over base
 * (the config's policy): each of the fields present and valid
 * overrides it; absent ones revert to it.  The period's start is kept.
 * Appends "field: 'value': reason" lines for invalid values to invalid
 * (the caller logs them once; may be NULL) and leaves those at base. */
void policy_apply_runtime(struct policy *p, const struct policy *base, const char *const *names,
			  const char *const *values, size_t n, struct buf *invalid);
/* The fields by their config key names, for generic code (status):
 * the index of name, or -1; its value (as a double) and its source. */
int policy_field_find(const char *name);
double policy_field_value(const struct policy *p, int field);
enum conf_source policy_field_source(const struct policy *p, int field);
bool policy_over_threshold(const struct policy *p, uint64_t used_memory);
/* True when a period has passed since the last flush (or there was none) and
 * used_memory is at or above the threshold. */
bool policy_should_flush(const struct policy *p, uint64_t used_memory, double now);
uint64_t policy_entries_to_flush(const struct policy *p);
void policy_record_flush(struct policy *p, double now);

#endif
