/* tick: a connected shard's periodic reading and decision.  Every
 * flush_period_secs it reads the runtime policy hash (policy_key) and
 * INFO memory on the command connection, and when Ray's policy says so,
 * asks its owner to flush.  In hold mode it reads INFO memory every
 * hold_interval_secs instead, with a MEMORY USAGE sample of the oldest
 * entries before it, and asks its owner to start, extend or trim a flush
 * as hold's decision says.  It owns the effective policy, the memory
 * reading and hold's estimates; it never touches the ledger, the archive
 * or a flush itself: the owner answers for them (tick_ops). */
#ifndef GCS_TICK_H
#define GCS_TICK_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "stats.h"

struct event_base;
struct conn;
struct tick;

/* Copied by tick_set_params. */
struct tick_params {
	const char *name;		/* the shard's, for the log */
	const char *policy_key;		/* "" for none */
	struct policy base;		/* the config's policy, under the runtime hash */
};

/* What hold mode needs to know of the shard's flush and ledger. */
struct tick_flush_view {
	uint64_t deletes_sent;		/* flush_progress */
	uint64_t pending;
	uint64_t tracked;		/* entries in the ledger */
	bool running;			/* a cycle runs ... */
	bool forced;			/* ... a forced one (gcs-flushctl flush): not hold's to change */
};

struct tick_ops {
	/* The policy says: flush n of the oldest entries now.  Returns 0 when
	 * a flush started (the period restarts), -1 when it could not. */
	int (*flush)(void *owner, uint64_t n);
	/* A tick ran (connected or not yet reading): the owner's periodic chores. */
	void (*ticked)(void *owner);
	/* An INFO error, or a reading, changed what status shows. */
	void (*error)(void *owner, const char *msg);
	void (*changed)(void *owner);
	/* Hold mode: the state of the flush and the ledger, now. */
	void (*view)(void *owner, struct tick_flush_view *v);
	/* Hold mode: the running cycle is to leave n entries still to delete
	 * (flush_retarget); -1 when it cannot. */
	int (*retarget)(void *owner, uint64_t n);
	/* Hold mode: up to max of the oldest keys, the first and every
	 * step-th after it (ledger_sample); valid until the ledger changes. */
	size_t (*sample)(void *owner, uint64_t step, const char **keys, size_t *lens, size_t max);
};

struct tick *tick_new(struct event_base *base, struct conn *cmd, const struct tick_ops *ops, void *owner);
void tick_free(struct tick *t);
/* Adopts new parameters; the period's start is kept, and a running tick
 * takes a new period at once. */
void tick_set_params(struct tick *t, const struct tick_params *p);
/* The shard is connected: tick now and every period, until the command
 * connection is lost. */
void tick_start(struct tick *t);
/* A forced flush: the period restarts now, as after a policy flush. */
void tick_record_flush(struct tick *t);
const struct policy *tick_policy(const struct tick *t);
bool tick_over_threshold(const struct tick *t);
void tick_stats(const struct tick *t, struct shard_stats *st);

#endif
