/* conn_int.h: the connection's state, shared by conn.c (its lifetime:
 * connecting, TLS, the handshake, losses) and conn_wire.c (the commands
 * out and the replies in); private to them. */
#ifndef GCS_CONN_INT_H
#define GCS_CONN_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/read.h>

#include "conn.h"
#include "parse.h"
#include "reply_guard.h"

struct bufferevent;
struct evdns_getaddrinfo_request;
struct event;

/* A reply awaited. */
struct req {
	conn_reply_fn *fn;
	void *arg;
};

struct conn_user {
	conn_lost_fn *fn;
	void *arg;
};

/* A bufferevent abandoned, to be freed outside its callbacks, and the
 * socket it does not own (TCP under TLS not yet started), or -1. */
struct dead {
	struct bufferevent *bev;
	int fd;
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
	struct tls_ctx *tls;		/* our reference; NULL for plain */
	char *tls_server_name;
	char *where;			/* host:port or the path, for messages */

	struct bufferevent *bev;
	int raw_fd;			/* TLS: the TCP socket until TLS starts on it, else -1 */
	redisReader *reader;
	/* Two: starting TLS parks the TCP bufferevent from inside its own
	 * callback, and the TLS one may fail before the reap runs. */
	struct dead dead[2];
	struct evdns_getaddrinfo_request *dns_req;
	struct event *deadline;		/* connect or command timeout */
	struct event *reap;		/* frees the dead */
	struct req *q;			/* replies awaited: a ring */
	size_t qhead, qlen, qcap;
	conn_reply_fn *sub_fn;		/* the subscription's, once subscribed */
	void *sub_arg;
	conn_message_fn *msg_fn;	/* its messages' (conn_on_message), or NULL */
	char sub_cmd[16];		/* SUBSCRIBE or PSUBSCRIBE, for messages */
	bool open;			/* from conn_open until it fails or closes */
	bool connecting;		/* until the handshake is done */
	bool transport_up;		/* TCP (and TLS) connected */
	bool ready;
	struct reply_guard guard;	/* subscribed and pending, as the reader's guards see them */
	bool confirming;		/* the subscription counts as pending until confirmed */
};

/* conn_wire.c */
/* Restarts or stops the command timeout after progress (not while
 * connecting: the connect timeout covers the handshake). */
void conn_rearm_deadline(struct conn *c);
/* An error that retrying cannot fix until someone changes the server's
 * ACL or password, or our config. */
bool conn_is_refusal(const char *err);
/* The bufferevent's read callback: parses and delivers every reply. */
void conn_on_read(struct bufferevent *bev, void *arg);
/* Formats and queues a command (wiped once written when it holds a
 * secret), its reply awaited by fn. */
int conn_vsend(struct conn *c, bool secret, conn_reply_fn *fn, void *arg, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

#endif
