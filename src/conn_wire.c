/* conn_wire: a connection's commands out and replies in.  Commands are
 * formatted by hiredis and queued on the bufferevent's output; replies are
 * parsed by hiredis's reader, through the reply guards, out of its input,
 * and each goes to the callback that awaits it, in the order the commands
 * were sent (a ring), or to the subscription.  A reply's callback may fail
 * or close the connection: the read loop then stops at once.
 *
 * A subscriber's messages skip the reply tree: with a message callback
 * (conn_on_message) the input is framed here (pubsub_frame.c), messages go
 * out in batches as slices of the input, and every other reply is fed to
 * hiredis whole and alone; whatever the framing cannot judge goes to
 * hiredis as before, and framing resumes once hiredis is between replies.
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
#include "pubsub_frame.h"
#include "secret.h"
#include "timer.h"
#include "util.h"

/* Commands at least this long are handed to the output buffer by
 * reference rather than copied; shorter ones are packed into its chunks,
 * which also packs them into fewer TLS records. */
#define SEND_BY_REFERENCE 4096

/* The longest reply a subscriber frames itself (pubsub_frame.h); a longer
 * one (a key of 64 KiB) is hiredis's.  Keyspace events are tens of bytes. */
#define FRAME_MAX 65536
/* A reply split across the input's chunks is copied out whole when it is
 * no longer than this (a keyspace event is tens of bytes), and made
 * contiguous in the input otherwise. */
#define FRAME_SPLIT_COPY 512

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

/* A "message" whose channel and payload are strings; strcmp, as the
 * subscription's callback once compared it. */
