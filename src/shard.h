/* shard: one logical shard the daemon watches: a single server, a Redis
 * Cluster or a Sentinel-managed master.  It owns what outlives any one
 * server: its config copy, the store (the ledger, whose creation order
 * belongs to the shard and not to an address, and the archive), the
 * topology (which masters there are now, and their slots), and one node
 * (node.h) per master, created and removed as the topology changes.  A
 * failover or a slot move only changes which node deletes a key; the
 * order goes on.  The shard does none of the nodes' work itself. */
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
	SHARD_CONNECTING,	/* discovering, resolving, connecting or in the handshake */
	SHARD_CONNECTED,	/* every master connected; ticking */
	SHARD_ERROR,		/* a server answered but refused us (AUTH, SELECT, ROLE) */
};

struct shard;

/* Called whenever a shard's state, memory reading or error changes. */
typedef void shard_change_fn(void *arg);

/* state_dir holds the shard's files (statedir.h); sc is copied. */
struct shard *shard_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			const char *state_dir, shard_change_fn *on_change, void *arg);
void shard_start(struct shard *s);
/* Adopts a new config for the same shard name (copied); reconnects only
 * what the change concerns. */
void shard_reconfigure(struct shard *s, const struct shard_conf *sc);
void shard_free(struct shard *s);

const char *shard_name(const struct shard *s);
enum shard_state shard_state(const struct shard *s);
const char *shard_state_name(enum shard_state st);
void shard_set_paused(struct shard *s, bool paused);

/* Flushes the n oldest entries of the whole shard now (0: the policy's
 * batch), each on the master that owns it, regardless of threshold,
 * period and pause; done is called once, when every node's part ended.
 * Returns -1 with *why when a master it needs is not connected or is
 * already flushing. */
int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why);

/* The n oldest tracked entries, as members of the reply (peek.h). */
void shard_oldest_json(const struct shard *s, size_t n, struct json *j);
/* What a flush of n (0: the policy's batch) would take now, taking
 * nothing; done follows with the report (peek.h). */
int shard_dry_run(struct shard *s, uint64_t n, peek_done_fn *done, void *arg, const char **why);

struct metrics_series;
/* The shard's metrics series (metrics.h) into series, their snapshots
 * into st (both of shard_nseries(s) elements); returns how many.  A
 * standalone shard is one series; a cluster or Sentinel shard one for the
 * shard and one per node. */
size_t shard_nseries(const struct shard *s);
size_t shard_series(const struct shard *s, struct shard_stats *st, struct metrics_series *series);

/* A snapshot of every status field (stats.h), summed over the nodes. */
void shard_stats(const struct shard *s, struct shard_stats *st);
/* Not const: per-node counts are cached. */
void shard_status_json(struct shard *s, struct json *j);

#endif
