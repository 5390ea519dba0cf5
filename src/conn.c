/* conn: one connection to a Redis server, its lifetime: resolving,
 * connecting, TLS, the handshake, timeouts and losses.  Its own I/O is on
 * a libevent bufferevent, hiredis only the RESP codec (conn_wire.c carries
 * the commands and replies).
 *
 * Why not hiredis's async context: hiredis 0.14 has no TLS, no timeouts,
 * and lifetime rules (it frees the context itself, after callbacks that
 * must not free it) that every caller had to work around.  A bufferevent
 * gives TLS through bufferevent_openssl with the same code for plain TCP
 * and UNIX sockets; hiredis's reader (redisReaderFeed/GetReply) parses the
 * replies out of its input, and redisFormatCommand* writes the commands.
 *
 * The rules that keep it safe:
 * - Replies come back in the order commands were sent, so a ring of the
 *   callbacks awaiting them is all the bookkeeping (`q`).  A reply when
 *   none is awaited goes to the subscription, if any; the reply guard
 *   (reply_guard.c) has already made it an error otherwise.
 * - A failure, wherever it is seen, abandons the connection at once: the
 *   reader is freed, the bufferevent loses its callbacks and is parked,
 *   then freed from a zero-delay event, never inside its own callback.
 *   The read loop checks after every reply it delivers that its
 *   bufferevent is still the current one, and stops if not.
 * - Every user hears of every loss (conn_on_lost), once.
 *
 * Owns the bufferevent, the reader, the timers and its copy of the
 * connection parameters (conn_int.h has the state both files share).
 * Knows nothing of what the commands it carries mean: that is its users'
 * business. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "conn_int.h"
#include "reply_guard.h"
#include "log.h"
#include "secret.h"
#include "timer.h"
#include "tls.h"
#include "util.h"


bool conn_ready(const struct conn *c)
{
	return c->ready;
}

/* ---- losing the connection -------------------------------------------------- */

static void bury(struct dead *d)
{
	if (d->bev != NULL)
		bufferevent_free(d->bev);
	if (d->fd >= 0)
		close(d->fd);	/* after its events are gone */
	d->bev = NULL;
	d->fd = -1;
}

/* Parks bev (with fd, which it does not own, or -1) until the reap. */
static void park(struct conn *c, struct bufferevent *bev, int fd)
{
	/* No callback of bev runs from here on. */
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	/* The older of two parked already was abandoned outside the callback
	 * we may be in (reopening from a callback is not allowed): nothing
	 * can still be using it. */
	bury(&c->dead[1]);
	c->dead[1] = c->dead[0];
	c->dead[0] = (struct dead){bev, fd};
	event_active(c->reap, EV_TIMEOUT, 0);
}

/* Stops every timer and request; safe inside our own callbacks because the
 * bufferevent is only parked, and the read loop checks for it. */
static void abandon(struct conn *c)
{
	if (c->dns_req != NULL) {
		struct evdns_getaddrinfo_request *req = c->dns_req;

		c->dns_req = NULL;	/* the cancel callback must not find it */
		evdns_getaddrinfo_cancel(req);
	}
	if (c->bev != NULL) {
		park(c, c->bev, c->raw_fd);
		c->bev = NULL;
		c->raw_fd = -1;
	}
	if (c->reader != NULL) {
		redisReaderFree(c->reader);
		c->reader = NULL;
	}
	event_del(c->deadline);
	c->qhead = c->qlen = 0;
	c->sub_fn = NULL;
	c->guard.pending = 0;
	c->open = false;
	c->connecting = false;
	c->transport_up = false;
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

	(void)fd;
	(void)what;
	bury(&c->dead[1]);
	bury(&c->dead[0]);
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
/* ---- the handshake ------------------------------------------------------------ */

static void on_auth(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, conn_is_refusal(r->str), "AUTH: %s", r->str);
}

static void on_select(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, conn_is_refusal(r->str), "SELECT: %s", r->str);
}

