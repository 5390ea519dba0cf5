/* gcs-flushctl: the command-line client of gcs-flushd's control socket.
 *
 * It sends one request line, reads the one JSON reply to EOF, and prints it
 * for people (or as received with --json).  The exit status is for scripts:
 * 0 ok, 1 error (including the daemon answering ok:false), 2 usage error,
 * 3 the daemon is not running. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#include "conf.h"
#include "fmt.h"
#include "keys.h"
#include "restore.h"
#include "util.h"

#ifndef CTL_TIMEOUT_SECS
#define CTL_TIMEOUT_SECS 30		/* -DCTL_TIMEOUT_SECS=2 to test timeouts quickly */
#endif
#define CTL_MAX_REQUEST 4096		/* the daemon's line limit, newline included */
#define CTL_MAX_REPLY (64u << 20)	/* far above any real status; stops a runaway peer */

/* Exit statuses. */
enum { ST_OK = 0, ST_ERROR = 1, ST_USAGE = 2, ST_NOT_RUNNING = 3 };

struct command {
	const char *name;
	int min_args, max_args;
	bool no_timeout;	/* flush replies when its cycle ends, however long */
	const char *done;	/* past tense, for "paused: a b" */
	/* Prints a successful reply; returns NULL, or what is wrong with it. */
	const char *(*print)(const struct command *cmd, json_t *reply);
};

/* ---- messages ------------------------------------------------------------ */

/* Replies and error texts come from the daemon, and through it from Redis
 * servers: never let their control characters reach the terminal.  Newlines
 * stay: a failed reload reports one config error per line.  Replaced by '?'
 * rather than escaped: the reader is a person at a terminal. */
static char *scrub(char *s)
{
	return ctl_scrub(s, "\n");
}

#define USAGE_HINT "usage: gcs-flushctl [-c CONFIG] [-s SOCKET] [--json] COMMAND [ARGS]\n" \
	"Try 'gcs-flushctl --help' for more information.\n"

/* Prints "gcs-flushctl: MESSAGE" (and the usage hint for ST_USAGE); returns status. */
static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "gcs-flushctl: %s\n", scrub(msg));
	free(msg);
	if (status == ST_USAGE)
		fputs(USAGE_HINT, stderr);
	return status;
}

static void usage(void)
{
	printf("usage: gcs-flushctl [-c CONFIG] [-s SOCKET] [--json] COMMAND [ARGS]\n"
	       "\n"
	       "Commands:\n"
	       "  status          show the daemon and every shard\n"
	       "  flush [--dry-run] SHARD [N]\n"
	       "                  flush the N oldest entries of SHARD now (N: the policy's batch),\n"
	       "                  or with --dry-run only say what that would take\n"
	       "  oldest SHARD [N] the N (default 10) oldest tracked entries of SHARD\n"
	       "  pause [SHARD]   stop flushing SHARD, or every shard\n"
	       "  resume [SHARD]  flush SHARD, or every shard, again\n"
	       "  reload          make the daemon re-read its config file\n"
	       "\n"
	       "Commands that read the config and the archive themselves (no daemon needed):\n"
	       "  restore [--replace] SHARD KEY...   restore archived keys into the shard\n"
	       "  archive ls SHARD [PATTERN]          list archived records\n"
	       "  archive export SHARD [PATTERN]      RESTORE commands for redis-cli --pipe\n"
	       "\n"
	       "Options (before COMMAND):\n"
	       "  -c, --config=FILE    read control_socket from FILE (default %s)\n"
	       "  -s, --socket=PATH    the daemon's control socket; default $GCS_FLUSHD_SOCKET,\n"
	       "                       then the config's control_socket, then\n"
	       "                       %s\n"
	       "      --json           print the daemon's JSON reply as received\n"
	       "  -h, --help           show this help\n"
	       "  -V, --version        show the version\n"
	       "\n"
	       "Exit status: 0 ok, 1 error, 2 usage error, 3 gcs-flushd not running.\n",
	       CONF_DEFAULT_PATH, conf_key_find("control_socket")->def);
}

/* ---- which socket -------------------------------------------------------- */

static int on_ini(void *user, const char *section, const char *name, const char *value, int lineno)
{
	char **sock = user;

	(void)lineno;
	if (strcmp(section, "daemon") == 0 && strcmp(name, "control_socket") == 0) {
		free(*sock);
		*sock = xstrdup(value);
	}
	return 1;
}

