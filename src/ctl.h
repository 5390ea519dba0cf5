/* ctl: the UNIX control socket.  A client sends one request line; the
 * daemon answers with one JSON object and a newline, then closes. */
#ifndef GCS_CTL_H
#define GCS_CTL_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

#define CTL_MAX_LINE 4096
#define CTL_IDLE_SECS 5		/* a client that says nothing is dropped */
#define CTL_REQUEST_SECS 10	/* the whole request line must come within this */
#define CTL_MAX_CLIENTS 1024

struct event_base;
struct ctl;

struct ctl_client;

/* Handles one request (len bytes, no newline; may hold any byte).  It must
 * answer with ctl_reply, at once or later (a flush replies when it ends);
 * the client is kept until then. */
typedef void ctl_handler_fn(void *arg, struct ctl_client *cl, const char *line, size_t len);

/* Sends reply (one JSON object; the newline is added) and closes. */
void ctl_reply(struct ctl_client *cl, struct buf *reply);

/* Who is on the other end (SO_PEERCRED), taken when it connected. */
struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};
const struct ctl_peer *ctl_client_peer(const struct ctl_client *cl);

/* Binds and listens.  Refuses when another daemon answers on path; removes a
 * stale socket.  group (named group_name, for messages) owns the socket;
 * (gid_t)-1 leaves it the daemon's own.  Returns NULL with a message in *err
 * that names the call that failed. */
struct ctl *ctl_open(struct event_base *base, const char *path, mode_t mode, gid_t group, const char *group_name,
		     ctl_handler_fn *handler, void *arg, char **err);
/* Stops listening, drops clients and removes the socket file. */
void ctl_close(struct ctl *c);

#endif