static void on_handshake_done(void *owner, redisReply *r, void *arg)
{
	struct conn *c = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ERROR) {
		conn_fail(c, conn_is_refusal(r->str), "handshake: %s", r->str);
		return;
	}
	c->connecting = false;
	c->ready = true;
	conn_rearm_deadline(c);
	c->ready_fn(c->owner, c);
}

static int send_secret(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = conn_vsend(c, true, on_auth, c, fmt, ap);
	va_end(ap);
	return rc;
}

/* Connected (and the TLS handshake done): pipeline ours; the PING reply
 * says all of it is done.  A failed step fails the conn, and later
 * replies are then ignored. */
static void on_transport_up(struct conn *c)
{
	c->transport_up = true;
	if (c->secret != NULL && *c->username)
		send_secret(c, "AUTH %s %s", c->username, secret_str(c->secret));
	else if (c->secret != NULL)
		send_secret(c, "AUTH %s", secret_str(c->secret));
	if (c->bev != NULL && c->db != 0)
		conn_send(c, on_select, c, "SELECT %llu", (unsigned long long)c->db);
	if (c->bev != NULL)
		conn_send(c, on_handshake_done, c, "PING");
}

/* What went wrong on bev, in the words the operator needs: a TLS failure
 * (a refusal: retrying cannot fix a certificate) names the certificate
 * check's verdict or the TLS alert; anything else is the socket's. */
static void fail_io(struct conn *c, struct bufferevent *bev, short what)
{
	int err = EVUTIL_SOCKET_ERROR();
	const char *phase = c->transport_up ? "connection lost" : "connect";

	if (c->tls != NULL && c->raw_fd < 0) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		unsigned long e = 0, x;
		char *msg;

		/* libevent queues SSL_get_error()'s code (SSL_ERROR_SYSCALL for a
		 * socket error) before OpenSSL's own errors: only those name a
		 * library, and the first of them is the cause. */
		while ((x = bufferevent_get_openssl_error(bev)) != 0)
			if (e == 0 && ERR_GET_LIB(x) != 0)
				e = x;
		/* Dropped before our first reply after the server asked for a
		 * certificate we lack: that is why, whether its alert came
		 * through or was lost behind a reset (the TLS 1.3 race). */
		if (!c->ready && ssl != NULL && SSL_get_verify_result(ssl) == X509_V_OK && tls_cert_requested(ssl)) {
			conn_fail(c, true, "TLS: the server requires a client certificate, and none is configured "
				  "(tls_cert_file, tls_key_file) (%s)", c->where);
			return;
		}
		if (e != 0 || (ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK)) {
			msg = tls_describe(ssl, e, 0);
			conn_fail(c, true, "%s (%s)", msg, c->where);
			free(msg);
			return;
		}
	}
	if ((what & BEV_EVENT_EOF) || err == 0)
		conn_fail(c, false, "%s: Server closed the connection", phase);
	else
		conn_fail(c, false, "%s: %s", phase, evutil_socket_error_to_string(err));
}

static void start_tls(struct conn *c, struct bufferevent *tcp);

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (bev != c->bev)
		return;
	if ((what & BEV_EVENT_CONNECTED) && c->raw_fd >= 0)
		start_tls(c, bev);
	else if (what & BEV_EVENT_CONNECTED)
		on_transport_up(c);
	else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fail_io(c, bev, what);
}

/* ---- connecting ----------------------------------------------------------------- */

/* TCP is connected: TLS starts on the same socket, in a bufferevent of
 * its own that takes the socket over; the TCP one is parked. */
