/* track: keeps a shard's ledger in step with Redis.
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

#include "conf.h"
#include "json.h"

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
	void (*failed)(void *owner, bool refused, const char *msg);
	void (*reconciled)(void *owner);
};

/* Keyspace events the daemon needs, as notify-keyspace-events flags:
 * E keyevent channels, n new, g generic (del), x expired, e evicted. */
#define TRACK_NOTIFY_FLAGS "Egxen"

struct track *track_new(struct event_base *base, struct evdns_base *dns, struct conn *cmd,
			struct ledger *ledger, const struct track_ops *ops, void *owner);
void track_free(struct track *t);
/* Opens the subscriber connection and subscribes; reconciliation follows. */
void track_start(struct track *t, const struct shard_conf *sc);
/* Closes the subscriber and abandons a running reconciliation. */
void track_stop(struct track *t);
/* Adopts new match patterns (keys no longer matching stay until flushed). */
void track_set_conf(struct track *t, const struct shard_conf *sc);
enum track_recon track_recon_state(const struct track *t);

/* Returns the flags to add to notify-keyspace-events (empty when none);
 * the caller frees it. */
char *track_missing_flags(const char *current);

void track_status_json(const struct track *t, struct json *j);

#endif
