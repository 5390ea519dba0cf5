/* http: the listener behind metrics_listen: one path, GET and HEAD, one
 * answer per connection (Connection: close), on the event loop.
 *
 * Not libevent's evhttp, which would need no code of ours: in 2.1 it has
 * no cap on connections, and its timeout restarts with every byte read, so
 * a client dripping its headers a byte at a time keeps its connection and
 * buffers for as long as it likes, and many such clients take every
 * descriptor.  A port that Prometheus scrapes is reachable from the
 * network, so this follows ctl.c instead: at most HTTP_MAX_CLIENTS
 * connections; a deadline for the whole request head from accept, never
 * restarted, and one for the whole connection; a head of at most
 * HTTP_MAX_HEAD bytes (the bufferevent reads no further); accept paused
 * on EMFILE.  Memory is bounded by the cap times (HTTP_MAX_HEAD plus one
 * answer).  Owns the listening socket and its connections; what the
 * answer says is the caller's. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "http.h"
#include "log.h"
#include "parse.h"
#include "timer.h"

#define HTTP_ACCEPT_PAUSE_SECS 1
#define HTTP_REFUSED_LOG_SECS 60	/* at most one warning a minute: the port is public */

struct http_client {
	struct http *h;
	struct bufferevent *bev;
	struct http_client *next, *prev;
	struct event *deadline;
	double accepted;	/* monotonic */
	bool answered;		/* the answer is written or being written */
	bool shut;		/* all of it left: our side is shut down */
	bool eof;		/* the client shut its side */
};

struct http {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume_timer;	/* re-enables accept after EMFILE */
	char *listen, *path, *content_type;
	http_body_fn *fn;
	void *arg;
	struct http_client *clients;
	size_t nclients;
	double refused_logged;		/* monotonic; 0: never */
};

static void client_free(struct http_client *cl)
{
	struct http *h = cl->h;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		h->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	h->nclients--;
	event_free(cl->deadline);
	bufferevent_free(cl->bev);
	free(cl);
}

/* The rest of HTTP_CONN_SECS, or less. */
static void rearm(struct http_client *cl, double at_most)
{
	double left = cl->accepted + HTTP_CONN_SECS - time_mono();

	timer_arm(cl->deadline, left < at_most ? left : at_most);
}

static void respond(struct http_client *cl, int code, const char *reason, const char *extra_headers,
		    const char *ctype, const char *body, size_t len, bool with_body)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	cl->answered = true;
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			    code, reason, ctype, len, extra_headers);
	if (with_body)
		evbuffer_add(out, body, len);
	bufferevent_enable(cl->bev, EV_WRITE);
	rearm(cl, HTTP_CONN_SECS);
}

static void respond_text(struct http_client *cl, int code, const char *reason, const char *extra, const char *text)
{
	respond(cl, code, reason, extra, "text/plain; charset=utf-8", text, strlen(text), true);
}

/* Answers the request line (NUL-terminated, without its line end). */
static void request(struct http_client *cl, char *line)
{
	struct http *h = cl->h;
	char *method = line, *target, *version, *query;
	bool head;

	target = strchr(method, ' ');
	version = target ? strchr(target + 1, ' ') : NULL;
	if (target == NULL || version == NULL || strchr(version + 1, ' ') != NULL ||
	    strncmp(version + 1, "HTTP/1.", 7) != 0 || target[1] != '/') {
		respond_text(cl, 400, "Bad Request", "", "bad request line\n");
		return;
	}
	*target++ = '\0';
	*version = '\0';
	if ((query = strchr(target, '?')) != NULL)
		*query = '\0';
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond_text(cl, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "only GET and HEAD\n");
	} else if (strcmp(target, h->path) != 0) {
		respond_text(cl, 404, "Not Found", "", "not found; the metrics are at /metrics\n");
	} else {
		struct buf body;

		buf_init(&body);
		h->fn(h->arg, &body);
		respond(cl, 200, "OK", "", h->content_type, body.data, body.len, !head);
		buf_free(&body);
	}
}

/* The end of the head ("\r\n\r\n", or "\n\n" from a lax client) within
 * the first n bytes of p; 0 when not there yet. */
