/* conn: one async hiredis connection with timeouts and safe teardown.
 *
 * Lifetime rules for the hiredis context (0.14):
 * - hiredis frees the context itself after a failed connect (no disconnect
 *   callback) and after the disconnect callback; we NULL our pointer there.
 * - We never free a context inside one of its callbacks.  A failure seen in
 *   a callback parks the context in dead_ac and frees it from a zero-delay
 *   event, after the callback has returned.
 * - Every callback first checks that its context is still the current one,
 *   so replies that arrive for an abandoned context (or the NULL replies
 *   hiredis sends while freeing it) are ignored. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "conn.h"
#include "log.h"
#include "util.h"

/* What a reply belongs to: hiredis passes one pointer, we need three. */
struct req {
	struct conn *c;
	conn_reply_fn *fn;
	void *arg;
	bool persistent;	/* the subscription: called many times, never freed */
};

struct conn {
	struct event_base *base;
	struct evdns_base *dns;
	const struct conn_ops *ops;
	void *owner;
	const struct shard_conf *sc;

	redisAsyncContext *ac;
	redisAsyncContext *dead_ac;	/* to be freed outside its callbacks */
	struct evdns_getaddrinfo_request *dns_req;
	struct event *deadline;		/* connect or command timeout */
	struct event *reap;		/* frees dead_ac */
	unsigned pending;		/* timed commands awaiting a reply */
	bool open;			/* from conn_open until it fails or closes */
	bool connecting;		/* until the handshake is done */
	bool ready;
	bool subscribed;		/* conn_subscribe was called: pub/sub from here on */
	bool confirming;		/* the subscription counts as pending until confirmed */
	/* hiredis calls a subscription's callback once per message and, when
	 * freeing the context, once per channel: so it is embedded, not freed. */
	struct req sub_req;
};


static void arm(struct event *ev, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	event_add(ev, &tv);
}

bool conn_ready(const struct conn *c)
{
	return c->ready;
}

/* Stops every timer and request; safe inside a hiredis callback because
 * the context is only parked. */
static void abandon(struct conn *c)
{
	if (c->dns_req != NULL) {
		struct evdns_getaddrinfo_request *req = c->dns_req;

		c->dns_req = NULL;	/* the cancel callback must not find it */
		evdns_getaddrinfo_cancel(req);
	}
	if (c->ac != NULL) {
		c->dead_ac = c->ac;
		c->ac = NULL;
		event_active(c->reap, EV_TIMEOUT, 0);
	}
	event_del(c->deadline);
	c->pending = 0;
	c->open = false;
	c->connecting = false;
	c->ready = false;
	c->subscribed = false;
	c->confirming = false;
}

void conn_fail(struct conn *c, bool refused, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	bool was_open = c->open;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	abandon(c);
	if (was_open)
		c->ops->failed(c->owner, c, refused, msg);
	free(msg);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	redisAsyncContext *ac = c->dead_ac;

	(void)fd;
	(void)what;
	c->dead_ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);	/* its callbacks see ac != c->ac and return */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	/* A name still being resolved is the DNS server's silence, not the
	 * shard's: say which, or the operator looks in the wrong place. */
	if (c->dns_req != NULL)
		conn_fail(c, false, "resolve %s: no answer within %gs (connect_timeout_secs)", c->sc->addr.host,
			  c->sc->connect_timeout_secs);
	else if (c->connecting)
		conn_fail(c, false, "connect: timed out after %gs", c->sc->connect_timeout_secs);
	else
		conn_fail(c, false, "no reply within %gs (command_timeout_secs)", c->sc->command_timeout_secs);
}

/* The command timeout measures time without progress: it restarts with
 * every reply and stops when nothing is outstanding.  While connecting,
 * the connect timeout covers the handshake as a whole. */
static void rearm_deadline(struct conn *c)
{
	if (c->connecting)
		return;
	if (c->pending == 0)
		event_del(c->deadline);
	else
		arm(c->deadline, c->sc->command_timeout_secs);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *rq = privdata;
	struct conn *c = rq->c;

	if (ac != c->ac || reply == NULL) {
		if (!rq->persistent)
			free(rq);
		return;
	}
	if (!rq->persistent) {
		c->pending--;
		rearm_deadline(c);
	}
	rq->fn(c->owner, reply, rq->arg);
	if (!rq->persistent)
		free(rq);
}

