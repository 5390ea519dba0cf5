/* tick: a connected shard's periodic reading and decision.  Every
 * flush_period_secs it reads the runtime policy hash (policy_key) and
 * INFO memory on the command connection, and when Ray's policy says so,
 * asks its owner to flush.  It owns the effective policy and the memory
 * reading; it never touches the ledger, the archive or a flush itself. */
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

struct tick_ops {
	/* The policy says: flush n of the oldest entries now.  Returns 0 when
	 * a flush started (the period restarts), -1 when it could not. */
	int (*flush)(void *owner, uint64_t n);
	/* A tick ran (connected or not yet reading): the owner's periodic chores. */
	void (*ticked)(void *owner);
	/* An INFO error, or a reading, changed what status shows. */
	void (*error)(void *owner, const char *msg);
	void (*changed)(void *owner);
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
