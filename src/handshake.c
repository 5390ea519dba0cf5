/* handshake: CONFIG GET notify-keyspace-events, and CONFIG SET when flags
 * are missing.  Sends on the command connection only while the shard is
 * connecting; a refusal fails that connection, which tells every part. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "handshake.h"
#include "log.h"
#include "util.h"

struct handshake {
	void (*done)(void *owner);
	void (*not_master)(void *owner, const char *why);
	void *owner;
	char *name;
	char *value;		/* notify-keyspace-events being set */
};

char *handshake_missing_flags(const char *current)
{
	struct buf out;
	/* 'A' stands for "g$lshzxetd": it covers g, x and e, but not n or E. */
	bool has_all = strchr(current, 'A') != NULL;

	buf_init(&out);
	for (const char *f = HANDSHAKE_NOTIFY_FLAGS; *f; f++) {
		bool covered = strchr(current, *f) != NULL || (has_all && strchr("gxe", *f) != NULL);

		if (!covered)
			buf_putc(&out, *f);
	}
	return out.data;
}

/* value: what notify-keyspace-events must be, the operator's flags kept. */
static void refuse(struct conn *c, const char *value, const char *err)
{
	conn_fail(c, true, "cannot enable keyspace notifications (%s); add to redis.conf: notify-keyspace-events %s",
		  err, value);
}

static void on_config_set(void *owner, redisReply *r, void *arg)
{
	struct handshake *h = owner;
	struct conn *c = arg;

	if (r->type == REDIS_REPLY_ERROR) {
		refuse(c, h->value, r->str);
		return;
	}
	log_notice("shard %s: set notify-keyspace-events to '%s'", h->name, h->value);
	h->done(h->owner);
}

/* Adds the notification flags tracking needs; never removes the
 * operator's. */
static void on_config_get(void *owner, redisReply *r, void *arg)
{
	struct handshake *h = owner;
	struct conn *c = arg;
	const char *current;
	char *missing;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
		refuse(c, HANDSHAKE_NOTIFY_FLAGS, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected CONFIG GET reply");
		return;
	}
	current = r->element[1]->str;
	missing = handshake_missing_flags(current);
	if (*missing == '\0') {
		free(missing);
		h->done(h->owner);
		return;
	}
	free(h->value);
	h->value = xasprintf("%s%s", current, missing);
	free(missing);
	conn_send(c, on_config_set, c, "CONFIG SET notify-keyspace-events %s", h->value);
}

/* ROLE: "master", "slave" or "sentinel" first.  A replica, or a master
 * demoted since the topology was read, must never see a delete. */
static void on_role(void *owner, redisReply *r, void *arg)
{
	struct handshake *h = owner;
	struct conn *c = arg;
	char *why;

	if (r->type == REDIS_REPLY_ERROR) {
		conn_fail(c, true, "ROLE: %s (the daemon needs ROLE to tell a master)", r->str);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0) {
		conn_send(c, on_config_get, c, "CONFIG GET notify-keyspace-events");
		return;
	}
	why = xasprintf("not a master (ROLE: %s)", r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
				r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "unexpected reply");
	conn_fail(c, false, "%s", why);
	h->not_master(h->owner, why);
	free(why);
}

void handshake_ready(void *arg, struct conn *c)
{
	(void)arg;
	conn_send(c, on_role, c, "ROLE");
}

struct handshake *handshake_new(const char *name, void (*done)(void *owner),
				void (*not_master)(void *owner, const char *why), void *owner)
{
	struct handshake *h = xcalloc(1, sizeof(*h));

	h->done = done;
	h->not_master = not_master;
	h->owner = owner;
	h->name = xstrdup(name);
	return h;
}

void handshake_set_name(struct handshake *h, const char *name)
{
	free(h->name);
	h->name = xstrdup(name);
}

void handshake_free(struct handshake *h)
{
	if (h == NULL)
		return;
	free(h->name);
	free(h->value);
	free(h);
}
