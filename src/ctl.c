/* ctl: the UNIX control socket server.
 *
 * Each client is a bufferevent with read and write timeouts.  Input is
 * capped at one request line: a longer line gets an error reply, and a
 * client that sends nothing is dropped after CTL_IDLE_SECS, and one that
 * trickles its line (a byte at a time, each resetting the idle timer) is
 * dropped CTL_REQUEST_SECS after it connected, so no client can pin memory
 * or a slot for long. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "ctl.h"
#include "json.h"
#include "log.h"

#define CTL_ACCEPT_PAUSE_SECS 1

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct ctl_client *next, *prev;
	struct event *deadline;	/* the request line's, from accept */
	struct ctl_peer peer;
	bool request_read;	/* its one request went to the handler */
	bool answered;		/* the reply is written or being written */
};

struct ctl {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume_timer;	/* re-enables accept after EMFILE */
	char *path;
	ctl_handler_fn *handler;
	void *arg;
	struct ctl_client *clients;
	size_t nclients;
};

static void client_free(struct ctl_client *cl)
{
	struct ctl *c = cl->ctl;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->nclients--;
	event_free(cl->deadline);
	bufferevent_free(cl->bev);
	free(cl);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;

	(void)bev;
	if (cl->answered)	/* the whole reply has left: close */
		client_free(cl);
}

/* Sends the reply and closes once it is written. */
void ctl_reply(struct ctl_client *cl, struct buf *reply)
{
	buf_putc(reply, '\n');
	cl->answered = true;
	bufferevent_disable(cl->bev, EV_READ);
	bufferevent_enable(cl->bev, EV_WRITE);
	bufferevent_write(cl->bev, reply->data, reply->len);
}

static void client_error(struct ctl_client *cl, const char *msg)
{
	struct buf reply;

	buf_init(&reply);
	json_error_reply(&reply, msg);
	ctl_reply(cl, &reply);
	buf_free(&reply);
}

static void client_request(struct ctl_client *cl, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* One request per connection: stop reading (and the idle timeout). */
	cl->request_read = true;
	bufferevent_disable(cl->bev, EV_READ);
	cl->ctl->handler(cl->ctl->arg, cl, line, len);
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char *line;

	if (cl->request_read || cl->answered)
		return;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) > CTL_MAX_LINE)
			client_error(cl, "request line longer than 4096 bytes");
		return;
	}
	if ((size_t)eol.pos > CTL_MAX_LINE) {
		client_error(cl, "request line longer than 4096 bytes");
		return;
	}
	line = xmalloc((size_t)eol.pos + 1);
	evbuffer_remove(in, line, (size_t)eol.pos + 1);
	client_request(cl, line, (size_t)eol.pos);
	free(line);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (!cl->request_read && (what & BEV_EVENT_EOF) && n > 0 && n <= CTL_MAX_LINE) {
		/* A half-closed client may end its line with EOF instead of '\n'. */
		char *line = xmalloc(n);

		evbuffer_remove(in, line, n);
		client_request(cl, line, n);
		free(line);
		return;
	}
	if (!cl->request_read && (what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		client_error(cl, "no request received within 5 seconds");
		return;
	}
	if (cl->request_read && !cl->answered) {
		/* The request is being handled and will reply through us: keep the
		 * client until then, however it went away. */
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	client_free(cl);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *cl = arg;

	(void)fd;
	(void)what;
	if (!cl->request_read && !cl->answered)
		client_error(cl, "no complete request line within 10 seconds");
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
	struct ctl *c = arg;
	struct ctl_client *cl;
	struct timeval idle = {CTL_IDLE_SECS, 0}, whole = {CTL_REQUEST_SECS, 0};

	(void)l;
	(void)sa;
	(void)socklen;
	if (c->nclients >= CTL_MAX_CLIENTS) {
		log_warn("control socket: %d clients connected; refusing another", CTL_MAX_CLIENTS);
		evutil_closesocket(fd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->ctl = c;
	cl->peer.uid = (uid_t)-1;	/* unknown: trusted with nothing */
	cl->peer.gid = (gid_t)-1;
	{
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			cl->peer.pid = cred.pid;
			cl->peer.uid = cred.uid;
			cl->peer.gid = cred.gid;
		}
	}
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		evutil_closesocket(fd);
		free(cl);
		return;
	}
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
	/* Read no more than a line and a bit: the rest stays in the kernel. */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CTL_MAX_LINE + 2);
	bufferevent_setcb(cl->bev, on_client_read, on_client_write, on_client_event, cl);
	bufferevent_set_timeouts(cl->bev, &idle, &idle);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	cl->deadline = evtimer_new(c->base, on_deadline, cl);
	if (cl->deadline == NULL)
		abort();
	event_add(cl->deadline, &whole);
}

