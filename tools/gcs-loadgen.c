/* gcs-loadgen: writes Ray-like cluster metadata to one Redis server.
 *
 * It feeds the demo, the bats suites and the benchmarks with entries that
 * gcs-flushd may flush: task:<id> strings, object:<id> hashes, log:<id>
 * lists and event:<id> sorted sets.  Each entry is one top-level key made by
 * one command, and one id counter rises across all types, so creation order
 * is id order: the tests check "oldest first" against it.  Ids are
 * zero-padded so that lexical order is numeric order.
 *
 * Synchronous hiredis with pipelining and no threads: one connection and one
 * batch in flight keep creation order exact and the code small. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "util.h"

#define LG_ID_MAX UINT64_C(9999999999)	/* ids have 10 digits */
#define LG_MAX_ERROR_RUN 1000		/* error replies in a row before giving up */
#define LG_SLICE 0.010			/* pacing granularity: smooth, but no busy loop */
#define LG_CONNECT_TIMEOUT 5		/* seconds */
#define LG_IO_TIMEOUT 30		/* seconds; a hung server must not hang a test */
#define LG_MAX_ARGS 10			/* HSET key + 4 field-value pairs */

enum { ST_OK = 0, ST_ERROR = 1, ST_USAGE = 2 };
enum { T_TASK, T_OBJECT, T_LOG, T_EVENT, T_COUNT };
static const char *const type_names[T_COUNT] = {"task", "object", "log", "event"};

struct opts {
	const char *socket, *host, *password_file, *prefix;
	uint64_t port, db, count, rate, pipeline, start, value_size, ttl, seed;
	uint64_t weights[T_COUNT];
	double duration;
	bool quiet;
};

/* The commands of one entry: [0] creates it, [1] is the EXPIRE, if any.
 * The argv point into this struct, which is reused for every entry because
 * redisAppendCommandArgv copies the arguments at once. */
struct entry {
	struct buf key;
	char *val;			/* value_size + 3 bytes (event members need >= 1 each) */
	char num[24], ttl[24];
	int argc[2];
	const char *argv[2][LG_MAX_ARGS];
	size_t len[2][LG_MAX_ARGS];
};