/* Reads only control_socket from the config.  conf_load would also read the
 * password files, which a user allowed on the socket need not be allowed to
 * read.  Syntax errors are left to gcs-flushd -t: we need one key. */
static int config_socket(const char *path, bool given, char **sock)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		if (!given)
			return ST_OK;	/* no readable default config: the default socket */
		return fail(ST_USAGE, "cannot read config file %s: %s", path, strerror(errno));
	}
	/* Read lines as the daemon does: whole, and without continuations. */
	ini_max_line = CONF_MAX_LINE + 3;
	ini_allow_multiline = false;
	ini_parse_file(f, on_ini, sock);
	fclose(f);
	if (*sock != NULL && **sock == '\0') {
		free(*sock);
		*sock = NULL;
	}
	return ST_OK;
}

/* -s, else $GCS_FLUSHD_SOCKET, else the config's control_socket, else the default. */
static int pick_socket(const char *opt, const char *config, char **sock)
{
	const char *env = getenv("GCS_FLUSHD_SOCKET");
	int st;

	*sock = NULL;
	if (opt != NULL) {
		*sock = xstrdup(opt);
	} else if (env != NULL && *env != '\0') {
		*sock = xstrdup(env);
	} else {
		st = config_socket(config ? config : CONF_DEFAULT_PATH, config != NULL, sock);
		if (st != ST_OK)
			return st;
		if (*sock == NULL)
			*sock = xstrdup(conf_key_find("control_socket")->def);
	}
	return ST_OK;
}

/* ---- talking to the daemon ----------------------------------------------- */

static int build_request(const struct command *cmd, char **args, int nargs, struct buf *req)
{
	buf_puts(req, cmd->name);
	for (int i = 0; i < nargs; i++) {
		/* Spaces, tabs and newlines would change the meaning of the request
		 * line, and the daemon refuses other control bytes. */
		if (ctl_find(args[i], strlen(args[i]), NULL) != NULL || strchr(args[i], ' ') != NULL)
			return fail(ST_USAGE, "invalid argument '%s'", args[i]);
		if (args[i][0] == '\0')
			return fail(ST_USAGE, "empty argument");
		buf_printf(req, " %s", args[i]);
	}
	buf_putc(req, '\n');
	if (req->len > CTL_MAX_REQUEST)
		return fail(ST_USAGE, "request too long (at most %d bytes)", CTL_MAX_REQUEST);
	return ST_OK;
}