static struct req *new_req(struct conn *c, conn_reply_fn *fn, void *arg)
{
	struct req *rq = xmalloc(sizeof(*rq));

	rq->c = c;
	rq->fn = fn;
	rq->arg = arg;
	rq->persistent = false;
	return rq;
}

static int sent(struct conn *c, struct req *rq, int rc)
{
	if (rc != REDIS_OK) {
		free(rq);
		conn_fail(c, false, "cannot send a command: %s", c->ac ? c->ac->errstr : "not connected");
		return -1;
	}
	if (c->pending++ == 0)
		rearm_deadline(c);
	return 0;
}

int conn_send(struct conn *c, conn_reply_fn *fn, void *arg, const char *fmt, ...)
{
	struct req *rq;
	va_list ap;
	int rc;

	if (c->ac == NULL)
		return -1;
	rq = new_req(c, fn, arg);
	va_start(ap, fmt);
	rc = redisvAsyncCommand(c->ac, on_reply, rq, fmt, ap);
	va_end(ap);
	return sent(c, rq, rc);
}

int conn_send_argv(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv, const size_t *lens)
{
	struct req *rq;

	if (c->ac == NULL)
		return -1;
	rq = new_req(c, fn, arg);
	return sent(c, rq, redisAsyncCommandArgv(c->ac, on_reply, rq, argc, argv, lens));
}

int conn_subscribe(struct conn *c, conn_reply_fn *fn, void *arg, int argc, const char **argv)
{
	struct req *rq;

	if (c->ac == NULL)
		return -1;
	rq = &c->sub_req;
	rq->c = c;
	rq->fn = fn;
	rq->arg = arg;
	rq->persistent = true;
	c->subscribed = true;
	if (redisAsyncCommandArgv(c->ac, on_reply, rq, argc, argv, NULL) != REDIS_OK) {
		conn_fail(c, false, "cannot subscribe: %s", c->ac ? c->ac->errstr : "not connected");
		return -1;
	}
	/* A server that never confirms (or answers something else, which
	 * hiredis drops) would leave the shard connecting forever. */
	c->confirming = true;
	if (c->pending++ == 0)
		rearm_deadline(c);
	return 0;
}

void conn_subscribed(struct conn *c)
{
	if (!c->confirming)
		return;
	c->confirming = false;
	c->pending--;
	rearm_deadline(c);
}

/* ---- replies hiredis would assert on -------------------------------------------- */

/* hiredis 0.14 aborts the process (assert) on some replies a broken server
 * or proxy may send: a reply when no command is waiting for one, or a
 * pub/sub message that is not an array of at least two strings (or an
 * "unsubscribe" without its count).  The reader builds replies through
 * these functions, which shape such replies as they are read: a reply to
 * no command becomes an error (hiredis then drops the connection, and we
 * reconnect), and a message's missing or odd parts become empty strings
 * (hiredis then drops the message, or passes it to track, which ignores
 * it).  The contents of an object replaced are read and freed at once:
 * their parent is `dropped`. */
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
	const struct conn *c = t->privdata;
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
	const struct conn *c = t->privdata;

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
	const struct conn *c = t->privdata;
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
static void guard_reader(struct conn *c, redisAsyncContext *ac)
{
	if (plain_fns == NULL)
		plain_fns = ac->c.reader->fn;
	ac->c.reader->fn = &guard_fns;
	ac->c.reader->privdata = c;
}

/* ---- the handshake ------------------------------------------------------------ */

static bool is_refusal(const char *err)
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

static void on_auth(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, is_refusal(r->str), "AUTH: %s", r->str);
}

static void on_select(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, is_refusal(r->str), "SELECT: %s", r->str);
}

