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
 *   hiredis sends while freeing it) are ignored.
 *
 * Owns the context, its timers and its copy of the connection parameters,
 * and tells every registered user of a loss.  Knows nothing of what the
 * commands it carries mean: that is its users' business. */
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
#include "reply_guard.h"
#include "log.h"
#include "secret.h"
#include "timer.h"
#include "util.h"

/* What a reply belongs to: hiredis passes one pointer, we need three. */
struct req {
	struct conn *c;
	conn_reply_fn *fn;
	void *arg;
	bool persistent;	/* the subscription: called many times, never freed */
};

struct conn_user {
	conn_lost_fn *fn;
	void *arg;
};

struct conn {
	struct event_base *base;
	struct evdns_base *dns;
	conn_ready_fn *ready_fn;
	void *owner;
	struct conn_user users[CONN_MAX_USERS];
	size_t nusers;

	/* Our copy of the parameters (conn_set_params). */
	struct parse_addr addr;
	char *username;
	struct secret *secret;
	uint64_t db;
	double connect_timeout_secs, command_timeout_secs;

	redisAsyncContext *ac;
	redisAsyncContext *dead_ac;	/* to be freed outside its callbacks */
	struct evdns_getaddrinfo_request *dns_req;
	struct event *deadline;		/* connect or command timeout */
	struct event *reap;		/* frees dead_ac */
	bool open;			/* from conn_open until it fails or closes */
	bool connecting;		/* until the handshake is done */
	bool ready;
	struct reply_guard guard;	/* subscribed and pending, as the reader's guards see them */
	bool confirming;		/* the subscription counts as pending until confirmed */
	/* hiredis calls a subscription's callback once per message and, when
	 * freeing the context, once per channel: so it is embedded, not freed. */
	struct req sub_req;
};


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
	c->guard.pending = 0;
	c->open = false;
	c->connecting = false;
	c->ready = false;
	c->guard.subscribed = false;
	c->confirming = false;
}

/* Every user hears of a loss the same way, once: the conn is already
 * abandoned, so a user's own conn_close or conn_fail is a no-op. */
static void lost(struct conn *c, bool refused, bool closed, const char *msg)
{
	struct conn_loss loss = {refused, closed, msg};
	bool was_open = c->open;

	abandon(c);
	if (!was_open)
		return;
	for (size_t i = 0; i < c->nusers; i++)
		c->users[i].fn(c->users[i].arg, &loss);
}

void conn_fail(struct conn *c, bool refused, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	lost(c, refused, false, msg);
	free(msg);
}

void conn_close(struct conn *c, const char *why)
{
	lost(c, false, true, why);
}

void conn_on_lost(struct conn *c, conn_lost_fn *fn, void *arg)
{
	if (c->nusers == CONN_MAX_USERS)
		abort();	/* raise CONN_MAX_USERS */
	c->users[c->nusers].fn = fn;
	c->users[c->nusers].arg = arg;
	c->nusers++;
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
		conn_fail(c, false, "resolve %s: no answer within %gs (connect_timeout_secs)", c->addr.host,
			  c->connect_timeout_secs);
	else if (c->connecting)
		conn_fail(c, false, "connect: timed out after %gs", c->connect_timeout_secs);
	else
		conn_fail(c, false, "no reply within %gs (command_timeout_secs)", c->command_timeout_secs);
}

/* The command timeout measures time without progress: it restarts with
 * every reply and stops when nothing is outstanding.  While connecting,
 * the connect timeout covers the handshake as a whole. */
static void rearm_deadline(struct conn *c)
{
	if (c->connecting)
		return;
	if (c->guard.pending == 0)
		event_del(c->deadline);
	else
		timer_arm(c->deadline, c->command_timeout_secs);
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
		c->guard.pending--;
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
	if (c->guard.pending++ == 0)
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
	c->guard.subscribed = true;
	if (redisAsyncCommandArgv(c->ac, on_reply, rq, argc, argv, NULL) != REDIS_OK) {
		conn_fail(c, false, "cannot subscribe: %s", c->ac ? c->ac->errstr : "not connected");
		return -1;
	}
	/* A server that never confirms (or answers something else, which
	 * hiredis drops) would leave the shard connecting forever. */
	c->confirming = true;
	if (c->guard.pending++ == 0)
		rearm_deadline(c);
	return 0;
}