struct run {
	const struct opts *o;
	redisContext *c;
	char *where;			/* "unix:PATH" or "HOST:PORT", for messages */
	uint64_t rng, weight_sum;
	struct entry e;
	bool *creates;			/* per command of a batch: does it create an entry? */
	uint64_t next_id, issued, created, errors, error_run;
	char *last_error, *cause;
	double t0, pace_base;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- pseudo-random text ----------------------------------------------------- */

/* xorshift64: deterministic for a seed, unlike rand(), and fast enough to
 * fill every value with fresh bytes (so values do not compress or share). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill_random(uint64_t *rng, char *p, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	while (n > 0) {
		uint64_t x = rng_next(rng);

		for (int i = 0; i < 10 && n > 0; i++, n--, x >>= 6)
			*p++ = alphabet[x & 63];
	}
}

/* ---- building entries -------------------------------------------------------- */

static void arg(struct entry *e, int k, const char *p, size_t n)
{
	e->argv[k][e->argc[k]] = p;
	e->len[k][e->argc[k]++] = n;
}

static void arg_str(struct entry *e, int k, const char *s)
{
	arg(e, k, s, strlen(s));
}

static int pick_type(struct run *r)
{
	uint64_t x = rng_next(&r->rng) % r->weight_sum;
	int t = 0;

	while (x >= r->o->weights[t])
		x -= r->o->weights[t++];
	return t;
}

/* A Ray object-table row: the owner's id, a size, where copies live, a state. */
static void build_object(struct run *r, struct entry *e, size_t vs)
{
	static const char *const states[] = {"PENDING", "CREATED", "SEALED", "SPILLED"};
	const char *state = states[rng_next(&r->rng) % ARRAY_SIZE(states)];
	size_t owner = vs / 4, used, locations;

	snprintf(e->num, sizeof(e->num), "%" PRIu64, rng_next(&r->rng) % (1u << 20));
	used = owner + strlen(e->num) + strlen(state);
	locations = vs > used ? vs - used : 0;
	fill_random(&r->rng, e->val, owner + locations);
	arg_str(e, 0, "HSET");
	arg(e, 0, e->key.data, e->key.len);
	arg_str(e, 0, "owner");
	arg(e, 0, e->val, owner);
	arg_str(e, 0, "size");
	arg_str(e, 0, e->num);
	arg_str(e, 0, "locations");
	arg(e, 0, e->val + owner, locations);
	arg_str(e, 0, "status");
	arg_str(e, 0, state);
}

/* Three list elements or zset members sharing about vs bytes.  Members
 * start with their index so a zset really gets three of them. */
static void build_three(struct run *r, struct entry *e, size_t vs, bool event)
{
	size_t part = vs / 3, off = 0;

	if (event && part == 0)
		part = 1;
	fill_random(&r->rng, e->val, vs + 3);
	arg_str(e, 0, event ? "ZADD" : "RPUSH");
	arg(e, 0, e->key.data, e->key.len);
	if (event)
		snprintf(e->num, sizeof(e->num), "%.3f", time_now());
	for (int i = 0; i < 3; i++) {
		size_t n = i < 2 ? part : (vs > 2 * part ? vs - 2 * part : part);

		if (event) {
			e->val[off] = (char)('0' + i);
			arg_str(e, 0, e->num);
		}
		arg(e, 0, e->val + off, n);
		off += n;
	}
}

static void build_entry(struct run *r, uint64_t id)
{
	struct entry *e = &r->e;
	size_t vs = (size_t)r->o->value_size;
	int type = pick_type(r);

	buf_reset(&e->key);
	buf_printf(&e->key, "%s%s:%010" PRIu64, r->o->prefix, type_names[type], id);
	e->argc[0] = e->argc[1] = 0;
	switch (type) {
	case T_TASK:
		fill_random(&r->rng, e->val, vs);
		arg_str(e, 0, "SET");
		arg(e, 0, e->key.data, e->key.len);
		arg(e, 0, e->val, vs);
		if (r->o->ttl) {	/* SET EX: still one command, one round trip */
			arg_str(e, 0, "EX");
			arg_str(e, 0, e->ttl);
		}
		return;
	case T_OBJECT:
		build_object(r, e, vs);
		break;
	default:
		build_three(r, e, vs, type == T_EVENT);
		break;
	}
	if (r->o->ttl) {
		arg_str(e, 1, "EXPIRE");
		arg(e, 1, e->key.data, e->key.len);
		arg_str(e, 1, e->ttl);
	}
}

/* ---- talking to Redis -------------------------------------------------------- */

static int fail_io(struct run *r, const char *what)
{
	/* hiredis reports a SO_RCVTIMEO expiry as EAGAIN: say what it means. */
	if (r->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		r->cause = xasprintf("no reply from %s within %d s", r->where, LG_IO_TIMEOUT);
	else
		r->cause = xasprintf("%s %s: %s", what, r->where, r->c->errstr);
	return -1;
}

/* One synchronous command for the handshake; an error reply is fatal here. */
static int call(struct run *r, int argc, const char **argv)
{
	redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
	int rc = 0;

	if (rep == NULL)
		return fail_io(r, "connection lost to");
	if (rep->type == REDIS_REPLY_ERROR) {
		r->cause = xasprintf("%s: %s: %s", r->where, argv[0], rep->str);
		rc = -1;
	}
	freeReplyObject(rep);
	return rc;
}

static char *read_password(const char *path, char **cause)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL) {
		*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n <= 0) {
		free(line);
		*cause = xasprintf("%s: no password on its first line", path);
		return NULL;
	}
	return line;
}

