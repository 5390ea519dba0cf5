/* http: a minimal HTTP/1.x server of one path on the event loop, for
 * Prometheus to scrape.  Each connection gets one answer and is closed. */
#ifndef GCS_HTTP_H
#define GCS_HTTP_H

#include <stddef.h>

#include "util.h"

#define HTTP_MAX_CLIENTS 64	/* a few scrapers at most; more are refused */
#define HTTP_MAX_HEAD 8192	/* request line and headers; beyond: 431 */
#define HTTP_REQUEST_SECS 5	/* the whole request head, from accept */
#define HTTP_CONN_SECS 15	/* the whole connection, answer included */
#define HTTP_LINGER_SECS 2	/* after the answer, for the client to close */

struct event_base;
struct http;

/* Appends the body of a GET of the path to body. */
typedef void http_body_fn(void *arg, struct buf *body);

/* Listens on listen (IPv4:port or [IPv6]:port, numeric) and answers GET
 * and HEAD of path (a query string is ignored) with what fn writes, as
 * content_type; other paths 404, other methods 405.  Returns NULL with a
 * message in *err that names the address and the call that failed. */
struct http *http_open(struct event_base *base, const char *listen, const char *path, const char *content_type,
		       http_body_fn *fn, void *arg, char **err);
/* Stops listening and drops every connection. */
void http_close(struct http *h);

#endif