const struct ctl_peer *ctl_client_peer(const struct ctl_client *cl)
{
	return &cl->peer;
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct ctl *c = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = {CTL_ACCEPT_PAUSE_SECS, 0};

	/* Out of descriptors: accepting again at once would spin the loop. */
	log_warn("control socket: accept: %s; pausing for %ds", strerror(err), CTL_ACCEPT_PAUSE_SECS);
	evconnlistener_disable(l);
	event_add(c->resume_timer, &pause);
}

/* Is a daemon answering on path?  Removes the file when it is a stale socket. */
static int clear_stale(const struct sockaddr_un *sun, char **err)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : (*err = xasprintf("%s: %s", sun->sun_path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		*err = xasprintf("%s exists and is not a socket", sun->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		*err = xasprintf("another gcs-flushd is listening on %s", sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		*err = xasprintf("cannot remove stale socket %s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	log_info("removed stale control socket %s", sun->sun_path);
	return 0;
}

/* Gives the bound socket its group and mode.  The socket is created with
 * the daemon's own group, so chown() is called only for another group: the
 * shipped unit filters the @chown system calls out (SystemCallFilter=
 * ~@privileged), and a daemon that needs no chown() must not depend on it. */
static int set_owner_mode(const char *path, mode_t mode, gid_t group, const char *group_name, char **err)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		*err = xasprintf("stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (group != (gid_t)-1 && st.st_gid != group && chown(path, (uid_t)-1, group) < 0) {
		int e = errno;

		*err = xasprintf("chown %s to group %s: %s%s", path, group_name, strerror(e),
				 e == EPERM ? " (the daemon must be a member of that group; under systemd it also needs "
					      "SupplementaryGroups= and SystemCallFilter=@chown: see gcs-flushd.conf(5))"
					    : "");
		return -1;
	}
	if (chmod(path, mode) < 0) {
		*err = xasprintf("chmod %s to %04o: %s", path, (unsigned)mode, strerror(errno));
		return -1;
	}
	return 0;
}

static int listen_on(const char *path, mode_t mode, gid_t group, const char *group_name, char **err)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*err = xasprintf("control socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (clear_stale(&sun, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	/* Nobody may connect between bind and chmod. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		*err = xasprintf("bind %s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (set_owner_mode(path, mode, group, group_name, err) < 0)
		goto fail;
	if (listen(fd, 128) < 0) {
		*err = xasprintf("listen %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	unlink(path);
	close(fd);
	return -1;
}

struct ctl *ctl_open(struct event_base *base, const char *path, mode_t mode, gid_t group, const char *group_name,
		     ctl_handler_fn *handler, void *arg, char **err)
{
	struct ctl *c;
	int fd = listen_on(path, mode, group, group_name, err);

	if (fd < 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->path = xstrdup(path);
	c->handler = handler;
	c->arg = arg;
	c->resume_timer = evtimer_new(base, on_resume_accept, c);
	c->listener = evconnlistener_new(base, on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (c->listener == NULL || c->resume_timer == NULL) {
		*err = xasprintf("cannot listen on %s", path);
		close(fd);
		ctl_close(c);
		return NULL;
	}
	evconnlistener_set_error_cb(c->listener, on_accept_error);
	return c;
}

void ctl_close(struct ctl *c)
{
	if (c == NULL)
		return;
	while (c->clients != NULL)
		client_free(c->clients);
	if (c->listener != NULL) {
		evconnlistener_free(c->listener);
		unlink(c->path);
	}
	if (c->resume_timer != NULL)
		event_free(c->resume_timer);
	free(c->path);
	free(c);
}
