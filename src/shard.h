/* shard: one Redis server that the daemon watches.  An explicit connection
 * state machine (down -> connecting -> connected, or error when the server
 * refuses us) over one async hiredis context, with our own connect and
 * command timers (hiredis 0.14 has none), capped exponential backoff with
 * jitter, and a tick that reads INFO memory every flush_period_secs. */
#ifndef GCS_SHARD_H
#define GCS_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
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
	X(connects_total, "connections that completed the handshake") \
	X(connect_failures_total, "connection attempts or connections that failed") \
	X(ticks_total, "INFO memory readings taken")

struct shard;

/* Called whenever a shard's state, memory reading or error changes. */
typedef void shard_change_fn(void *arg);

struct shard *shard_new(struct event_base *base, struct evdns_base *dns, struct shard_conf *sc,
			shard_change_fn *on_change, void *arg);
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

void shard_status_json(const struct shard *s, struct json *j);

#endif
