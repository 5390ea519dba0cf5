/* shard: one Redis server that the daemon watches: its state machine
 * (down -> connecting -> connected, or error when the server refuses us),
 * with capped exponential backoff and jitter, and the wiring of its parts:
 *   conn       the command connection (and tracking's subscriber)
 *   handshake  CONFIG notify-keyspace-events, then tracking subscribes
 *   track      keyspace events and reconciliation into the ledger
 *   tick       the runtime policy, INFO memory and the policy decision
 *   flush      flush cycles, in paced chunks
 *   store      the ledger file and the archive
 *   peek       what a flush would take (oldest, flush --dry-run)
 * The shard keeps its own copy of its config; its parts get theirs by
 * value.  It does none of their work itself. */
#ifndef GCS_SHARD_H
#define GCS_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "flush.h"
#include "json.h"
#include "peek.h"
#include "stats.h"

struct event_base;
struct evdns_base;

enum shard_state {
	SHARD_DOWN,		/* no connection; a retry is scheduled */
	SHARD_CONNECTING,	/* resolving, connecting or in the handshake */
	SHARD_CONNECTED,	/* handshake done; ticking */
	SHARD_ERROR,		/* the server answered but refused us (AUTH, SELECT) */
};

struct shard;

/* Called whenever a shard's state, memory reading or error changes. */
typedef void shard_change_fn(void *arg);

/* state_dir holds the shard's files (statedir.h); sc is copied. */
struct shard *shard_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg);
void shard_start(struct shard *s);
/* Adopts a new config for the same shard name (copied); reconnects only
 * when the address, db or credentials changed. */
void shard_reconfigure(struct shard *s, const struct shard_conf *sc);
void shard_free(struct shard *s);

const char *shard_name(const struct shard *s);
enum shard_state shard_state(const struct shard *s);
const char *shard_state_name(enum shard_state st);
void shard_set_paused(struct shard *s, bool paused);

/* Runs a flush cycle of n entries (0: the policy's batch) now, regardless
 * of threshold, period and pause; done is called when it ends.  Returns -1
 * with *why when the shard is not connected or a flush is already running. */
int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why);

/* The n oldest tracked entries, as members of the reply (peek.h). */
void shard_oldest_json(const struct shard *s, size_t n, struct json *j);
/* What a flush of n (0: the policy's batch) would take now, taking
 * nothing; done follows with the report (peek.h). */
int shard_dry_run(struct shard *s, uint64_t n, peek_done_fn *done, void *arg, const char **why);

/* A snapshot of every status field (stats.h). */
void shard_stats(const struct shard *s, struct shard_stats *st);
void shard_status_json(const struct shard *s, struct json *j);

#endif
