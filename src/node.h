/* node: one Redis master of a shard, and everything that talks to it: the
 * command connection and its state machine (down -> connecting ->
 * connected, or error when the server refuses us) with capped exponential
 * backoff and jitter, and the wiring of the parts that use it:
 *   conn       the command connection (and tracking's subscriber)
 *   handshake  ROLE must say master; CONFIG notify-keyspace-events
 *   track      the node's keyspace events and reconciliation, into the
 *              shard's ledger
 *   tick       the node's policy hash, INFO memory and policy decision
 *   flush      flush cycles of the node's own entries, in paced chunks
 * A standalone or Sentinel shard has one node; a cluster shard one per
 * master, each flushing only the entries of the slots it owns.  The ledger
 * and the store belong to the shard, which outlives its nodes.  A node
 * keeps no pointer into a config: it gets its parameters by value. */
#ifndef GCS_NODE_H
#define GCS_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "flush.h"
#include "slot.h"
#include "stats.h"

struct event_base;
struct evdns_base;
struct ledger;
struct store;
struct node;

enum node_state {
	NODE_DOWN,		/* no connection; a retry is scheduled */
	NODE_CONNECTING,	/* resolving, connecting or in the handshake */
	NODE_CONNECTED,		/* handshake done; ticking */
	NODE_ERROR,		/* the server answered but refused us (AUTH, SELECT, ROLE) */
};

struct node_ops {
	/* The node's state, reading or error changed. */
	void (*changed)(void *owner);
	/* A reply said the topology is not what we think (MOVED, ASK,
	 * TRYAGAIN, READONLY, CLUSTERDOWN, or ROLE not master). */
	void (*redirected)(void *owner, const char *why);
};

/* Where the node is and what it may flush, copied by node_new. */
struct node_params {
	const struct shard_conf *conf;	/* the shard's; read during the call only */
	const char *address;		/* host:port or unix:/path, as shown */
	const struct slot_set *slots;	/* the slots it owns; NULL: every key */
	struct handoff *handoff;	/* a cluster's, shared by its nodes; else NULL */
};

struct node *node_new(struct event_base *base, struct evdns_base *dns, struct ledger *ledger, struct store *store,
		      const struct node_params *p, const struct node_ops *ops, void *owner);
void node_free(struct node *n);
void node_start(struct node *n);
/* Adopts the shard's new config; reconnect: the connection settings
 * changed. */
void node_reconfigure(struct node *n, const struct shard_conf *sc, bool reconnect);
/* Adopts a new slot set (a cluster's slots moved). */
void node_set_slots(struct node *n, const struct slot_set *slots);

const char *node_address(const struct node *n);
enum node_state node_state(const struct node *n);
const char *node_state_name(enum node_state st);
void node_set_paused(struct node *n, bool paused);

/* A flush of n of the node's entries now (0: the policy's batch),
 * regardless of threshold, period and pause; done when it ends.  -1 with
 * *why when the node is not connected or already flushing. */
int node_flush_now(struct node *n, uint64_t count, flush_done_fn *done, void *arg, const char **why);
/* Whether the node would take the entry with this key (its slots). */
bool node_owns(const struct node *n, const char *key, size_t klen);

/* Fills the node's fields of a snapshot: its connection, tick, tracking
 * and flush ones (the store's and the shard's are the shard's). */
void node_stats(const struct node *n, struct shard_stats *st);
const struct policy *node_policy(const struct node *n);
/* Where a dry run asks this node for MEMORY USAGE (peek.h). */
struct peek_conn *node_peek(const struct node *n);
/* The node's slots as "0-5460 10923", or "" for every key; the caller frees it. */
char *node_slots_text(const struct node *n);

#endif