static int connect_redis(struct run *r)
{
	const struct opts *o = r->o;
	struct timeval tv = {LG_CONNECT_TIMEOUT, 0};
	char db[24], *pw;
	int rc = 0;

	r->c = o->socket ? redisConnectUnixWithTimeout(o->socket, tv)
			 : redisConnectWithTimeout(o->host, (int)o->port, tv);
	if (r->c == NULL || r->c->err) {
		r->cause = xasprintf("cannot connect to %s: %s", r->where,
				     r->c ? r->c->errstr : "out of memory");
		return -1;
	}
	tv.tv_sec = LG_IO_TIMEOUT;
	redisSetTimeout(r->c, tv);
	if (o->password_file) {
		if ((pw = read_password(o->password_file, &r->cause)) == NULL)
			return -1;
		rc = call(r, 2, (const char *[]){"AUTH", pw});
		free(pw);
	}
	snprintf(db, sizeof(db), "%" PRIu64, o->db);
	if (rc == 0 && o->db)
		rc = call(r, 2, (const char *[]){"SELECT", db});
	return rc;
}

static void note_error(struct run *r, const char *msg)
{
	if (r->errors++ == 0)
		fprintf(stderr, "gcs-loadgen: error reply: %s (counting the others)\n", msg);
	r->error_run++;
	free(r->last_error);
	r->last_error = xstrdup(msg);
}

static int read_replies(struct run *r, size_t ncmd)
{
	for (size_t i = 0; i < ncmd; i++) {
		void *p;
		redisReply *rep;

		if (redisGetReply(r->c, &p) != REDIS_OK)
			return fail_io(r, "connection lost to");
		rep = p;
		if (rep->type == REDIS_REPLY_ERROR) {
			note_error(r, rep->str);
		} else {
			r->error_run = 0;
			r->created += r->creates[i];
		}
		freeReplyObject(rep);
	}
	if (r->error_run > LG_MAX_ERROR_RUN) {
		r->cause = xasprintf("more than %d error replies in a row; the last: %s",
				     LG_MAX_ERROR_RUN, r->last_error);
		return -1;
	}
	return 0;
}

/* Up to n entries in one round trip of at most --pipeline commands (one more
 * when the last entry needs its EXPIRE: an entry is never split). */
static int send_batch(struct run *r, uint64_t n)
{
	size_t ncmd = 0;
	uint64_t i;

	for (i = 0; i < n && ncmd < r->o->pipeline; i++) {
		build_entry(r, r->next_id++);
		for (int k = 0; k < 2; k++) {
			if (r->e.argc[k] == 0)
				continue;
			if (redisAppendCommandArgv(r->c, r->e.argc[k], r->e.argv[k], r->e.len[k]) != REDIS_OK)
				return fail_io(r, "cannot queue a command for");
			r->creates[ncmd++] = k == 0;
		}
	}
	r->issued += i;
	return read_replies(r, ncmd);
}

/* ---- the run ------------------------------------------------------------------ */

/* Sleeps until t (or a signal); never past the --duration deadline. */
static void sleep_until(struct run *r, double t)
{
	double now, end = r->o->duration > 0 ? r->t0 + r->o->duration : INFINITY;

	if (t > end)
		t = end;
	while (!stop_requested && (now = time_mono()) < t) {
		struct timespec ts;
		double d = t - now;

		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);	/* EINTR: the loop re-checks */
	}
}

/* How many of `want` entries --rate lets go now; 0 after sleeping.  Entry k is
 * due at pace_base + k/rate, so a slow round trip is made up by the next ones,
 * but a stall of more than a second is forgiven rather than repaid in a burst.
 * Waiting until a slice's worth is due keeps batches sensible at any rate. */
static uint64_t pace(struct run *r, uint64_t want)
{
	double rate = (double)r->o->rate, now = time_mono();
	double late = now - (r->pace_base + (double)r->issued / rate);
	double slice = fmin((double)want, fmax(1.0, rate * LG_SLICE));
	double due;

	if (late > 1.0)
		r->pace_base += late - 1.0;
	due = floor((now - r->pace_base) * rate) - (double)r->issued;
	if (due < slice) {
		sleep_until(r, r->pace_base + ((double)r->issued + slice) / rate);
		return 0;
	}
	return due < (double)want ? (uint64_t)due : want;
}

static void progress(struct run *r, double now, uint64_t *last_created)
{
	fprintf(stderr, "gcs-loadgen: %.0f s: %" PRIu64 " entries (%" PRIu64 "/s), %" PRIu64 " errors\n",
		now - r->t0, r->created, r->created - *last_created, r->errors);
	*last_created = r->created;
}

