/* handshake: what follows a new command connection before a node counts
 * as connected: ROLE must say master (nothing is ever deleted elsewhere),
 * and notify-keyspace-events must hold the flags tracking needs (added
 * with CONFIG SET, never removing the operator's); then the owner has
 * tracking subscribe.  A server that refuses CONFIG fails the connection
 * as refused, with the redis.conf line the operator must add.  Owns only
 * this sequence; the connection and the subscription are others'. */
#ifndef GCS_HANDSHAKE_H
#define GCS_HANDSHAKE_H

struct conn;
struct handshake;

/* Keyspace events tracking needs, as notify-keyspace-events flags:
 * E keyevent channels, n new, g generic (del), x expired, e evicted. */
#define HANDSHAKE_NOTIFY_FLAGS "Egxen"

/* done: the flags are in place; the owner starts tracking's subscription.
 * not_master: ROLE said otherwise (the connection fails too); the owner's
 * topology is stale. */
struct handshake *handshake_new(const char *name, void (*done)(void *owner),
				void (*not_master)(void *owner, const char *why), void *owner);
void handshake_free(struct handshake *h);
void handshake_set_name(struct handshake *h, const char *name);
/* The command connection's ready callback (conn_new's): starts the
 * sequence on c. */
void handshake_ready(void *h, struct conn *c);

/* The flags to add to notify-keyspace-events (empty when none); the
 * caller frees it. */
char *handshake_missing_flags(const char *current);

#endif
