/* reply_guard: hiredis reply building that never reaches one of hiredis's
 * asserts.
 *
 * hiredis 0.14 aborts the process (assert) on some replies a broken server
 * or proxy may send: a reply when no command is waiting for one, or a
 * pub/sub message that is not an array of at least two strings (or an
 * "unsubscribe" without its count).  The reader builds replies through
 * these functions, which shape such replies as they are read: a reply to
 * no command becomes an error (hiredis then drops the connection, and we
 * reconnect), and a message's missing or odd parts become empty strings
 * (hiredis then drops the message, or passes it to track, which ignores
 * it).  The contents of an object replaced are read and freed at once:
 * their parent is `dropped`.
 *
 * It only shapes replies; what they mean is the connection's business. */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "reply_guard.h"

static redisReplyObjectFunctions *plain_fns;	/* hiredis's own */
static redisReply dropped = {.type = REDIS_REPLY_NIL};
static char empty[1];			/* hiredis wants a char *, and copies it */

static bool drop(const redisReadTask *t)
{
	return t->parent != NULL && (t->parent->obj == &dropped ||
				     ((redisReply *)t->parent->obj)->type != REDIS_REPLY_ARRAY);
}

/* A message part hiredis reads without checking: the kind and the
 * channel (strings), and the count of an "unsubscribe" (an integer). */
static int routing_type(const redisReadTask *t)
{
	const struct reply_guard *c = t->privdata;
	const redisReply *msg;

	if (c == NULL || !c->subscribed || t->parent == NULL || t->parent->parent != NULL)
		return -1;
	if (t->idx < 2)
		return REDIS_REPLY_STRING;
	msg = t->parent->obj;
	if (t->idx == 2) {
		const char *kind = msg->element[0]->str;

		if (tolower((unsigned char)*kind) == 'p')
			kind++;
		/* The first letter spares every "message" the full compare. */
		if (tolower((unsigned char)*kind) == 'u' && strcasecmp(kind, "unsubscribe") == 0)
			return REDIS_REPLY_INTEGER;
	}
	return -1;
}

/* Puts a harmless object of the type hiredis expects in t's place. */
static void *stand_in(const redisReadTask *t, int type)
{
	redisReadTask st = *t;

	st.type = type;
	if (type == REDIS_REPLY_INTEGER)
		return plain_fns->createInteger(&st, 1);
	return plain_fns->createString(&st, empty, 0);
}

/* Is t a reply no command waits for? */
static bool unsolicited(const redisReadTask *t)
{
	const struct reply_guard *c = t->privdata;

	return c != NULL && t->parent == NULL && !c->subscribed && c->pending == 0;
}

static void *unsolicited_error(const redisReadTask *t)
{
	static char msg[] = "ERR the server sent a reply to no command";
	redisReadTask st = *t;

	st.type = REDIS_REPLY_ERROR;
	return plain_fns->createString(&st, msg, sizeof(msg) - 1);
}

/* Creates the object of a dropped part, frees it, and goes on. */
static void *discard(redisReply *r)
{
	if (r != NULL)
		plain_fns->freeObject(r);
	return &dropped;
}

/* A copy of t without its parent, for an object that is made only to be
 * freed at once. */
static const redisReadTask *orphan(const redisReadTask *t, redisReadTask *o)
{
	*o = *t;
	o->parent = NULL;
	return o;
}

/* Whether t, read as an object of this type, must be replaced; if so,
 * *r is what goes in its place (NULL when out of memory). */
static bool replaced(const redisReadTask *t, int type, void **r)
{
	int want;

	if (unsolicited(t)) {
		*r = unsolicited_error(t);
		return true;
	}
	want = routing_type(t);
	if (want < 0 || want == type)
		return false;
	*r = stand_in(t, want);
	return true;
}

static void *guard_string(const redisReadTask *t, char *s, size_t len)
{
	redisReadTask o;
	void *r;

	if (drop(t))
		return discard(plain_fns->createString(orphan(t, &o), s, len));
	if (replaced(t, t->type, &r))
		return r;
	return plain_fns->createString(t, s, len);
}

static void *guard_integer(const redisReadTask *t, long long v)
{
	redisReadTask o;
	void *r;

	if (drop(t))
		return discard(plain_fns->createInteger(orphan(t, &o), v));
	if (replaced(t, REDIS_REPLY_INTEGER, &r))
		return r;
	return plain_fns->createInteger(t, v);
}

static void *guard_nil(const redisReadTask *t)
{
	redisReadTask o;
	void *r;

	if (drop(t))
		return discard(plain_fns->createNil(orphan(t, &o)));
	if (replaced(t, REDIS_REPLY_NIL, &r))
		return r;
	return plain_fns->createNil(t);
}

/* An array's elements follow it: a replaced array's go to `dropped`. */
static void *guard_array(const redisReadTask *t, int n)
{
	const struct reply_guard *c = t->privdata;
	redisReply *r;
	void *rep;

	if (drop(t))
		return &dropped;
	if (replaced(t, REDIS_REPLY_ARRAY, &rep))
		return rep;	/* an error, or no array: what follows is dropped */
	if (c == NULL || !c->subscribed || t->parent != NULL || n >= 3)
		return plain_fns->createArray(t, n);
	/* A message of fewer than three parts: the missing ones stand in. */
	r = plain_fns->createArray(t, 3);
	for (int i = n; r != NULL && i < 3; i++) {
		redisReadTask st = {.type = REDIS_REPLY_STRING, .idx = i, .obj = r, .parent = NULL};

		r->element[i] = i < 2 ? plain_fns->createString(&st, empty, 0) : plain_fns->createInteger(&st, 1);
	}
	return r;
}

static void guard_free(void *r)
{
	if (r != &dropped)
		plain_fns->freeObject(r);
}

static redisReplyObjectFunctions guard_fns = {guard_string, guard_array, guard_integer, guard_nil, guard_free};

/* Makes c's reader build its replies through the guard functions. */
void reply_guard_attach(struct reply_guard *g, redisReader *reader)
{
	if (plain_fns == NULL)
		plain_fns = reader->fn;
	reader->fn = &guard_fns;
	reader->privdata = g;
}
