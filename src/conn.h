/* conn: one asynchronous connection to a Redis server, over TCP, TLS or a
 * UNIX socket, with non-blocking name resolution, connect and command
 * timeouts, and safe teardown from inside its own callbacks; hiredis is
 * only its RESP codec.  A shard owns two: one for
 * commands (shared by the handshake, the tick, tracking and flushing, each
 * told of its loss through conn_on_lost) and one subscribed to keyspace
 * events (tracking's own).  Owns the connection; knows nothing of what the
 * commands mean. */
#ifndef GCS_CONN_H
#define GCS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "parse.h"

struct event_base;
struct evdns_base;
struct redisReply;
struct secret;
struct tls_ctx;
struct conn;

/* What a connection needs, copied by conn_set_params: a conn keeps no
 * pointer into a config that a reload may free. */
struct conn_params {
	struct parse_addr addr;
	const char *username;		/* "" for none */
	const struct secret *secret;	/* NULL for none */
	uint64_t db;
	double connect_timeout_secs;
	double command_timeout_secs;
	/* TLS (NULL: plain TCP or UNIX socket): the context, of which the conn
	 * takes a reference, and the name the server's certificate must have
	 * ("": the host of addr, which suits a cluster's nodes too). */
	struct tls_ctx *tls;
	const char *tls_server_name;
};

/* Fills p with pointers into sc, for conn_set_params to copy at once. */
void conn_params_from_conf(struct conn_params *p, const struct shard_conf *sc);

/* Connected, authenticated and on the right db. */
typedef void conn_ready_fn(void *owner, struct conn *c);

/* Why an open connection went away. */
struct conn_loss {
	bool refused;		/* the server answered but refused us (AUTH, SELECT, ACL) */
	bool closed;		/* conn_close: on purpose, not a failure */
	const char *msg;
};
/* Told once per loss.  It must not reopen the conn: reopening is the
 * owner's business, from a timer or after conn_close returns. */
typedef void conn_lost_fn(void *arg, const struct conn_loss *loss);

/* A reply; never called with a NULL reply, nor after the conn was lost. */
typedef void conn_reply_fn(void *owner, struct redisReply *r, void *arg);

struct conn *conn_new(struct event_base *base, struct evdns_base *dns, conn_ready_fn *ready, void *owner);
/* Every part that has commands in flight on the conn, or state that only
 * holds while it lives, registers here (at most CONN_MAX_USERS), and is
 * told of every loss the same way, in the order they registered. */
#define CONN_MAX_USERS 6
void conn_on_lost(struct conn *c, conn_lost_fn *fn, void *arg);
/* Takes a copy of p: the address and credentials apply at the next
 * conn_open, the timeouts at once. */
void conn_set_params(struct conn *c, const struct conn_params *p);
/* Starts resolve + connect + AUTH + SELECT; ready or a loss follows. */
void conn_open(struct conn *c);
/* Drops an open connection and tells the users (closed = true).  Safe
 * anywhere, a no-op when not open. */
void conn_close(struct conn *c, const char *why);
/* Frees the conn; nobody is told: its users go with it. */
void conn_free(struct conn *c);
bool conn_ready(const struct conn *c);

/* Sends a command; the reply must come within command_timeout_secs.
 * Returns -1 (and the conn fails) when it cannot be sent. */
int conn_send(struct conn *c, conn_reply_fn *fn, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int conn_send_argv(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv, const size_t *lens);
/* Subscribes; fn gets every message for as long as the connection lives.
 * The command timeout runs until the caller says, with conn_subscribed,
 * that the server confirmed the subscription; then there is none. */
int conn_subscribe(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv);
void conn_subscribed(struct conn *c);
/* A SUBSCRIBE's "message": its channel and payload. */
struct conn_message {
	const char *channel;
	size_t channel_len;
	const char *payload;
	size_t payload_len;
};
/* Messages in the order they came, n >= 1 (as many as one read brought,
 * up to CONN_MESSAGE_BATCH), valid during the call.  A batch lets the
 * user overlap the cache misses of its lookups. */
#define CONN_MESSAGE_BATCH 64
typedef void conn_message_fn(void *arg, const struct conn_message *m, size_t n);
/* From now on, the subscription's "message"s go to fn (with
 * conn_subscribe's arg) instead of its reply callback: read in place from
 * the input, no reply tree built (pubsub_frame.h).  fn must not send on
 * the conn. */
void conn_on_message(struct conn *c, conn_message_fn *fn);
/* Fails the connection now (from anywhere), as a timeout or error would,
 * and tells the users. */
void conn_fail(struct conn *c, bool refused, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