static void on_handshake_done(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR) {
		conn_fail(c, is_refusal(r->str), "handshake: %s", r->str);
		return;
	}
	c->connecting = false;
	c->ready = true;
	rearm_deadline(c);
	c->ops->ready(c->owner, c);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct conn *c = ac->data;
	const struct shard_conf *sc;

	if (c == NULL || ac != c->ac)
		return;
	sc = c->sc;
	if (status != REDIS_OK) {
		c->ac = NULL;	/* hiredis frees it when we return */
		conn_fail(c, false, "connect: %s", ac->errstr);
		return;
	}
	/* Pipeline the handshake; the PING reply says all of it is done.  A
	 * failed step fails the conn, and later replies are then ignored. */
	if (sc->secret != NULL && *sc->username)
		conn_send(c, on_auth, c, "AUTH %s %s", sc->username, secret_str(sc->secret));
	else if (sc->secret != NULL)
		conn_send(c, on_auth, c, "AUTH %s", secret_str(sc->secret));
	if (c->ac != NULL && sc->db != 0)
		conn_send(c, on_select, c, "SELECT %llu", (unsigned long long)sc->db);
	if (c->ac != NULL)
		conn_send(c, on_handshake_done, c, "PING");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct conn *c = ac->data;

	(void)status;
	if (c == NULL)
		return;
	if (ac == c->dead_ac) {
		c->dead_ac = NULL;	/* hiredis frees it: never free it again */
		return;
	}
	if (ac != c->ac)
		return;
	c->ac = NULL;	/* hiredis frees it when we return */
	conn_fail(c, false, "connection lost: %s", ac->err ? ac->errstr : "closed by server");
}

static void connect_to(struct conn *c, const char *ip, int port)
{
	redisAsyncContext *ac;

	if (c->sc->addr.is_unix)
		ac = redisAsyncConnectUnix(c->sc->addr.path);
	else
		ac = redisAsyncConnect(ip, port);
	if (ac == NULL) {
		conn_fail(c, false, "connect: out of memory");
		return;
	}
	if (ac->err) {
		char *msg = xstrdup(ac->errstr);

		redisAsyncFree(ac);	/* ours alone: no callbacks are set yet */
		conn_fail(c, false, "connect: %s", msg);
		free(msg);
		return;
	}
	ac->data = c;
	c->ac = ac;
	guard_reader(c, ac);
	redisLibeventAttach(ac, c->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Resolution runs through evdns so that a slow DNS server never blocks
 * the loop; hiredis then gets a numeric address. */
static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;
	char ip[INET6_ADDRSTRLEN];
	const void *addr;

	if (result == EVUTIL_EAI_CANCEL)
		return;	/* abandoned: c may be gone */
	c->dns_req = NULL;
	if (result != 0 || res == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		conn_fail(c, false, "resolve %s: %s", c->sc->addr.host,
			  result == EVUTIL_EAI_NONAME ? "name not found" : evutil_gai_strerror(result));
		return;
	}
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, addr, ip, sizeof(ip));
	evutil_freeaddrinfo(res);
	connect_to(c, ip, c->sc->addr.port);
}

void conn_open(struct conn *c, const struct shard_conf *sc)
{
	struct evutil_addrinfo hints;

	conn_close(c);
	c->sc = sc;
	c->open = true;
	c->connecting = true;
	arm(c->deadline, sc->connect_timeout_secs);
	if (sc->addr.is_unix) {
		connect_to(c, NULL, 0);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* The callback may run before this returns (numeric hosts): it then
	 * returns NULL and the request is already done. */
	c->dns_req = evdns_getaddrinfo(c->dns, sc->addr.host, NULL, &hints, on_resolved, c);
}

void conn_set_conf(struct conn *c, const struct shard_conf *sc)
{
	c->sc = sc;
}

void conn_close(struct conn *c)
{
	abandon(c);
}

struct conn *conn_new(struct event_base *base, struct evdns_base *dns, const struct conn_ops *ops, void *owner)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->dns = dns;
	c->ops = ops;
	c->owner = owner;
	c->deadline = evtimer_new(base, on_deadline, c);
	c->reap = event_new(base, -1, 0, on_reap, c);
	if (c->deadline == NULL || c->reap == NULL) {
		log_error("out of memory creating events");
		abort();
	}
	return c;
}

void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	abandon(c);
	event_del(c->reap);
	on_reap(-1, 0, c);
	event_free(c->deadline);
	event_free(c->reap);
	free(c);
}
