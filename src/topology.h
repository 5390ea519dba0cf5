/* topology: which masters a cluster or Sentinel shard has now, and (for a
 * cluster) which slots each owns.  It discovers them from the configured
 * seeds or sentinels, refreshes about once a second and on demand (after
 * MOVED, a failover or a lost connection), and tells its owner whenever
 * the set of masters or their slots change.  It owns its own discovery
 * connections and nothing else: the masters' connections are the nodes'. */
#ifndef GCS_TOPOLOGY_H
#define GCS_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "slot.h"

struct event_base;
struct evdns_base;
struct topology;

enum topology_kind {
	TOPOLOGY_STANDALONE,	/* address: one server, no discovery */
	TOPOLOGY_CLUSTER,	/* cluster: masters and slots from CLUSTER SHARDS */
	TOPOLOGY_SENTINEL,	/* sentinels: the master from SENTINEL get-master-addr-by-name */
};

/* A master as discovered. */
struct topology_master {
	char *address;		/* host:port, as a node connects to it */
	struct slot_set slots;	/* a cluster's; every slot for a Sentinel master */
};

struct topology_ops {
	/* The masters changed (or were found for the first time). */
	void (*changed)(void *owner, const struct topology_master *m, size_t n);
	/* Discovery failed: no seed or sentinel answered usefully. */
	void (*error)(void *owner, const char *msg);
};

enum topology_kind topology_kind_of(const struct shard_conf *sc);
const char *topology_kind_name(enum topology_kind k);

struct topology *topology_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			      const struct topology_ops *ops, void *owner);
void topology_free(struct topology *t);
/* Adopts a reloaded config (seeds, sentinels, credentials), and looks again. */
void topology_reconfigure(struct topology *t, const struct shard_conf *sc);
void topology_start(struct topology *t);
/* Looks again soon (never from inside the caller's stack). */
void topology_refresh(struct topology *t);
/* What discovery found last, for status: "10.0.0.1:26379" for a sentinel
 * answering now; NULL when none. */
const char *topology_source(const struct topology *t);

#endif