void conn_subscribed(struct conn *c)
{
	if (!c->confirming)
		return;
	c->confirming = false;
	c->guard.pending--;
	rearm_deadline(c);
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
	c->ready_fn(c->owner, c);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct conn *c = ac->data;

	if (c == NULL || ac != c->ac)
		return;
	if (status != REDIS_OK) {
		c->ac = NULL;	/* hiredis frees it when we return */
		conn_fail(c, false, "connect: %s", ac->errstr);
		return;
	}
	/* Pipeline the handshake; the PING reply says all of it is done.  A
	 * failed step fails the conn, and later replies are then ignored. */
	if (c->secret != NULL && *c->username)
		conn_send(c, on_auth, c, "AUTH %s %s", c->username, secret_str(c->secret));
	else if (c->secret != NULL)
		conn_send(c, on_auth, c, "AUTH %s", secret_str(c->secret));
	if (c->ac != NULL && c->db != 0)
		conn_send(c, on_select, c, "SELECT %llu", (unsigned long long)c->db);
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

	if (c->addr.is_unix)
		ac = redisAsyncConnectUnix(c->addr.path);
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
	reply_guard_attach(&c->guard, ac->c.reader);
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
		conn_fail(c, false, "resolve %s: %s", c->addr.host,
			  result == EVUTIL_EAI_NONAME ? "name not found" : evutil_gai_strerror(result));
		return;
	}
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, addr, ip, sizeof(ip));
	evutil_freeaddrinfo(res);
	connect_to(c, ip, c->addr.port);
}

void conn_params_from_conf(struct conn_params *p, const struct shard_conf *sc)
{
	p->addr = sc->addr;
	p->username = sc->username;
	p->secret = sc->secret;
	p->db = sc->db;
	p->connect_timeout_secs = sc->connect_timeout_secs;
	p->command_timeout_secs = sc->command_timeout_secs;
}

static void params_free(struct conn *c)
{
	parse_addr_free(&c->addr);
	free(c->username);
	c->username = NULL;
	secret_free(c->secret);
	c->secret = NULL;
}

void conn_set_params(struct conn *c, const struct conn_params *p)
{
	params_free(c);
	c->addr.is_unix = p->addr.is_unix;
	c->addr.host = p->addr.host ? xstrdup(p->addr.host) : NULL;
	c->addr.port = p->addr.port;
	c->addr.path = p->addr.path ? xstrdup(p->addr.path) : NULL;
	c->username = xstrdup(p->username);
	if (p->secret != NULL)
		c->secret = secret_new(secret_str(p->secret), strlen(secret_str(p->secret)));
	c->db = p->db;
	c->connect_timeout_secs = p->connect_timeout_secs;
	c->command_timeout_secs = p->command_timeout_secs;
}

void conn_open(struct conn *c)
{
	struct evutil_addrinfo hints;

	conn_close(c, "reconnecting");
	c->open = true;
	c->connecting = true;
	timer_arm(c->deadline, c->connect_timeout_secs);
	if (c->addr.is_unix) {
		connect_to(c, NULL, 0);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* The callback may run before this returns (numeric hosts): it then
	 * returns NULL and the request is already done. */
	c->dns_req = evdns_getaddrinfo(c->dns, c->addr.host, NULL, &hints, on_resolved, c);
}

struct conn *conn_new(struct event_base *base, struct evdns_base *dns, conn_ready_fn *ready, void *owner)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->dns = dns;
	c->ready_fn = ready;
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
	params_free(c);
	free(c);
}
