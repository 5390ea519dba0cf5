/* conn_wire: a connection's commands out and replies in.  Commands are
 * formatted by hiredis and queued on the bufferevent's output; replies are
 * parsed by hiredis's reader, through the reply guards, out of its input,
 * and each goes to the callback that awaits it, in the order the commands
 * were sent (a ring), or to the subscription.  A reply's callback may fail
 * or close the connection: the read loop then stops at once.
 *
 * Owns the ring of awaited replies and the command timeout's rearming;
 * the connection's lifetime is conn.c's. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "conn_int.h"
#include "secret.h"
#include "timer.h"
#include "util.h"

/* Commands at least this long are handed to the output buffer by
 * reference rather than copied; shorter ones are packed into its chunks,
 * which also packs them into fewer TLS records. */
#define SEND_BY_REFERENCE 4096

/* The command timeout measures time without progress: it restarts with
 * every reply and stops when nothing is outstanding.  While connecting,
 * the connect timeout covers the handshake as a whole. */
void conn_rearm_deadline(struct conn *c)
{
	if (c->connecting)
		return;
	if (c->guard.pending == 0)
		event_del(c->deadline);
	else
		timer_arm(c->deadline, c->command_timeout_secs);
}

/* ---- replies ----------------------------------------------------------------- */

bool conn_is_refusal(const char *err)
{
	/* Errors that retrying cannot fix until someone changes a password,
	 * an ACL or our config. */
	static const char *const prefixes[] = {"NOAUTH", "WRONGPASS", "NOPERM", "ERR invalid password",
					       "ERR AUTH", "ERR Client sent AUTH", "ERR DB index", "ERR invalid DB"};

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(err, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* One reply to whoever awaits it; r is freed here. */
static void deliver(struct conn *c, redisReply *r)
{
	if (c->qlen > 0) {
		struct req rq = c->q[c->qhead];

		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
		c->guard.pending--;
		conn_rearm_deadline(c);
		rq.fn(c->owner, r, rq.arg);
	} else if (r->type == REDIS_REPLY_ERROR) {
		/* To a subscription not yet confirmed, or to no command at all
		 * (the guard's, or the server's own before closing). */
		if (c->confirming)
			conn_fail(c, conn_is_refusal(r->str), "%s: %s", c->sub_cmd, r->str);
		else
			conn_fail(c, conn_is_refusal(r->str), "connection lost: %s", r->str);
	} else if (c->sub_fn != NULL) {
		c->sub_fn(c->owner, r, c->sub_arg);
	}
	freeReplyObject(r);
}

/* Parses and delivers every whole reply the reader holds; -1 once bev is
 * no longer ours (a callback failed or closed the conn). */
static int deliver_all(struct conn *c, struct bufferevent *bev, redisReader *reader)
{
	void *r;

	for (;;) {
		if (redisReaderGetReply(reader, &r) != REDIS_OK) {
			conn_fail(c, false, "connection lost: %s", reader->errstr);
			return -1;
		}
		if (r == NULL)
			return 0;
		deliver(c, r);
		if (c->bev != bev)
			return -1;
	}
}

void conn_on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;

	/* A chunk at a time, each parsed out before the next is fed, keeps
	 * the reader's buffer as small as the input's chunks. */
	while (c->bev == bev && evbuffer_peek(in, -1, NULL, &v, 1) >= 1 && v.iov_len > 0) {
		if (redisReaderFeed(c->reader, v.iov_base, v.iov_len) != REDIS_OK) {
			conn_fail(c, false, "connection lost: %s", c->reader->errstr);
			return;
		}
		evbuffer_drain(in, v.iov_len);
		if (deliver_all(c, bev, c->reader) < 0)
			return;
	}
}

/* ---- commands ---------------------------------------------------------------- */

static void await_reply(struct conn *c, conn_reply_fn *fn, void *arg)
{
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? 2 * c->qcap : 16;
		struct req *q = xmalloc(cap * sizeof(*q));

		for (size_t i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = (struct req){fn, arg};
	c->qlen++;
	if (c->guard.pending++ == 0)
		conn_rearm_deadline(c);
}

static void free_cmd(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
}

/* AUTH's bytes are wiped once written, not left in a freed buffer. */
static void free_wiped(const void *data, size_t len, void *extra)
{
	(void)extra;
	secret_wipe((void *)data, len);
	free((void *)data);
}

/* Queues a formatted command (which it frees) for writing. */
static int write_cmd(struct conn *c, char *cmd, int len, bool secret)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;

	if (len < 0) {
		conn_fail(c, false, "cannot format a command");
		return -1;
	}
	if (secret || len >= SEND_BY_REFERENCE) {
		rc = evbuffer_add_reference(out, cmd, (size_t)len, secret ? free_wiped : free_cmd, NULL);
		if (rc < 0)
			free_wiped(cmd, (size_t)len, NULL);
	} else {
		rc = evbuffer_add(out, cmd, (size_t)len);
		free(cmd);
	}
	if (rc < 0) {
		conn_fail(c, false, "cannot send a command: out of memory");
		return -1;
	}
	return 0;
}

int conn_vsend(struct conn *c, bool secret, conn_reply_fn *fn, void *arg, const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int len;

	if (c->bev == NULL)
		return -1;
	len = redisvFormatCommand(&cmd, fmt, ap);
	if (write_cmd(c, cmd, len, secret) < 0)
		return -1;
	await_reply(c, fn, arg);
	return 0;
}

int conn_send(struct conn *c, conn_reply_fn *fn, void *arg, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = conn_vsend(c, false, fn, arg, fmt, ap);
	va_end(ap);
	return rc;
}

int conn_send_argv(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len;

	if (c->bev == NULL)
		return -1;
	len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (write_cmd(c, cmd, len, false) < 0)
		return -1;
	await_reply(c, fn, arg);
	return 0;
}

int conn_subscribe(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv)
{
	char *cmd = NULL;
	int len;

	if (c->bev == NULL)
		return -1;
	c->sub_fn = fn;
	c->sub_arg = arg;
	snprintf(c->sub_cmd, sizeof(c->sub_cmd), "%s", argv[0]);
	c->guard.subscribed = true;
	len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
	if (write_cmd(c, cmd, len, false) < 0)
		return -1;
	/* A server that never confirms (or answers something else, which the
	 * subscriber ignores) would leave the shard connecting forever. */
	c->confirming = true;
	if (c->guard.pending++ == 0)
		conn_rearm_deadline(c);
	return 0;
}

void conn_subscribed(struct conn *c)
{
	if (!c->confirming)
		return;
	c->confirming = false;
	c->guard.pending--;
	conn_rearm_deadline(c);
}
