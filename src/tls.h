/* tls: the TLS side of a shard's connections: a client context built from
 * the shard's tls_* files when the config is loaded, a verified session
 * per connection, and what a failure means in words.  No I/O: conn.c runs
 * the daemon's sessions on bufferevent_openssl, sconn.c the client's on a
 * blocking socket. */
#ifndef GCS_TLS_H
#define GCS_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

/* The files of a context, as configured ("" for none). */
enum tls_file { TLS_CA, TLS_CERT, TLS_KEY, TLS_NFILES };

struct tls_ctx;

/* Loads the files once and builds a client context that always verifies
 * the server's chain (against files[TLS_CA], else the system's trust
 * store) and speaks TLS 1.2 or later, with the client certificate and key
 * when given.  The key file must not be accessible by others.  On failure
 * returns NULL, *bad names the file at fault and *err (to free) says why. */
struct tls_ctx *tls_ctx_new(const char *const files[TLS_NFILES], enum tls_file *bad, char **err);
/* Contexts are shared by reference (a shard's config copies, its
 * connections); single-threaded, like everything that holds one. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
/* Drops a reference; NULL is a no-op. */
void tls_ctx_unref(struct tls_ctx *t);
/* Built from files with the same contents?  Two NULLs are equal.  This is
 * how a reload sees a renewed certificate under an unchanged name. */
bool tls_ctx_equal(const struct tls_ctx *a, const struct tls_ctx *b);

/* Is s an IPv4 or IPv6 address (not a name)? */
bool tls_is_ip(const char *s);
/* A session for one connection whose certificate must name server_name:
 * an IP address is checked against the IP SANs and sends no SNI; a name
 * against the DNS names, and is sent as SNI.  NULL (with *err, to free)
 * only when out of memory or for a name OpenSSL refuses. */
SSL *tls_ssl_new(struct tls_ctx *t, const char *server_name, char **err);

/* Did the server ask for a client certificate that we do not have?  A
 * server that requires one closes the connection right after the
 * handshake. */
bool tls_cert_requested(const SSL *ssl);

/* Why a TLS connection failed, for last_error: the certificate check's
 * verdict if it failed, else the OpenSSL error err (0: none), else the
 * system error sys_errno (0: none).  Starts with "TLS: "; to free. */
char *tls_describe(const SSL *ssl, unsigned long err, int sys_errno);

#endif