static int connect_socket(const char *path, int *fdp)
{
	struct sockaddr_un sa;
	struct timeval tv = {.tv_sec = CTL_TIMEOUT_SECS};
	int fd, err;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(ST_ERROR, "socket path too long (at most %zu bytes): %s",
			    sizeof(sa.sun_path) - 1, path);
	memcpy(sa.sun_path, path, strlen(path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(ST_ERROR, "socket: %s", strerror(errno));
	/* connect() on a UNIX socket waits while the listen backlog is full (a
	 * stopped or wedged daemon); the send timeout bounds that wait. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		if (err == ENOENT || err == ECONNREFUSED)
			return fail(ST_NOT_RUNNING, "gcs-flushd is not running (nothing listening on %s)", path);
		if (err == EAGAIN)
			return fail(ST_ERROR, "timed out connecting to %s (gcs-flushd is not accepting)", path);
		return fail(ST_ERROR, "cannot connect to %s: %s", path, strerror(err));
	}
	*fdp = fd;
	return ST_OK;
}

static int send_request(int fd, const char *path, const struct buf *req)
{
	/* A blocking stream send() writes all of a request this short, or fails.
	 * MSG_NOSIGNAL: a daemon that hangs up is an error to report, not SIGPIPE. */
	ssize_t n = send(fd, req->data, req->len, MSG_NOSIGNAL);

	if (n < 0)
		return fail(ST_ERROR, "cannot send to %s: %s", path, strerror(errno));
	if ((size_t)n != req->len)
		return fail(ST_ERROR, "cannot send to %s: short write", path);
	return ST_OK;
}

/* Reads until the daemon closes the connection or the deadline passes. */
static int read_reply(int fd, const char *path, double deadline, struct buf *reply)
{
	char chunk[8192];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - time_mono();
		ssize_t n;
		int r;

		if (left <= 0)
			return fail(ST_ERROR, "no reply from gcs-flushd on %s within %d s", path,
				    CTL_TIMEOUT_SECS);
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return fail(ST_ERROR, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return fail(ST_ERROR, "cannot read from %s: %s", path, strerror(errno));
		if (n == 0)
			return ST_OK;
		if (reply->len + (size_t)n > CTL_MAX_REPLY)
			return fail(ST_ERROR, "reply from %s is too long (over %u bytes)", path, CTL_MAX_REPLY);
		buf_append(reply, chunk, (size_t)n);
	}
}

static int parse_reply(const struct buf *reply, const char *path, json_t **out)
{
	json_error_t jerr;
	json_t *j;

	if (reply->len == 0)
		return fail(ST_ERROR, "gcs-flushd closed %s without replying", path);
	/* Key names are binary: one with a NUL byte arrives as \u0000. */
	j = json_loadb(reply->data, reply->len, JSON_ALLOW_NUL, &jerr);
	if (j == NULL)
		return fail(ST_ERROR, "bad reply from %s: %s", path, jerr.text);
	if (!json_is_object(j) || !json_is_boolean(json_object_get(j, "ok"))) {
		json_decref(j);
		return fail(ST_ERROR, "bad reply from %s: not an object with \"ok\"", path);
	}
	*out = j;
	return ST_OK;
}

/* ---- printing replies ---------------------------------------------------- */

/* A string member as a new, printable string on one line (a table cell:
 * a Redis error in last_error may hold a newline), or "-". */
static char *text(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *t = scrub(xstrdup(s ? s : "-"));

	for (char *p = t; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return t;
}

static char *size_cell(json_t *v)
{
	char out[FMT_SIZE_LEN];

	/* A double is exact enough for one decimal of a binary unit. */
	if (!json_is_number(v) || json_number_value(v) < 0)
		return xstrdup("-");
	return xstrdup(fmt_size((uint64_t)json_number_value(v), out, sizeof(out)));
}

static char *yes_no_cell(json_t *v)
{
	return xstrdup(!json_is_boolean(v) ? "-" : json_is_true(v) ? "yes" : "no");
}

static char *error_cell(json_t *shard, double now)
{
	json_t *when = json_object_get(shard, "last_error_unix");
	char ago[FMT_DURATION_LEN];
	char *err, *cell;

	if (!json_is_string(json_object_get(shard, "last_error")))
		return xstrdup("-");
	err = text(shard, "last_error");
	if (!json_is_number(when))
		return err;
	fmt_duration(now - json_number_value(when), ago, sizeof(ago));
	cell = xasprintf("%s (%s ago)", err, ago);
	free(err);
	return cell;
}

enum { COL_SHARD, COL_STATE, COL_ADDRESS, COL_DB, COL_USED, COL_THRESHOLD, COL_OVER, COL_MODE,
       COL_PAUSED, COL_TRACKED, COL_FLUSHED, COL_LAST_FLUSH, COL_ERROR, NCOLS };

static const char *const col_names[NCOLS] = {
	"SHARD", "STATE", "ADDRESS", "DB", "USED", "THRESHOLD", "OVER", "MODE", "PAUSED", "TRACKED", "FLUSHED",
	"LAST-FLUSH", "LAST-ERROR",
};

/* Numbers line up on the right, as in ps and df. */
static const bool col_right[NCOLS] = {[COL_DB] = true, [COL_USED] = true, [COL_THRESHOLD] = true,
				      [COL_TRACKED] = true, [COL_FLUSHED] = true};

static char *count_cell(json_t *v)
{
	return json_is_integer(v) ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)) : xstrdup("-");
}

static char *ago_cell(json_t *when, double now)
{
	char ago[FMT_DURATION_LEN];

	if (!json_is_number(when))
		return xstrdup("-");
	return xasprintf("%s ago", fmt_duration(now - json_number_value(when), ago, sizeof(ago)));
}

static void shard_row(json_t *s, double now, char **cell)
{
	json_t *db = json_object_get(s, "db");

	cell[COL_SHARD] = text(s, "name");
	cell[COL_STATE] = text(s, "state");
	cell[COL_ADDRESS] = text(s, "address");
	cell[COL_DB] = json_is_integer(db) ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(db))
					   : xstrdup("-");
	cell[COL_USED] = size_cell(json_object_get(s, "used_memory"));
	cell[COL_THRESHOLD] = size_cell(json_object_get(s, "flush_when_at_least_bytes"));
	cell[COL_OVER] = yes_no_cell(json_object_get(s, "over_threshold"));
	cell[COL_MODE] = text(s, "flush_mode");
	cell[COL_PAUSED] = yes_no_cell(json_object_get(s, "paused"));
	cell[COL_TRACKED] = count_cell(json_object_get(s, "tracked_entries"));
	cell[COL_FLUSHED] = count_cell(json_object_get(s, "flushed_entries_total"));
	cell[COL_LAST_FLUSH] = ago_cell(json_object_get(s, "last_flush_unix"), now);
	cell[COL_ERROR] = error_cell(s, now);
}

