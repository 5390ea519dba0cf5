/* conn: one async hiredis connection to a shard, with what hiredis 0.14
 * lacks: non-blocking name resolution, connect and command timeouts, and
 * safe teardown from inside its own callbacks.  A shard owns two: one for
 * commands and one subscribed to keyspace events. */
#ifndef GCS_CONN_H
#define GCS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct event_base;
struct evdns_base;
struct redisReply;
struct conn;

struct conn_ops {
	/* Connected, authenticated and on the right db. */
	void (*ready)(void *owner, struct conn *c);
	/* The connection is gone.  refused: the server answered but refused us
	 * (AUTH, SELECT, ACL).  Called at most once per conn_open. */
	void (*failed)(void *owner, struct conn *c, bool refused, const char *msg);
};

/* A reply; never called with a NULL reply, nor after the conn failed. */
typedef void conn_reply_fn(void *owner, struct redisReply *r, void *arg);

struct conn *conn_new(struct event_base *base, struct evdns_base *dns, const struct conn_ops *ops, void *owner);
/* Starts resolve + connect + AUTH + SELECT; ops->ready or ops->failed follows. */
void conn_open(struct conn *c, const struct shard_conf *sc);
/* Adopts a reloaded config for the same connection (timeouts); the old
 * one may be freed after. */
void conn_set_conf(struct conn *c, const struct shard_conf *sc);
/* Drops the connection without calling ops->failed.  Safe anywhere. */
void conn_close(struct conn *c);
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
/* Fails the connection now (from anywhere), as a timeout or error would. */
void conn_fail(struct conn *c, bool refused, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
