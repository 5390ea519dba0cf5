/* parse: the value syntaxes of the config file. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "parse.h"
#include "util.h"

int parse_uint(const char *s, uint64_t *out, const char **err)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s)) {
		*err = "expected a non-negative whole number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		*err = "number too large";
		return -1;
	}
	if (*end != '\0') {
		*err = "expected a non-negative whole number";
		return -1;
	}
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out, const char **err)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
		{"", 1}, {"B", 1},
		{"K", 1e3}, {"KB", 1e3}, {"M", 1e6}, {"MB", 1e6},
		{"G", 1e9}, {"GB", 1e9}, {"T", 1e12}, {"TB", 1e12},
		{"KiB", 1024.0}, {"MiB", 1048576.0},
		{"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
	};
	char *end;
	double v;

	if (!isdigit((unsigned char)*s)) {
		*err = "expected a size such as 1073741824, 1G or 1GiB";
		return -1;
	}
	v = strtod(s, &end);
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		v *= units[i].mult;
		if (!isfinite(v) || v >= 18446744073709551615.0) {
			*err = "size too large";
			return -1;
		}
		*out = (uint64_t)v;
		return 0;
	}
	*err = "unknown size suffix (use K, M, G, T or KiB, MiB, GiB, TiB)";
	return -1;
}

int parse_secs(const char *s, double *out, const char **err)
{
	static const struct {
		char suffix;
		double mult;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	char *end;
	double v;

	if (!isdigit((unsigned char)*s) && *s != '.') {
		*err = "expected a number of seconds, such as 10, 0.5, 30m, 12h or 7d";
		return -1;
	}
	v = strtod(s, &end);
	for (size_t i = 0; *end != '\0' && i < ARRAY_SIZE(units); i++) {
		if (*end == units[i].suffix && end[1] == '\0') {
			v *= units[i].mult;
			end++;
		}
	}
	if (*end != '\0' || !isfinite(v)) {
		*err = "expected a number of seconds, such as 10, 0.5, 30m, 12h or 7d";
		return -1;
	}
	*out = v;
	return 0;
}

int parse_share(const char *s, double *out, const char **err)
{
	const char *what = "expected a share such as 10%, 0.1 or off";
	char *end;
	double v;

	if (strcasecmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*s) && *s != '.') {
		*err = what;
		return -1;
	}
	v = strtod(s, &end);
	if (*end == '%' && end[1] == '\0') {
		v /= 100;
		end++;
	}
	if (*end != '\0' || !isfinite(v)) {
		*err = what;
		return -1;
	}
	if (v > 1) {
		*err = "a share is at most 100% (1)";
		return -1;
	}
	*out = v;
	return 0;
}

int parse_bool(const char *s, bool *out, const char **err)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	*err = "expected yes or no";
	return -1;
}

void parse_addr_free(struct parse_addr *a)
{
	free(a->host);
	free(a->path);
	memset(a, 0, sizeof(*a));
}

static int parse_port(const char *s, int *port, const char **err)
{
	uint64_t v;

	if (parse_uint(s, &v, err) < 0 || v < 1 || v > 65535) {
		*err = "port must be a number from 1 to 65535";
		return -1;
	}
	*port = (int)v;
	return 0;
}

int parse_address(const char *s, struct parse_addr *out, const char **err)
{
	const char *colon;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		size_t n = strlen(s + 5);

		if (s[5] != '/') {
			*err = "unix: needs an absolute path, such as unix:/run/redis/redis.sock";
			return -1;
		}
		if (n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			*err = "unix socket path too long";
			return -1;
		}
		out->is_unix = true;
		out->path = xstrdup(s + 5);
		return 0;
	}
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close == s + 1 || close[1] != ':') {
			*err = "expected [v6address]:port";
			return -1;
		}
		if (parse_port(close + 2, &out->port, err) < 0)
			return -1;
		out->host = xstrndup(s + 1, (size_t)(close - s - 1));
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s) {
		*err = "expected host:port, [v6address]:port or unix:/path";
		return -1;
	}
	if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		*err = "an IPv6 address needs brackets: [v6address]:port";
		return -1;
	}
	if (parse_port(colon + 1, &out->port, err) < 0)
		return -1;
	out->host = xstrndup(s, (size_t)(colon - s));
	return 0;
}

/* Numeric only: a listening address is bound at start and at a reload,
 * and resolving a name there could block the loop. */
int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **err)
{
	struct parse_addr a;
	bool ok;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(s, "unix:", 5) == 0 || parse_address(s, &a, err) < 0) {
		*err = "expected ADDRESS:PORT with a numeric address, such as 127.0.0.1:9479 or [::]:9479";
		return -1;
	}
	if (inet_pton(AF_INET, a.host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)a.port);
		*len = sizeof(*sin);
		ok = true;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		ok = strchr(s, '[') != NULL && inet_pton(AF_INET6, a.host, &sin6->sin6_addr) == 1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)a.port);
		*len = sizeof(*sin6);
	}
	parse_addr_free(&a);
	if (!ok)
		*err = "the address must be numeric (a name would be resolved while the daemon waits), "
		       "such as 127.0.0.1:9479 or [::1]:9479";
	return ok ? 0 : -1;
}

/* INFO replies are "field:value" lines: find the line that starts with
 * name (not one that merely ends with it) and take its value, which must
 * be all digits up to the line's end. */
int parse_info_uint(const char *info, const char *name, uint64_t *out)
{
	size_t n = strlen(name);

	for (const char *p = info; (p = strstr(p, name)) != NULL; p++) {
		const char *v = p + n;
		char *end;
		unsigned long long u;

		if ((p != info && p[-1] != '\n') || *v != ':')
			continue;
		v++;
		/* strtoull would take a sign, and "-5" as a huge number. */
		if (*v < '0' || *v > '9')
			return -1;
		errno = 0;
		u = strtoull(v, &end, 10);
		if (errno != 0 || (*end != '\r' && *end != '\n' && *end != '\0'))
			return -1;
		*out = u;
		return 0;
	}
	return -1;
}