static bool is_message(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements >= 3 && r->element[0]->type == REDIS_REPLY_STRING &&
	       r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING &&
	       strcmp(r->element[0]->str, "message") == 0;
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
	} else if (c->msg_fn != NULL && is_message(r)) {
		struct conn_message m = {r->element[1]->str, r->element[1]->len, r->element[2]->str,
					 r->element[2]->len};

		c->msg_fn(c->sub_arg, &m, 1);
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

/* Feeds hiredis the input's first chunk and delivers what it completes;
 * -1 once bev is no longer ours. */
static int feed_chunk(struct conn *c, struct bufferevent *bev, struct evbuffer *in)
{
	struct evbuffer_iovec v;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return -1;
	if (redisReaderFeed(c->reader, v.iov_base, v.iov_len) != REDIS_OK) {
		conn_fail(c, false, "connection lost: %s", c->reader->errstr);
		return -1;
	}
	evbuffer_drain(in, v.iov_len);
	return deliver_all(c, bev, c->reader);
}

/* What the subscriber's own framing did with the input. */
enum framed {
	FRAMED_GONE,		/* bev is no longer ours */
	FRAMED_WAIT,		/* a reply's rest is still to come */
	FRAMED_MORE,		/* progress: frame again */
	FRAMED_HIREDIS,		/* a reply it cannot frame: hiredis reads the chunk */
};

/* The messages framed so far, not yet delivered: slices of the input's
 * first chunk. */
struct batch {
	struct conn_message m[CONN_MESSAGE_BATCH];
	size_t n;
};

/* Delivers the batch; false once bev is no longer ours. */
static bool flush_batch(struct conn *c, struct bufferevent *bev, struct batch *b)
{
	if (b->n > 0)
		c->msg_fn(c->sub_arg, b->m, b->n);
	b->n = 0;
	return c->bev == bev;
}

/* One reply framed here, whole: a message joins the batch, read from the
 * input itself; any other reply (after the batch) is fed to hiredis alone,
 * so that it never holds half of one and the order never changes.  A
 * message while a command awaits a reply is that command's, as deliver
 * has it.  False once bev is no longer ours. */
static bool frame_one(struct conn *c, struct bufferevent *bev, const struct pubsub_frame *f, const char *at,
		      struct batch *b)
{
	if (f->message && c->qlen == 0) {
		b->m[b->n++] = (struct conn_message){f->channel, f->channel_len, f->payload, f->payload_len};
		return b->n < CONN_MESSAGE_BATCH || flush_batch(c, bev, b);
	}
	if (!flush_batch(c, bev, b))
		return false;
	if (redisReaderFeed(c->reader, at, f->len) != REDIS_OK) {
		conn_fail(c, false, "connection lost: %s", c->reader->errstr);
		return false;
	}
	return deliver_all(c, bev, c->reader) == 0;
}

/* The reply at the input's head, split across its chunks, of at least
 * need bytes, which are in: copied out and framed when small, so that the
 * next chunk then begins with a reply of its own; else its first need
 * bytes made contiguous in place, to frame again. */
static enum framed frame_split(struct conn *c, struct bufferevent *bev, struct evbuffer *in, size_t need,
			       size_t total)
{
	char buf[FRAME_SPLIT_COPY];
	size_t n = total < sizeof(buf) ? total : sizeof(buf);
	struct pubsub_frame f;
	struct batch b;

	b.n = 0;
	if (need <= n && evbuffer_copyout(in, buf, n) == (ev_ssize_t)n &&
	    pubsub_frame_scan(buf, n, FRAME_MAX, &f) == PUBSUB_FRAME_WHOLE) {
		if (!frame_one(c, bev, &f, buf, &b) || !flush_batch(c, bev, &b))
			return FRAMED_GONE;
		evbuffer_drain(in, f.len);
		return FRAMED_MORE;
	}
	if (evbuffer_pullup(in, (ev_ssize_t)need) == NULL) {
		conn_fail(c, false, "connection lost: out of memory");
		return FRAMED_GONE;
	}
	return FRAMED_MORE;
}

/* Frames the whole replies of the input's first chunk and drains them;
 * then a reply split across chunks, once all its bytes are in. */
static enum framed frame_chunk(struct conn *c, struct bufferevent *bev, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	struct pubsub_frame f;
	struct batch b;
	enum pubsub_frame_rc rc = PUBSUB_FRAME_UNKNOWN;
	size_t off = 0, total = evbuffer_get_length(in);

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return FRAMED_WAIT;
	b.n = 0;
	while (off < v.iov_len) {
		const char *at = (const char *)v.iov_base + off;

		rc = pubsub_frame_scan(at, v.iov_len - off, FRAME_MAX, &f);
		if (rc != PUBSUB_FRAME_WHOLE)
			break;
		if (!frame_one(c, bev, &f, at, &b))
			return FRAMED_GONE;	/* the input went with bev */
		off += f.len;
	}
	if (!flush_batch(c, bev, &b))
		return FRAMED_GONE;
	evbuffer_drain(in, off);
	total -= off;
	if (total == 0 || rc == PUBSUB_FRAME_WHOLE)
		return total == 0 ? FRAMED_WAIT : FRAMED_MORE;
	if (rc == PUBSUB_FRAME_UNKNOWN)
		return off > 0 ? FRAMED_MORE : FRAMED_HIREDIS;
	if (f.len > total)
		return FRAMED_WAIT;
	return frame_split(c, bev, in, f.len, total);
}

/* Parses and delivers all there is to read, until bev is no longer ours. */
static void read_all(struct conn *c, struct bufferevent *bev, struct evbuffer *in)
{
	/* A chunk at a time, each parsed out before the next is fed, keeps
	 * the reader's buffer as small as the input's chunks.  A subscriber
	 * with a message callback frames its replies itself whenever hiredis
	 * holds no part of one. */
	while (c->bev == bev && evbuffer_get_length(in) > 0) {
		if (c->msg_fn != NULL && c->sub_fn != NULL && pubsub_frame_reader_idle(c->reader)) {
			enum framed fr = frame_chunk(c, bev, in);

			if (fr == FRAMED_GONE || fr == FRAMED_WAIT)
				return;
			if (fr == FRAMED_MORE)
				continue;
		}
		if (feed_chunk(c, bev, in) < 0)
			return;
	}
}

void conn_on_read(struct bufferevent *bev, void *arg)
{
	read_all(arg, bev, bufferevent_get_input(bev));
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

void conn_on_message(struct conn *c, conn_message_fn *fn)
{
	c->msg_fn = fn;
}

void conn_subscribed(struct conn *c)
{
	if (!c->confirming)
		return;
	c->confirming = false;
	c->guard.pending--;
	conn_rearm_deadline(c);
}
