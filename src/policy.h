/* policy: the flush decision, free of I/O so that it is unit-tested as
 * plain C.  Two modes:
 *   batch  Ray's SimpleGcsFlushPolicy.  A tick asks should_flush; a flush
 *          asks entries_to_flush and then calls record_flush, which
 *          restarts the period.
 *   hold   a reading every hold_interval_secs; policy_hold_decide says how
 *          many of the oldest entries should be on their way out so that
 *          used_memory comes back to the threshold, from what those entries
 *          hold (MEMORY USAGE samples) and how fast memory grows, corrected
 *          for Redis's lazy freeing, within the caps of batch mode.
 * It also carries the flush's pacing budget, which the runtime hash may
 * set like the rest. */
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
	int flush_mode;		/* enum flush_mode */
	double flush_server_budget;	/* the flush's pacing: a share of the server's time; 0: none */
	enum conf_source src_threshold, src_period, src_entries, src_mode, src_budget;
	double hold_interval_secs;	/* config only: not a runtime field */
	double last_flush;	/* monotonic seconds; 0 = never flushed */
};

/* Keys of a hold mode MEMORY USAGE sample. */
#define HOLD_SAMPLES 32

/* What hold mode learns from reading to reading.  The tick keeps one per
 * shard (zeroed: nothing learnt yet); only policy.c changes it. */
struct policy_hold {
	/* The last reading's MEMORY USAGE sample: what the entries at ledger
	 * offsets 0, step, 2 step, ... hold (0 for a key already gone).  Each
	 * stands for the step entries from it: the profile of what is about to
	 * go, which also values what went by the next reading. */
	uint64_t sample[HOLD_SAMPLES];
	size_t nsample;
	uint64_t step;
	double growth;			/* bytes/s memory gains besides our deletions */
	bool have_prev;			/* the fields below hold the previous reading */
	double prev_at;
	double prev_memory;		/* its used_memory less the lazy-free lag */
	uint64_t prev_deletes;
	uint64_t last_more;		/* entries the last correction that added any added */
	double tokens;			/* what the caps still allow, entries */
	double tokens_at;		/* when they were last refilled; 0: never (full) */
	/* What status shows of the last reading and the last correction. */
	double estimate;		/* bytes per entry about to go: the sample's mean */
	double lazy_bytes;		/* the lazy-free lag it took off used_memory */
	double last_entries;		/* the last correction: entries added (< 0: cancelled) */
	double last_bytes;		/* predicted bytes over the line it corrected */
	double last_at;			/* monotonic; 0: none yet */
	bool capped;			/* the last decision wanted more than the caps allowed */
	uint64_t capped_total;		/* decisions the caps cut short */
};

/* One hold reading.  "Deletes sent" are entries whose deleting command
 * (UNLINK, or the compare-and-delete) had been sent on the command
 * connection when INFO memory was: Redis runs a connection's commands in
 * order, so used_memory already shows them gone (but for lazy freeing). */
struct hold_reading {
	double at;			/* monotonic: when INFO memory was sent */
	double now;			/* monotonic: when its reply came */
	uint64_t used_memory;
	uint64_t lazyfree_pending_objects;
	uint64_t tracked;		/* entries in the ledger */
	uint64_t deletes_sent;		/* cumulative, at `at` */
	uint64_t pending;		/* entries a running cycle will still delete, at `at` */
	uint64_t pending_now;		/* the same, now */
	/* The MEMORY USAGE sample sent just before INFO memory: what the keys
	 * at offsets 0, step, 2 step, ... from the ledger head hold (0 for a
	 * key gone); none (nsample 0) when refused or the ledger is empty. */
	const uint64_t *sample;
	size_t nsample;
	uint64_t step;
};

/* Takes the runtime fields, and their sources, from a shard's config. */
void policy_from_conf(struct policy *p, const struct shard_conf *sc);
/* Applies the runtime policy hash (name/value pairs from HGETALL) over base
 * (the config's policy): each of the fields present and valid
 * overrides it; absent ones revert to it.  The period's start is kept.
 * Appends "field: 'value': reason" lines for invalid values to invalid
 * (the caller logs them once; may be NULL) and leaves those at base. */
void policy_apply_runtime(struct policy *p, const struct policy *base, const char *const *names,
			  const char *const *values, size_t n, struct buf *invalid);
/* The runtime fields (the three numbers, flush_mode and the budget) by
 * their config key names, for generic code (status): the index of name, or
 * -1; its value (as a double: a word's index for flush_mode), its word
 * (NULL for a number) and its source. */
int policy_field_find(const char *name);
double policy_field_value(const struct policy *p, int field);
const char *policy_field_word(const struct policy *p, int field);
enum conf_source policy_field_source(const struct policy *p, int field);
/* The name of a flush_mode value: "batch" or "hold". */
const char *policy_mode_name(int mode);
bool policy_over_threshold(const struct policy *p, uint64_t used_memory);
/* True when a period has passed since the last flush (or there was none) and
 * used_memory is at or above the threshold. */
bool policy_should_flush(const struct policy *p, uint64_t used_memory, double now);
uint64_t policy_entries_to_flush(const struct policy *p);
void policy_record_flush(struct policy *p, double now);

/* Hold mode.  Where the next MEMORY USAGE sample is to be taken: the
 * oldest entry and every step-th after it, HOLD_SAMPLES keys, spanning the
 * `pending` entries still on their way out (at the head) and, after them,
 * eight times what one correction takes (the last one, or an interval's
 * growth), at most 65536 entries. */
uint64_t policy_hold_step(const struct policy *p, const struct policy_hold *h, uint64_t pending);
/* A gap in the readings (a reconnect, a change of mode): the growth is
 * learnt afresh from the next two; the rest stays. */
void policy_hold_restart(struct policy_hold *h);
/* How many entries should be on their way out from now on, counting
 * r->pending_now: the running cycle is to be trimmed or extended to it,
 * or, with none running, one started for it (0: none).  Aims so that
 * used_memory averages the threshold over the coming interval, takes
 * what the caps allow (flush_num_entries_each_time per flush_period_secs,
 * as a token bucket) and records the correction in h. */
uint64_t policy_hold_decide(const struct policy *p, struct policy_hold *h, const struct hold_reading *r);
/* n entries that a decision granted were not flushed after all (the flush
 * could not start): the caps get them back. */
void policy_hold_refund(const struct policy *p, struct policy_hold *h, uint64_t n);

#endif