static int run_load(struct run *r)
{
	const struct opts *o = r->o;
	double next_report = r->t0 + 1.0, now;
	uint64_t last_created = 0, want;

	while (!stop_requested) {
		now = time_mono();
		if (!o->quiet && now >= next_report) {
			progress(r, now, &last_created);
			next_report += 1.0;
		}
		if (o->duration > 0 && now - r->t0 >= o->duration)
			break;
		want = o->pipeline;
		if (o->count) {
			if (r->issued >= o->count)
				break;
			want = o->count - r->issued < want ? o->count - r->issued : want;
		}
		if (r->next_id > LG_ID_MAX) {	/* only without --count: checked up front */
			r->cause = xasprintf("ids would exceed %" PRIu64 "; use a smaller --start", LG_ID_MAX);
			return -1;
		}
		if (want > LG_ID_MAX - r->next_id + 1)
			want = LG_ID_MAX - r->next_id + 1;
		if (o->rate && (want = pace(r, want)) == 0)
			continue;
		if (send_batch(r, want) < 0)
			return -1;
	}
	return 0;
}

static void summary(const struct run *r)
{
	double secs = time_mono() - r->t0;

	printf("created %" PRIu64 " entries in %.2f s (%.0f entries/s), ", r->created, secs,
	       secs > 0 ? (double)r->created / secs : 0.0);
	if (r->issued)
		printf("first id %" PRIu64 ", last id %" PRIu64 "\n", r->o->start, r->next_id - 1);
	else
		printf("first id -, last id -\n");
}

/* ---- options ------------------------------------------------------------------ */

static void usage(void)
{
	printf("usage: gcs-loadgen [OPTIONS]\n"
	       "Write Ray-like cluster metadata entries to one Redis server, in id order.\n"
	       "\n"
	       "Connection:\n"
	       "  -s, --socket=PATH         connect to the UNIX socket PATH\n"
	       "  -H, --host=HOST           connect over TCP to HOST (default 127.0.0.1)\n"
	       "  -p, --port=PORT           TCP port (default 6379)\n"
	       "  -a, --password-file=FILE  AUTH with the first line of FILE\n"
	       "  -n, --db=N                SELECT database N (default 0)\n"
	       "\n"
	       "Load:\n"
	       "  -c, --count=N             create N entries (default 10000; 0 = until --duration ends)\n"
	       "  -d, --duration=SECS       stop after SECS seconds (default 0 = no limit);\n"
	       "                            whichever of --count and --duration ends first wins\n"
	       "  -r, --rate=N              N entries per second (default 0 = as fast as possible)\n"
	       "  -P, --pipeline=N          commands per round trip (default 100)\n"
	       "      --prefix=P            prefix every key with P (default none)\n"
	       "      --start=ID            first id (default 1); ids rise by one across all types\n"
	       "                            and have 10 digits: task:0000000001, object:0000000002\n"
	       "      --mix=T,O,L,E         weights of task, object, log and event entries\n"
	       "                            (default 70,20,5,5)\n"
	       "      --type=TYPE           only TYPE entries: task, object, log or event\n"
	       "      --value-size=BYTES    data per entry (default 300)\n"
	       "      --ttl=SECS            EXPIRE every entry after SECS (default none)\n"
	       "      --seed=N              seed of the pseudo-random choices (default 1)\n"
	       "\n"
	       "Output:\n"
	       "  -q, --quiet               print neither progress nor summary\n"
	       "  -h, --help                show this help\n"
	       "  -V, --version             show the version\n"
	       "\n"
	       "Entries, one key and one command each: task:ID string (SET), object:ID hash\n"
	       "(HSET owner size locations status), log:ID list (RPUSH, 3 elements),\n"
	       "event:ID sorted set (ZADD, 3 members scored with the time).\n"
	       "Progress goes to stderr once a second, and a summary to stdout:\n"
	       "  created N entries in S s (R entries/s), first id A, last id B\n"
	       "N counts entries Redis accepted; A..B are the ids used, so --start B+1 continues.\n"
	       "Error replies are counted; more than %d in a row end the run.  With --count 0\n"
	       "and --duration 0 it runs until SIGINT or SIGTERM.\n"
	       "\n"
	       "Exit status: 0 ok, 1 error (connection lost, too many error replies), 2 usage error.\n",
	       LG_MAX_ERROR_RUN);
}