static void start_tls(struct conn *c, struct bufferevent *tcp)
{
	const char *name = *c->tls_server_name ? c->tls_server_name : c->addr.host;
	struct bufferevent *bev;
	char *err = NULL;
	SSL *ssl;

	if ((ssl = tls_ssl_new(c->tls, name, &err)) == NULL) {
		conn_fail(c, true, "%s (%s)", err, c->where);
		free(err);
		return;
	}
	/* Frees ssl if it fails; with the bufferevent, ssl and the socket. */
	bev = bufferevent_openssl_socket_new(c->base, c->raw_fd, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		conn_fail(c, false, "connect: out of memory");
		return;
	}
	park(c, tcp, -1);
	c->bev = bev;
	c->raw_fd = -1;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, conn_on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* TCP first, TLS on top once connected: a refused or timed-out connect
 * then reads exactly as over plain TCP, and a TLS failure is TLS's own. */
static void connect_to(struct conn *c, const struct sockaddr *sa, socklen_t salen)
{
	struct bufferevent *bev;
	int one = 1, fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		conn_fail(c, false, "connect: %s", strerror(errno));
		return;
	}
	/* Commands go out as they are written, as hiredis had them. */
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->reader = redisReaderCreate();
	bev = c->reader ? bufferevent_socket_new(c->base, fd, c->tls ? 0 : BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (bev == NULL) {
		close(fd);
		conn_fail(c, false, "connect: out of memory");
		return;
	}
	c->bev = bev;
	c->raw_fd = c->tls ? fd : -1;
	reply_guard_attach(&c->guard, c->reader);
	bufferevent_setcb(bev, conn_on_read, NULL, on_event, c);
	/* An immediate failure may be reported from inside (then c->bev is
	 * no longer bev), or only by the return value. */
	if (bufferevent_socket_connect(bev, sa, (int)salen) < 0) {
		if (c->bev == bev)
			conn_fail(c, false, "connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (c->bev == bev)
		bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void connect_unix(struct conn *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(c->addr.path) >= sizeof(sun.sun_path)) {
		conn_fail(c, false, "connect: socket path longer than %zu bytes", sizeof(sun.sun_path) - 1);
		return;
	}
	memcpy(sun.sun_path, c->addr.path, strlen(c->addr.path) + 1);
	connect_to(c, (struct sockaddr *)&sun, sizeof(sun));
}

/* Resolution runs through evdns so that a slow DNS server never blocks
 * the loop. */
static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;
	struct sockaddr_storage ss;
	socklen_t len;

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
	len = (socklen_t)res->ai_addrlen;
	memcpy(&ss, res->ai_addr, len);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)c->addr.port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)c->addr.port);
	evutil_freeaddrinfo(res);
	connect_to(c, (struct sockaddr *)&ss, len);
}

/* ---- parameters and lifetime ----------------------------------------------------- */

void conn_params_from_conf(struct conn_params *p, const struct shard_conf *sc)
{
	p->addr = sc->addr;
	p->username = sc->username;
	p->secret = sc->secret;
	p->db = sc->db;
	p->connect_timeout_secs = sc->connect_timeout_secs;
	p->command_timeout_secs = sc->command_timeout_secs;
	p->tls = sc->tls_ctx;
	p->tls_server_name = sc->tls_server_name;
}

static void params_free(struct conn *c)
{
	parse_addr_free(&c->addr);
	free(c->username);
	c->username = NULL;
	secret_free(c->secret);
	c->secret = NULL;
	tls_ctx_unref(c->tls);
	c->tls = NULL;
	free(c->tls_server_name);
	c->tls_server_name = NULL;
	free(c->where);
	c->where = NULL;
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
	c->tls = tls_ctx_ref(p->tls);
	c->tls_server_name = xstrdup(p->tls_server_name ? p->tls_server_name : "");
	if (c->addr.is_unix)
		c->where = xstrdup(c->addr.path);
	else
		c->where = xasprintf(strchr(c->addr.host, ':') ? "[%s]:%d" : "%s:%d", c->addr.host, c->addr.port);
}

void conn_open(struct conn *c)
{
	struct evutil_addrinfo hints;

	conn_close(c, "reconnecting");
	c->open = true;
	c->connecting = true;
	timer_arm(c->deadline, c->connect_timeout_secs);
	if (c->addr.is_unix) {
		connect_unix(c);
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
	c->raw_fd = c->dead[0].fd = c->dead[1].fd = -1;
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
	free(c->q);
	free(c);
}
