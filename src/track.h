/* track: keeps a shard's ledger in step with Redis: the only writer of
 * creation order (flushing only takes entries out and settles them).
 *
 * Keyspace notifications on a subscriber connection (class n: a key was
 * created; del, expired, evicted: it is gone) feed the ledger as they
 * happen.  Pub/sub is fire-and-forget, so after every (re)subscription a
 * paced SCAN reconciliation appends the matching keys the ledger does not
 * know, oldest first by OBJECT IDLETIME where the eviction policy allows. */
#ifndef GCS_TRACK_H
#define GCS_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "stats.h"

struct event_base;
struct evdns_base;
struct conn;
struct ledger;
struct track;

enum track_recon {
	RECON_PENDING,		/* not started: waiting for the subscription */
	RECON_RUNNING,
	RECON_DONE,
};

struct track_ops {
	void (*subscribed)(void *owner);	/* events flow: tracking is live */
	/* The subscriber failed; the owner fails the command connection too,
	 * which stops us. */
	void (*failed)(void *owner, bool refused, const char *msg);
	void (*reconciled)(void *owner);
};

/* Copied by track_set_params. */
struct track_params {
	const char *name;		/* the shard's, for the log */
	uint64_t db;
	const char *match;		/* space-separated patterns */
	const char *policy_key;		/* "" for none: never an entry */
	struct conn_params conn;	/* for the subscriber */
	struct handoff *handoff;	/* a cluster's shared one, or NULL */
};

/* cmd is the shard's command connection, for SCAN and OBJECT IDLETIME;
 * tracking stops whenever it is lost. */
struct track *track_new(struct event_base *base, struct evdns_base *dns, struct conn *cmd,
			struct ledger *ledger, const struct track_ops *ops, void *owner);
void track_free(struct track *t);
/* Adopts new parameters.  Keys that no longer match the patterns, or that
 * became the policy key, leave the ledger at once. */
void track_set_params(struct track *t, const struct track_params *p);
/* Opens the subscriber connection and subscribes; reconciliation follows. */
void track_start(struct track *t);
/* Closes the subscriber and abandons a running reconciliation. */
void track_stop(struct track *t);
/* The shard now watches another server (address or db changed): the
 * ledger's order means nothing there, so it starts empty. */
void track_reset(struct track *t);

void track_stats(const struct track *t, struct shard_stats *st);

#endif