/* A master of a cluster or Sentinel shard, on a row of its own under the
 * shard's, indented: its role, address and slots, and its own figures. */
static void node_row(json_t *nd, double now, char **cell)
{
	char *slots = text(nd, "slots");

	cell[COL_SHARD] = xasprintf("  %s", json_is_string(json_object_get(nd, "role")) ?
						json_string_value(json_object_get(nd, "role")) : "node");
	cell[COL_STATE] = text(nd, "state");
	cell[COL_ADDRESS] = *slots ? xasprintf("%s [%s]", json_string_value(json_object_get(nd, "address")), slots)
				   : text(nd, "address");
	free(slots);
	cell[COL_DB] = xstrdup("");
	cell[COL_USED] = size_cell(json_object_get(nd, "used_memory"));
	cell[COL_THRESHOLD] = xstrdup("");
	cell[COL_OVER] = yes_no_cell(json_object_get(nd, "over_threshold"));
	cell[COL_PAUSED] = xstrdup("");
	cell[COL_TRACKED] = count_cell(json_object_get(nd, "tracked_entries"));
	cell[COL_FLUSHED] = count_cell(json_object_get(nd, "flushed_entries_total"));
	cell[COL_LAST_FLUSH] = xstrdup("");
	cell[COL_ERROR] = error_cell(nd, now);
}

static const char *print_status(const struct command *cmd, json_t *reply)
{
	json_t *shards = json_object_get(reply, "shards");
	char up[FMT_DURATION_LEN];
	double now = time_now();
	size_t n = json_array_size(shards), nrows = n + 1;
	char **cells, *version;
	struct buf table;

	(void)cmd;
	if (!json_is_array(shards))
		return "no \"shards\" array";
	version = text(reply, "version");
	fmt_duration(json_number_value(json_object_get(reply, "uptime_s")), up, sizeof(up));
	printf("gcs-flushd %s, pid %" JSON_INTEGER_FORMAT ", up %s, ", version,
	       json_integer_value(json_object_get(reply, "pid")), up);
	free(version);
	if (n == 0) {
		/* The packaged config names no shard until the operator adds one. */
		printf("no shards configured\n(add a [shard:NAME] section to the config, then reload)\n");
		return NULL;
	}
	printf("%zu shard%s\n", n, n == 1 ? "" : "s");

	for (size_t i = 0; i < n; i++)
		nrows += json_array_size(json_object_get(json_array_get(shards, i), "nodes"));
	cells = xcalloc(nrows * NCOLS, sizeof(*cells));
	for (size_t c = 0; c < NCOLS; c++)
		cells[c] = xstrdup(col_names[c]);
	for (size_t i = 0, row = 1; i < n; i++) {
		json_t *s = json_array_get(shards, i), *nd;
		size_t k;

		shard_row(s, now, cells + row++ * NCOLS);
		json_array_foreach(json_object_get(s, "nodes"), k, nd)
			node_row(nd, now, cells + row++ * NCOLS);
	}
	buf_init(&table);
	fmt_table(&table, cells, nrows, NCOLS, col_right);
	fputs(table.data, stdout);
	buf_free(&table);
	for (size_t i = 0; i < nrows * NCOLS; i++)
		free(cells[i]);
	free(cells);
	return NULL;
}

/* Appends " name" for each string in the array. */
static void put_names(struct buf *b, json_t *names)
{
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v)
		if (json_is_string(v))
			buf_printf(b, " %s", json_string_value(v));
}

