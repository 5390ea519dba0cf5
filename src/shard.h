/* shard: one Redis server that the daemon watches.  An explicit state
 * machine (down -> connecting -> connected, or error when the server
 * refuses us) over two connections, one for commands and one subscribed to
 * keyspace events, with capped exponential backoff and jitter; a tick that
 * reads the runtime policy and INFO memory every flush_period_secs and
 * starts a flush cycle when the policy says so. */
#ifndef GCS_SHARD_H
#define GCS_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "flush.h"
#include "json.h"
#include "policy.h"

struct event_base;
struct evdns_base;

enum shard_state {
	SHARD_DOWN,		/* no connection; a retry is scheduled */
	SHARD_CONNECTING,	/* resolving, connecting or in the handshake */
	SHARD_CONNECTED,	/* handshake done; ticking */
	SHARD_ERROR,		/* the server answered but refused us (AUTH, SELECT) */
};

/* Counters shown in status, defined once: name and meaning. */
#define SHARD_STATS(X) \
	X(connects_total, "connections that completed the handshake and subscription") \
	X(connect_failures_total, "connection attempts or connections that failed") \
	X(ticks_total, "INFO memory readings taken")

struct shard;

/* Called whenever a shard's state, memory reading or error changes. */
typedef void shard_change_fn(void *arg);

/* state_dir holds the shard's ledger (NAME.ledger). */
struct shard *shard_new(struct event_base *base, struct evdns_base *dns, struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg);
void shard_start(struct shard *s);
/* Adopts a new config for the same shard name; reconnects only when the
 * address, db or credentials changed.  The old shard_conf may be freed after. */
void shard_reconfigure(struct shard *s, struct shard_conf *sc);
void shard_free(struct shard *s);

const char *shard_name(const struct shard *s);
enum shard_state shard_state(const struct shard *s);
const char *shard_state_name(enum shard_state st);
bool shard_paused(const struct shard *s);
void shard_set_paused(struct shard *s, bool paused);
/* True when the last INFO memory reading is at or above the threshold. */
bool shard_over_threshold(const struct shard *s);
size_t shard_tracked(const struct shard *s);
uint64_t shard_flushed_total(const struct shard *s);

/* Runs a flush cycle of n entries (0: the policy's batch) now, regardless
 * of threshold, period and pause; done is called when it ends.  Returns -1 with *why when the shard
 * is not connected or a flush is already running. */
int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why);
/* Ends a forced flush's link to its caller (who is going away). */
void shard_forget_caller(struct shard *s, void *arg);

void shard_status_json(const struct shard *s, struct json *j);

#endif
