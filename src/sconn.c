/* sconn: the client's blocking connection to a shard's Redis.
 *
 * hiredis 0.14's blocking context cannot carry TLS (it reads and writes
 * its socket itself), so gcs-flushctl does its own I/O here, blocking
 * with poll(2) deadlines: the client runs one command at a time and has
 * nothing else to do meanwhile, so an event loop would buy nothing.
 * hiredis formats the commands and parses the replies; the TLS context
 * and its checks are the daemon's own (tls.c), built from the same config,
 * so `restore` verifies the server exactly as the daemon does and reports
 * a failure in the same words.
 *
 * Owns its socket, its TLS session and its reader. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sconn.h"
#include "secret.h"
#include "tls.h"
#include "util.h"

struct sconn {
	int fd;
	SSL *ssl;			/* NULL: plain */
	redisReader *reader;
	double timeout;
	bool replied;			/* a reply came: past any TLS 1.3 client-certificate check */
	char *where;			/* host:port or the path, for messages */
};

/* Waits until fd is ready for events or the deadline passes (ETIMEDOUT). */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p = {fd, events, 0};
		double left = deadline - time_mono();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- connecting ------------------------------------------------------------ */

static int connect_addr(const struct sockaddr *sa, socklen_t len, double deadline)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, e = 0;
	socklen_t elen = sizeof(e);

	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 || e != 0) {
		errno = e ? e : errno;
		goto fail;
	}
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Each address the name resolves to, in turn; the last error counts. */
static int connect_shard(const struct parse_addr *a, double deadline, char **err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char port[16];
	int fd = -1, rc;

	if (a->is_unix) {
		if (strlen(a->path) >= sizeof(sun.sun_path)) {
			*err = xasprintf("connect: socket path longer than %zu bytes", sizeof(sun.sun_path) - 1);
			return -1;
		}
		memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
		if ((fd = connect_addr((struct sockaddr *)&sun, sizeof(sun), deadline)) < 0)
			*err = xasprintf("connect: %s", strerror(errno));
		return fd;
	}
	snprintf(port, sizeof(port), "%d", a->port);
	if ((rc = getaddrinfo(a->host, port, &hints, &res)) != 0) {
		*err = xasprintf("resolve %s: %s", a->host, rc == EAI_NONAME ? "name not found" : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
	if (fd < 0)
		*err = xasprintf("connect: %s", strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* ---- TLS ----------------------------------------------------------------------- */

/* What failed, as the daemon says it (conn.c); ret and sys_errno are the
 * failed call's. */
static char *tls_error(struct sconn *s, int ret, int sys_errno)
{
	int e = SSL_get_error(s->ssl, ret);
	unsigned long oe = ERR_peek_error();
	char *msg, *out;

	if (!s->replied && SSL_get_verify_result(s->ssl) == X509_V_OK && tls_cert_requested(s->ssl))
		msg = xstrdup("TLS: the server requires a client certificate, and none is configured "
			      "(tls_cert_file, tls_key_file)");
	else if (oe != 0 || SSL_get_verify_result(s->ssl) != X509_V_OK)
		msg = tls_describe(s->ssl, oe, 0);
	else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && sys_errno == 0))
		msg = xstrdup("connection lost: Server closed the connection");
	else
		msg = xasprintf("connection lost: %s", strerror(sys_errno));
	ERR_clear_error();
	out = xasprintf("%s (%s)", msg, s->where);
	free(msg);
	return out;
}

/* Runs one TLS call (SSL_connect, SSL_read or SSL_write) to completion or
 * failure, polling for what it wants; returns its result (> 0 ok). */
static int tls_call(struct sconn *s, int (*fn)(SSL *, void *, int), void *buf, int len, double deadline,
		    char **err)
{
	for (;;) {
		int r, e, sys;

		ERR_clear_error();
		errno = 0;
		r = fn(s->ssl, buf, len);
		if (r > 0)
			return r;
		sys = errno;
		e = SSL_get_error(s->ssl, r);
		if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
		    wait_fd(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) == 0)
			continue;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			*err = xasprintf("no reply within %gs (%s)", s->timeout, s->where);
		else
			*err = tls_error(s, r, sys);
		return -1;
	}
}

static int do_connect(SSL *ssl, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_connect(ssl);
}

static int do_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

static int do_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

/* ---- commands ----------------------------------------------------------------- */

static int write_all(struct sconn *s, const char *p, size_t n, double deadline, char **err)
{
	while (n > 0) {
		ssize_t w;

		if (s->ssl != NULL) {
			w = tls_call(s, do_write, (void *)p, n > 1 << 30 ? 1 << 30 : (int)n, deadline, err);
			if (w <= 0)
				return -1;
		} else if ((w = send(s->fd, p, n, MSG_NOSIGNAL)) < 0) {
			if ((errno == EAGAIN || errno == EINTR) && wait_fd(s->fd, POLLOUT, deadline) == 0)
				continue;
			*err = xasprintf("connection lost: %s (%s)", strerror(errno), s->where);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Some bytes, or 0 at EOF, or -1. */
static ssize_t read_some(struct sconn *s, char *buf, size_t cap, double deadline, char **err)
{
	ssize_t r;

	if (s->ssl != NULL)
		return tls_call(s, do_read, buf, (int)cap, deadline, err);
	for (;;) {
		if ((r = recv(s->fd, buf, cap, 0)) >= 0)
			return r;
		if ((errno == EAGAIN || errno == EINTR) && wait_fd(s->fd, POLLIN, deadline) == 0)
			continue;
		*err = errno == ETIMEDOUT ? xasprintf("no reply within %gs (%s)", s->timeout, s->where)
					  : xasprintf("connection lost: %s (%s)", strerror(errno), s->where);
		return -1;
	}
}

/* Sends cmd (len bytes; wiped after when it holds a secret), returns the reply. */
static redisReply *roundtrip(struct sconn *s, char *cmd, int len, bool secret, char **err)
{
	double deadline = time_mono() + s->timeout;
	void *reply = NULL;
	char buf[16384];
	int rc = len < 0 ? -1 : write_all(s, cmd, (size_t)len, deadline, err);

	if (len < 0)
		*err = xstrdup("cannot format a command");
	if (cmd != NULL && secret)
		secret_wipe(cmd, (size_t)len);
	free(cmd);
	while (rc == 0 && reply == NULL) {
		ssize_t n;

		if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
			*err = xasprintf("connection lost: %s (%s)", s->reader->errstr, s->where);
			return NULL;
		}
		if (reply != NULL)
			break;
		n = read_some(s, buf, sizeof(buf), deadline, err);
		if (n < 0) {
			rc = -1;
		} else if (n == 0) {
			*err = xasprintf("connection lost: Server closed the connection (%s)", s->where);
			rc = -1;
		} else if (redisReaderFeed(s->reader, buf, (size_t)n) != REDIS_OK) {
			*err = xstrdup("out of memory");
			rc = -1;
		}
	}
	if (reply != NULL)
		s->replied = true;
	return reply;
}

redisReply *sconn_command_argv(struct sconn *s, int argc, const char **argv, const size_t *lens, char **err)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

	return roundtrip(s, cmd, len, false, err);
}

redisReply *sconn_command(struct sconn *s, char **err, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	return roundtrip(s, cmd, len, false, err);
}

static int auth(struct sconn *s, const struct shard_conf *sc, char **err)
{
	char *cmd = NULL;
	redisReply *r;
	int len = *sc->username ? redisFormatCommand(&cmd, "AUTH %s %s", sc->username, secret_str(sc->secret))
				: redisFormatCommand(&cmd, "AUTH %s", secret_str(sc->secret));

	if ((r = roundtrip(s, cmd, len, true, err)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		*err = xasprintf("AUTH: %s", r->str);
	len = r->type == REDIS_REPLY_ERROR ? -1 : 0;
	freeReplyObject(r);
	return len;
}

struct sconn *sconn_open(const struct shard_conf *sc, double timeout_secs, char **err)
{
	struct sconn *s = xcalloc(1, sizeof(*s));
	double deadline = time_mono() + timeout_secs;
	const char *name = *sc->tls_server_name ? sc->tls_server_name : sc->addr.host;

	s->timeout = timeout_secs;
	s->where = xstrdup(sc->address);
	s->reader = redisReaderCreate();
	if ((s->fd = connect_shard(&sc->addr, deadline, err)) < 0)
		goto fail;
	if (sc->tls_ctx != NULL) {
		if ((s->ssl = tls_ssl_new(sc->tls_ctx, name, err)) == NULL)
			goto fail;
		SSL_set_fd(s->ssl, s->fd);
		if (tls_call(s, do_connect, NULL, 0, deadline, err) < 0)
			goto fail;
	}
	if (sc->secret != NULL && auth(s, sc, err) < 0)
		goto fail;
	return s;
fail:
	sconn_close(s);
	return NULL;
}

void sconn_close(struct sconn *s)
{
	if (s == NULL)
		return;
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	if (s->fd >= 0)
		close(s->fd);
	redisReaderFree(s->reader);
	free(s->where);
	free(s);
}