/* pause, resume: "paused: a b", naming the shards the daemon changed. */
static const char *print_shards(const struct command *cmd, json_t *reply)
{
	json_t *shards = json_object_get(reply, "shards");
	struct buf b;

	if (!json_is_array(shards))
		return "no \"shards\" array";
	buf_init(&b);
	buf_printf(&b, "%s:", cmd->done);
	if (json_array_size(shards) == 0)
		buf_puts(&b, " no shards");
	put_names(&b, shards);
	printf("%s\n", scrub(b.data));
	buf_free(&b);
	return NULL;
}

/* "reloaded: added c; removed b; changed a; 3 unchanged", without empty parts. */
static const char *print_reload(const struct command *cmd, json_t *reply)
{
	static const char *const parts[] = {"added", "removed", "changed", "unchanged"};
	const char *sep = " ";
	struct buf b;

	(void)cmd;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		if (!json_is_array(json_object_get(reply, parts[i])))
			return "missing added, removed, changed or unchanged";
	buf_init(&b);
	buf_puts(&b, "reloaded:");
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		json_t *names = json_object_get(reply, parts[i]);

		if (json_array_size(names) == 0)
			continue;
		if (strcmp(parts[i], "unchanged") == 0) {
			buf_printf(&b, "%s%zu unchanged", sep, json_array_size(names));
		} else {
			buf_printf(&b, "%s%s", sep, parts[i]);
			put_names(&b, names);
		}
		sep = "; ";
	}
	if (strcmp(sep, " ") == 0)
		buf_puts(&b, " no changes");
	printf("%s\n", scrub(b.data));
	buf_free(&b);
	return NULL;
}

/* "flushed 100 of 100 entries (0 already gone, 1 chunk) in 0.002 s" */
static const char *print_flush(const struct command *cmd, json_t *reply)
{
	static const char *const fields[] = {"requested", "flushed", "already_gone", "chunks", "seconds"};
	json_int_t chunks;

	(void)cmd;
	if (json_is_true(json_object_get(reply, "dry_run")))
		return keys_print_dry_run(reply);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!json_is_number(json_object_get(reply, fields[i])))
			return "missing requested, flushed, already_gone, chunks or seconds";
	chunks = json_integer_value(json_object_get(reply, "chunks"));
	printf("flushed %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " entries (%" JSON_INTEGER_FORMAT
	       " already gone, %" JSON_INTEGER_FORMAT " chunk%s) in %.3f s\n",
	       json_integer_value(json_object_get(reply, "flushed")),
	       json_integer_value(json_object_get(reply, "requested")),
	       json_integer_value(json_object_get(reply, "already_gone")), chunks, chunks == 1 ? "" : "s",
	       json_number_value(json_object_get(reply, "seconds")));
	return NULL;
}

static const char *print_oldest(const struct command *cmd, json_t *reply)
{
	(void)cmd;
	return keys_print_oldest(reply);
}

/* ---- main ---------------------------------------------------------------- */

static int handle_reply(const struct command *cmd, const char *path, const struct buf *raw,
			bool as_json)
{
	const char *bad = NULL;
	json_t *reply = NULL;
	int st;

	st = parse_reply(raw, path, &reply);
	if (st != ST_OK)
		return st;
	if (as_json)
		fwrite(raw->data, 1, raw->len, stdout);
	if (json_is_false(json_object_get(reply, "ok"))) {
		const char *err = json_string_value(json_object_get(reply, "error"));

		st = fail(ST_ERROR, "%s", err ? err : "gcs-flushd reported an error without a message");
	} else if (!as_json && (bad = cmd->print(cmd, reply)) != NULL) {
		st = fail(ST_ERROR, "bad reply from %s: %s", path, bad);
	}
	json_decref(reply);
	return st;
}

static int run(const struct command *cmd, const char *path, const struct buf *req, bool as_json, bool dry)
{
	/* A forced flush takes as long as it takes (the user may interrupt it;
	 * the daemon finishes it anyway); a dry run answers at once. */
	double deadline = time_mono() + (cmd->no_timeout && !dry ? 1e9 : CTL_TIMEOUT_SECS);
	struct buf raw;
	int fd = -1, st;

	st = connect_socket(path, &fd);
	if (st != ST_OK)
		return st;
	buf_init(&raw);
	st = send_request(fd, path, req);
	if (st == ST_OK)
		st = read_reply(fd, path, deadline, &raw);
	close(fd);
	if (st == ST_OK)
		st = handle_reply(cmd, path, &raw, as_json);
	buf_free(&raw);
	return st;
}

