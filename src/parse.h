/* parse: the value syntaxes of the config file, shared by the daemon and
 * the client: sizes, seconds, whole numbers, booleans and addresses. */
#ifndef GCS_PARSE_H
#define GCS_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct parse_addr {
	bool is_unix;
	char *host;		/* TCP: name or address, without brackets */
	int port;
	char *path;		/* unix: socket path */
};

/* Each returns 0, or -1 with *err set to a static message. */
int parse_size(const char *s, uint64_t *out, const char **err);	/* 1G, 1GiB, 1048576 */
int parse_uint(const char *s, uint64_t *out, const char **err);
int parse_secs(const char *s, double *out, const char **err);	/* 10, 0.5, 2s, 30m, 12h, 7d */
int parse_bool(const char *s, bool *out, const char **err);	/* yes/no, true/false, on/off, 1/0 */
/* A share of a whole: 10%, 0.1, or off (and 0), which is 0; at most 1. */
int parse_share(const char *s, double *out, const char **err);
/* host:port, [v6address]:port or unix:/path */
int parse_address(const char *s, struct parse_addr *out, const char **err);
void parse_addr_free(struct parse_addr *a);
/* A TCP address to listen on: IPv4:port or [IPv6]:port, numeric. */
int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **err);
/* The value of the "name:digits" line of an INFO reply; -1 when there is
 * no such line or its value is not a plain unsigned number. */
int parse_info_uint(const char *info, const char *name, uint64_t *out);

#endif