#define USAGE_HINT "Try 'gcs-loadgen --help' for more information.\n"

/* Says what is wrong with the command line; returns -1. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("gcs-loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n" USAGE_HINT, stderr);
	return -1;
}

/* A whole decimal number in [min, max]: no sign, no junk, no overflow. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE || v < min || v > max)
		return usage_error("%s '%s': want a number from %" PRIu64 " to %" PRIu64, opt, s, min, max);
	*out = v;
	return 0;
}

static int parse_duration(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(*out >= 0 && *out <= 1e8))
		return usage_error("--duration '%s': want seconds, 0 or more", s);
	return 0;
}

static int parse_mix(const char *s, uint64_t *w)
{
	char *copy = xstrdup(s), *save = NULL, *tok = strtok_r(copy, ",", &save);
	int n = 0, rc = 0;

	for (; tok != NULL && n < T_COUNT && rc == 0; tok = strtok_r(NULL, ",", &save))
		rc = parse_u64("--mix weight", tok, 0, 1000000, &w[n++]);
	if (rc == 0 && (tok != NULL || n != T_COUNT || w[0] + w[1] + w[2] + w[3] == 0))
		rc = usage_error("--mix '%s': want four weights T,O,L,E, not all 0", s);
	free(copy);
	return rc;
}

static int parse_type(const char *s, uint64_t *w)
{
	for (int t = 0; t < T_COUNT; t++)
		w[t] = strcmp(s, type_names[t]) == 0;
	if (w[0] + w[1] + w[2] + w[3] == 0)
		return usage_error("--type '%s': want task, object, log or event", s);
	return 0;
}

enum { OPT_PREFIX = 256, OPT_START, OPT_MIX, OPT_TYPE, OPT_VALUE_SIZE, OPT_TTL, OPT_SEED };

static const struct option longopts[] = {
	{"socket", required_argument, NULL, 's'}, {"host", required_argument, NULL, 'H'},
	{"port", required_argument, NULL, 'p'}, {"password-file", required_argument, NULL, 'a'},
	{"db", required_argument, NULL, 'n'}, {"count", required_argument, NULL, 'c'},
	{"duration", required_argument, NULL, 'd'}, {"rate", required_argument, NULL, 'r'},
	{"pipeline", required_argument, NULL, 'P'}, {"prefix", required_argument, NULL, OPT_PREFIX},
	{"start", required_argument, NULL, OPT_START}, {"mix", required_argument, NULL, OPT_MIX},
	{"type", required_argument, NULL, OPT_TYPE},
	{"value-size", required_argument, NULL, OPT_VALUE_SIZE},
	{"ttl", required_argument, NULL, OPT_TTL}, {"seed", required_argument, NULL, OPT_SEED},
	{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
};

/* One option into o; -1 after saying what is wrong. */
static int parse_opt(int opt, const char *v, struct opts *o, bool *mixed)
{
	switch (opt) {
	case 's': o->socket = v; return 0;
	case 'H': o->host = v; return 0;
	case 'a': o->password_file = v; return 0;
	case OPT_PREFIX: o->prefix = v; return 0;
	case 'q': o->quiet = true; return 0;
	case 'p': return parse_u64("--port", v, 1, 65535, &o->port);
	case 'n': return parse_u64("--db", v, 0, INT_MAX, &o->db);
	case 'c': return parse_u64("--count", v, 0, LG_ID_MAX, &o->count);
	case 'd': return parse_duration(v, &o->duration);
	case 'r': return parse_u64("--rate", v, 0, 1000000000, &o->rate);
	case 'P': return parse_u64("--pipeline", v, 1, 100000, &o->pipeline);
	case OPT_START: return parse_u64("--start", v, 0, LG_ID_MAX, &o->start);
	case OPT_VALUE_SIZE: return parse_u64("--value-size", v, 0, 64u << 20, &o->value_size);
	case OPT_TTL: return parse_u64("--ttl", v, 1, INT_MAX, &o->ttl);
	case OPT_SEED: return parse_u64("--seed", v, 0, UINT64_MAX, &o->seed);
	case OPT_MIX:
	case OPT_TYPE:
		if (*mixed)
			return usage_error("give one of --mix and --type, once");
		*mixed = true;
		return opt == OPT_MIX ? parse_mix(v, o->weights) : parse_type(v, o->weights);
	default:
		fputs(USAGE_HINT, stderr);	/* getopt said why */
		return -1;
	}
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	bool mixed = false, tcp = false;
	int opt;

	*o = (struct opts){.host = "127.0.0.1", .prefix = "", .port = 6379, .count = 10000,
			   .pipeline = 100, .start = 1, .value_size = 300, .seed = 1,
			   .weights = {70, 20, 5, 5}};
	while ((opt = getopt_long(argc, argv, "s:H:p:a:n:c:d:r:P:qhV", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage();
			return ST_OK;
		}
		if (opt == 'V') {
			printf("gcs-loadgen %s\n", PACKAGE_VERSION);
			return ST_OK;
		}
		tcp |= opt == 'H' || opt == 'p';
		if (parse_opt(opt, optarg, o, &mixed) < 0)
			return ST_USAGE;
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	else if (o->socket && tcp)
		usage_error("give either --socket or --host/--port");
	else if (o->count && o->start + o->count - 1 > LG_ID_MAX)
		usage_error("ids from --start %" PRIu64 " for --count %" PRIu64 " would exceed %" PRIu64,
			    o->start, o->count, LG_ID_MAX);
	else
		return -1;
	return ST_USAGE;
}

/* ---- main -------------------------------------------------------------------- */

static void run_init(struct run *r, const struct opts *o)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->where = o->socket ? xasprintf("unix:%s", o->socket) : xasprintf("%s:%" PRIu64, o->host, o->port);
	/* splitmix64 scrambles the seed: xorshift must not start at 0, and
	 * nearby seeds should give unrelated sequences. */
	r->rng = o->seed + 0x9E3779B97F4A7C15ULL;
	r->rng = (r->rng ^ (r->rng >> 30)) * 0xBF58476D1CE4E5B9ULL;
	r->rng = (r->rng ^ (r->rng >> 27)) * 0x94D049BB133111EBULL;
	r->rng = (r->rng ^ (r->rng >> 31)) | 1;
	r->weight_sum = o->weights[0] + o->weights[1] + o->weights[2] + o->weights[3];
	buf_init(&r->e.key);
	r->e.val = xmalloc((size_t)o->value_size + 3);
	snprintf(r->e.ttl, sizeof(r->e.ttl), "%" PRIu64, o->ttl);
	r->creates = xcalloc((size_t)o->pipeline + 1, sizeof(*r->creates));
	r->next_id = o->start;
}

static void run_fini(struct run *r)
{
	if (r->c)
		redisFree(r->c);
	free(r->creates);
	free(r->e.val);
	buf_free(&r->e.key);
	free(r->last_error);
	free(r->cause);
	free(r->where);
}

static void signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;	/* a closed connection is an error to report, not a death */
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;	/* finish the batch, then print the summary */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	int st = parse_args(argc, argv, &o);

	if (st >= 0)
		return st;
	signals_init();
	run_init(&r, &o);
	st = ST_ERROR;
	if (connect_redis(&r) == 0) {
		r.t0 = r.pace_base = time_mono();
		if (run_load(&r) == 0)
			st = ST_OK;
		if (!o.quiet)
			summary(&r);
	}
	if (r.errors)
		fprintf(stderr, "gcs-loadgen: %" PRIu64 " error replies; the last: %s\n", r.errors, r.last_error);
	if (r.cause)
		fprintf(stderr, "gcs-loadgen: %s\n", r.cause);
	run_fini(&r);
	return st;
}