static const struct command commands[] = {
	{"status", 0, 0, false, NULL, print_status},
	{"flush", 1, 2, true, NULL, print_flush},	/* and --dry-run first */
	{"oldest", 1, 2, false, NULL, print_oldest},
	{"pause", 0, 1, false, "paused", print_shards},
	{"resume", 0, 1, false, "resumed", print_shards},
	{"reload", 0, 0, false, NULL, print_reload},
};

/* restore and archive: read the config (all of it: restore needs the
 * shard's address and password) and the archive; no daemon involved. */
static int run_local(const char *config, int argc, char **argv)
{
	struct buf errors;
	struct conf *c;
	bool replace = false;
	int st;

	if (strcmp(argv[0], "restore") == 0 && argc > 1 && strcmp(argv[1], "--replace") == 0) {
		replace = true;
		argv[1] = argv[0];	/* drop the option: "restore SHARD KEY..." */
		argc--;
		argv++;
	}
	if (strcmp(argv[0], "restore") == 0 ? argc < 3 :
	    argc < 3 || argc > 4 || (strcmp(argv[1], "ls") != 0 && strcmp(argv[1], "export") != 0))
		return fail(ST_USAGE, "usage: restore [--replace] SHARD KEY... | archive ls|export SHARD [PATTERN]");
	buf_init(&errors);
	c = conf_load(config ? config : CONF_DEFAULT_PATH, &errors);
	if (c == NULL) {
		fputs(errors.data, stderr);
		buf_free(&errors);
		return ST_ERROR;
	}
	buf_free(&errors);
	if (strcmp(argv[0], "restore") == 0)
		st = restore_keys(c, argv[1], argv + 2, argc - 2, replace);
	else if (strcmp(argv[1], "ls") == 0)
		st = restore_list(c, argv[2], argc == 4 ? argv[3] : NULL);
	else
		st = restore_export(c, argv[2], argc == 4 ? argv[3] : NULL);
	conf_free(c);
	if (fflush(stdout) != 0 || ferror(stdout))
		st = fail(ST_ERROR, "cannot write output: %s", strerror(errno));
	return st;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *sock_opt = NULL;
	const struct command *cmd;
	bool as_json = false;
	char *sock = NULL;
	struct buf req;
	int opt, nargs, st;
	bool dry;

	/* '+': options end at COMMAND, so a shard named "-x" is an argument. */
	while ((opt = getopt_long(argc, argv, "+c:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 's': sock_opt = optarg; break;
		case 'j': as_json = true; break;
		case 'h': usage(); return ST_OK;
		case 'V': printf("gcs-flushctl %s\n", PACKAGE_VERSION); return ST_OK;
		default: fputs(USAGE_HINT, stderr); return ST_USAGE;	/* getopt said why */
		}
	}
	if ((config != NULL && *config == '\0') || (sock_opt != NULL && *sock_opt == '\0'))
		return fail(ST_USAGE, "empty file name for -c or -s");
	if (optind >= argc)
		return fail(ST_USAGE, "no command given");
	if (strcmp(argv[optind], "restore") == 0 || strcmp(argv[optind], "archive") == 0)
		return run_local(config, argc - optind, argv + optind);
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return fail(ST_USAGE, "unknown command '%s' (try status, flush, oldest, pause, resume, reload)", argv[optind]);
	nargs = argc - optind - 1;
	/* flush's --dry-run comes first, and is no argument of the count. */
	dry = nargs > 0 && strcmp(cmd->name, "flush") == 0 && strcmp(argv[optind + 1], "--dry-run") == 0;
	if (nargs - dry > cmd->max_args || nargs - dry < cmd->min_args)
		return fail(ST_USAGE, "'%s' takes %s", cmd->name,
			    cmd->min_args ? "a shard name and an optional count" :
			    cmd->max_args ? "at most one argument, a shard name" : "no arguments");

	buf_init(&req);
	st = build_request(cmd, argv + optind + 1, nargs, &req);
	if (st == ST_OK)
		st = pick_socket(sock_opt, config, &sock);
	if (st == ST_OK)
		st = run(cmd, sock, &req, as_json, dry);
	free(sock);
	buf_free(&req);
	/* Output that never arrived (a full disk, a closed pipe) is a failure too. */
	if (fflush(stdout) != 0 || ferror(stdout))
		st = fail(ST_ERROR, "cannot write output: %s", strerror(errno));
	return st;
}
