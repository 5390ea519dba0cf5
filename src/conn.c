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

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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
	if (c->connecting)
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
	if (redisAsyncCommandArgv(c->ac, on_reply, rq, argc, argv, NULL) != REDIS_OK) {
		conn_fail(c, false, "cannot subscribe: %s", c->ac ? c->ac->errstr : "not connected");
		return -1;
	}
	return 0;
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
