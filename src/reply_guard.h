/* reply_guard: shapes the replies a broken server or proxy may send so
 * that hiredis 0.14 never asserts on them (reply_guard.c says which). */
#ifndef GCS_REPLY_GUARD_H
#define GCS_REPLY_GUARD_H

#include <stdbool.h>

#include <hiredis/read.h>

/* What the guards must know of the connection a reader belongs to; the
 * connection keeps it current. */
struct reply_guard {
	bool subscribed;	/* conn_subscribe was called: pub/sub from here on */
	unsigned pending;	/* timed commands awaiting a reply */
};

/* Builds reader's replies through the guards, which read g. */
void reply_guard_attach(struct reply_guard *g, redisReader *reader);

#endif