static size_t head_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct http_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in), avail = n < HTTP_MAX_HEAD ? n : HTTP_MAX_HEAD, line_len;
	const char *p;
	char *line, *nl;

	if (cl->answered) {
		evbuffer_drain(in, n);	/* a body or more requests: not read, not kept */
		return;
	}
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)avail);
	if (head_end(p, avail) == 0) {
		if (n >= HTTP_MAX_HEAD)
			respond_text(cl, 431, "Request Header Fields Too Large", "", "request head over 8192 bytes\n");
		return;
	}
	nl = memchr(p, '\n', avail);	/* there is one: the head ended */
	line_len = (size_t)(nl - p);
	if (line_len > 0 && p[line_len - 1] == '\r')
		line_len--;
	line = xstrndup(p, line_len);
	if (strlen(line) != line_len)
		respond_text(cl, 400, "Bad Request", "", "NUL in the request line\n");
	else
		request(cl, line);
	free(line);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The answer has left: shut our side so the client sees its end, and
 * read (discarding) until it closes, so that the kernel never resets a
 * connection with unread input, which could cost the client the answer. */
static void on_written(struct bufferevent *bev, void *arg)
{
	struct http_client *cl = arg;

	if (!cl->answered || cl->shut)
		return;
	if (cl->eof) {
		client_free(cl);
		return;
	}
	cl->shut = true;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	rearm(cl, HTTP_LINGER_SECS);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_client *cl = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && cl->answered && !cl->shut) {
		cl->eof = true;		/* half-closed: it still reads its answer */
		return;
	}
	client_free(cl);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *cl = arg;

	(void)fd;
	(void)what;
	if (!cl->answered)
		respond_text(cl, 408, "Request Timeout", "", "no complete request within 5 seconds\n");
	else
		client_free(cl);	/* the answer is not read, or the client does not close */
}

static void refuse(struct http *h, evutil_socket_t fd)
{
	double now = time_mono();

	if (h->refused_logged == 0 || now - h->refused_logged >= HTTP_REFUSED_LOG_SECS) {
		log_warn("metrics %s: %d clients connected; refusing more (logged once a minute)", h->listen,
			 HTTP_MAX_CLIENTS);
		h->refused_logged = now;
	}
	evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
	struct http *h = arg;
	struct http_client *cl;

	(void)l;
	(void)sa;
	(void)socklen;
	if (h->nclients >= HTTP_MAX_CLIENTS) {
		refuse(h, fd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->h = h;
	cl->accepted = time_mono();
	cl->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->deadline = evtimer_new(h->base, on_deadline, cl);
	if (cl->bev == NULL || cl->deadline == NULL)
		abort();
	cl->next = h->clients;
	if (h->clients)
		h->clients->prev = cl;
	h->clients = cl;
	h->nclients++;
	/* Read no more than a head: the rest stays in the kernel. */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, HTTP_MAX_HEAD);
	bufferevent_setcb(cl->bev, on_read, on_written, on_event, cl);
	bufferevent_enable(cl->bev, EV_READ);
	timer_arm(cl->deadline, HTTP_REQUEST_SECS);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(h->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct http *h = arg;
	int err = EVUTIL_SOCKET_ERROR();

	/* Out of descriptors: accepting again at once would spin the loop. */
	log_warn("metrics %s: accept: %s; pausing for %ds", h->listen, strerror(err), HTTP_ACCEPT_PAUSE_SECS);
	evconnlistener_disable(l);
	timer_arm(h->resume_timer, HTTP_ACCEPT_PAUSE_SECS);
}

static int listen_on(const char *text, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	int fd, one = 1;

	if (parse_listen(text, &ss, &len, &why) < 0) {
		*err = xasprintf("%s: %s", text, why);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("%s: socket: %s", text, strerror(errno));
		return -1;
	}
	/* A restart must not wait for the last run's connections in TIME_WAIT.
	 * (On Linux this never lets two listeners share the port.) */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		*err = xasprintf("%s: %s: %s", text, errno == EADDRINUSE ? "bind" : "bind or listen", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct http *http_open(struct event_base *base, const char *listen, const char *path, const char *content_type,
		       http_body_fn *fn, void *arg, char **err)
{
	struct http *h;
	int fd = listen_on(listen, err);

	if (fd < 0)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->listen = xstrdup(listen);
	h->path = xstrdup(path);
	h->content_type = xstrdup(content_type);
	h->fn = fn;
	h->arg = arg;
	h->resume_timer = evtimer_new(base, on_resume_accept, h);
	h->listener = evconnlistener_new(base, on_accept, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (h->listener == NULL || h->resume_timer == NULL) {
		*err = xasprintf("%s: cannot listen", listen);
		if (h->listener == NULL)
			close(fd);
		http_close(h);
		return NULL;
	}
	evconnlistener_set_error_cb(h->listener, on_accept_error);
	return h;
}

void http_close(struct http *h)
{
	if (h == NULL)
		return;
	while (h->clients != NULL)
		client_free(h->clients);
	if (h->listener != NULL)
		evconnlistener_free(h->listener);
	if (h->resume_timer != NULL)
		event_free(h->resume_timer);
	free(h->listen);
	free(h->path);
	free(h->content_type);
	free(h);
}
