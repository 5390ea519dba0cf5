/* restore: the client side of the archive. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "archive.h"
#include "le.h"
#include "match.h"
#include "restore.h"
#include "statedir.h"
#include "util.h"

#define RESTORE_TIMEOUT_SECS 10

/* The newest archived version of one requested key. */
struct wanted {
	const char *key;
	size_t klen;
	bool found;
	uint32_t db;
	int64_t flushed_ms, expire_ms;
	char *payload;
	size_t plen;
};

struct finder {
	struct wanted *w;
	int n;
	const char *pattern;
	uint64_t matched;
	uint64_t expired;
	int64_t db;		/* export: the db selected so far, -1 none */
};

/* A key as people can read it: printable ASCII as it is, others \xNN.  More
 * is escaped than a log line's control bytes: a key is binary, not text, so
 * bytes from 0x80 up are shown too, and a backslash is escaped so that the
 * form reads back to exactly one key. */
static void put_key(FILE *f, const char *key, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (ctl_byte(c, NULL) || c >= 0x80 || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void put_time(FILE *f, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "%s.%03dZ", buf, (int)(ms % 1000));
}

static int64_t now_ms(void)
{
	return (int64_t)(time_now() * 1000);
}

/* Runs archive_scan over the shard's archive, reporting problems. */
static int scan(const struct conf *c, const char *shard, archive_scan_fn *fn, void *arg)
{
	char *dir, *err = NULL;
	unsigned corrupt = 0;
	int rc;

	if (conf_shard_find(c, shard) == NULL) {
		fprintf(stderr, "gcs-flushctl: %s has no [shard:%s]\n", c->path, shard);
		return -1;
	}
	dir = statedir_archive_dir(c->state_dir, shard);
	rc = archive_scan(dir, fn, arg, &corrupt, &err);
	if (rc < 0) {
		fprintf(stderr, "gcs-flushctl: archive %s: %s\n", dir, err);
		free(err);
	} else if (corrupt > 0) {
		fprintf(stderr, "gcs-flushctl: warning: %u corrupt record%s in %s skipped\n", corrupt,
			corrupt == 1 ? "" : "s", dir);
	}
	free(dir);
	return rc;
}

static int find_newest(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset)
{
	struct finder *fd = arg;

	(void)segment;
	(void)offset;
	for (int i = 0; i < fd->n; i++) {
		struct wanted *w = &fd->w[i];

		if (w->klen != r->key_len || memcmp(w->key, r->key, r->key_len) != 0)
			continue;
		/* Records are in archive order: a later one is newer. */
		free(w->payload);
		w->payload = xmalloc(r->payload_len ? r->payload_len : 1);
		memcpy(w->payload, r->payload, r->payload_len);
		w->plen = r->payload_len;
		w->flushed_ms = r->flushed_ms;
		w->expire_ms = r->expire_ms;
		w->db = r->db;
		w->found = true;
	}
	return 0;
}

/* A connection to host:port (or a UNIX socket), authenticated with
 * username and secret; NULL after saying why. */
static redisContext *connect_to(const char *what, const struct parse_addr *a, const char *username,
				const struct secret *secret)
{
	struct timeval tv = {RESTORE_TIMEOUT_SECS, 0};
	redisContext *rc;
	redisReply *r;

	rc = a->is_unix ? redisConnectUnixWithTimeout(a->path, tv) : redisConnectWithTimeout(a->host, a->port, tv);
	if (rc == NULL || rc->err) {
		fprintf(stderr, "gcs-flushctl: cannot connect to %s: %s\n", what, rc ? rc->errstr : "out of memory");
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (secret != NULL) {
		r = *username ? redisCommand(rc, "AUTH %s %s", username, secret_str(secret))
			      : redisCommand(rc, "AUTH %s", secret_str(secret));
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "gcs-flushctl: %s: AUTH: %s\n", what, r ? r->str : rc->errstr);
			freeReplyObject(r);
			redisFree(rc);
			return NULL;
		}
		freeReplyObject(r);
	}
	return rc;
}

/* Where restore sends keys: the shard's server, its Sentinel master, or
 * for a cluster whichever node a MOVED names. */
struct route {
	const struct shard_conf *sc;
	redisContext *rc;
	char *addr;		/* rc's */
};

/* Connects the route to addr ("host:port" or the shard's address). */
static int route_to(struct route *rt, const char *addr)
{
	struct parse_addr a = {0};
	const char *err;
	int rc = 0;

	redisFree(rt->rc);
	rt->rc = NULL;
	free(rt->addr);
	rt->addr = xstrdup(addr);
	if (parse_address(addr, &a, &err) < 0) {
		fprintf(stderr, "gcs-flushctl: %s: %s\n", addr, err);
		return -1;
	}
	rt->rc = connect_to(addr, &a, rt->sc->username, rt->sc->secret);
	if (rt->rc == NULL)
		rc = -1;
	parse_addr_free(&a);
	return rc;
}

/* The first of the space-separated host:port list that answers a command
 * (a cluster seed, or the sentinel that names the master); into rt. */
static int route_seed(struct route *rt)
{
	bool sentinel = *rt->sc->sentinels != '\0';
	char *list = xstrdup(sentinel ? rt->sc->sentinels : rt->sc->cluster), *save = NULL;
	int rc = -1;

	for (char *t = strtok_r(list, " \t", &save); t != NULL && rc < 0; t = strtok_r(NULL, " \t", &save)) {
		struct parse_addr a = {0};
		const char *err;
		redisContext *c;
		redisReply *r;

		if (parse_address(t, &a, &err) < 0)
			continue;
		c = connect_to(t, &a, sentinel ? rt->sc->sentinel_username : rt->sc->username,
			       sentinel ? rt->sc->sentinel_secret : rt->sc->secret);
		parse_addr_free(&a);
		if (c == NULL)
			continue;
		if (!sentinel) {
			rt->rc = c;
			rt->addr = xstrdup(t);
			rc = 0;
			break;
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", rt->sc->sentinel_master);
		if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
			char *addr = strchr(r->element[0]->str, ':') ? xasprintf("[%s]:%s", r->element[0]->str, r->element[1]->str)
								     : xasprintf("%s:%s", r->element[0]->str, r->element[1]->str);

			rc = route_to(rt, addr);
			free(addr);
		} else {
			fprintf(stderr, "gcs-flushctl: sentinel %s: no master named '%s'\n", t, rt->sc->sentinel_master);
		}
		freeReplyObject(r);
		redisFree(c);
	}
	free(list);
	return rc;
}

static int route_open(struct route *rt, const struct shard_conf *sc)
{
	memset(rt, 0, sizeof(*rt));
	rt->sc = sc;
	if (*sc->address) {
		rt->rc = connect_to(sc->address, &sc->addr, sc->username, sc->secret);
		rt->addr = xstrdup(sc->address);
		return rt->rc != NULL ? 0 : -1;
	}
	return route_seed(rt);
}

static void route_close(struct route *rt)
{
	redisFree(rt->rc);
	free(rt->addr);
}

/* A DUMP payload ends with its RDB version (2 bytes, little-endian) and a
 * CRC64 (8 bytes). */
static int payload_rdb_version(const char *p, size_t len)
{
	if (len < 10)
		return -1;
	return le_get16((const unsigned char *)p + len - 10);
}

/* A cluster's redirect, "MOVED 3999 127.0.0.1:7002" or "ASK ...": the
 * address in *addr (freed by the caller); 0 none, 1 MOVED, 2 ASK. */
static int redirect_of(const redisReply *r, char **addr)
{
	const char *sp;
	int kind;

	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	if (strncmp(r->str, "MOVED ", 6) == 0)
		kind = 1;
	else if (strncmp(r->str, "ASK ", 4) == 0)
		kind = 2;
	else
		return 0;
	/* The word, the slot, the address. */
	sp = strchr(r->str, ' ');
	sp = sp != NULL ? strchr(sp + 1, ' ') : NULL;
	if (sp == NULL)
		return 0;
	*addr = xstrdup(sp + 1);
	return kind;
}

/* RESTORE on the route's node, following up to 5 redirects. */
static redisReply *send_restore(struct route *rt, int argc, const char **argv, const size_t *lens)
{
	bool asking = false;

	for (int hops = 0; hops < 5 && rt->rc != NULL; hops++) {
		redisReply *r;
		char *addr = NULL;
		int kind;

		if (asking)
			freeReplyObject(redisCommand(rt->rc, "ASKING"));
		r = redisCommandArgv(rt->rc, argc, argv, lens);
		if (r == NULL || (kind = redirect_of(r, &addr)) == 0)
			return r;
		freeReplyObject(r);
		asking = kind == 2;
		route_to(rt, addr);
		free(addr);
	}
	return NULL;
}

/* Restores one key; prints what happened; returns 0 or 1. */
static int restore_one(struct route *rt, const struct wanted *w, bool replace)
{
	char ttl[32];
	const char *argv[6];
	size_t lens[6];
	int argc = 0, st = 0;
	redisReply *r;

	put_key(stdout, w->key, w->klen);
	if (!w->found) {
		printf(": not in the archive\n");
		return 1;
	}
	if (w->expire_ms >= 0 && w->expire_ms <= now_ms()) {
		printf(": its expiry (");
		put_time(stdout, w->expire_ms);
		printf(") has passed; not restored\n");
		return 1;
	}
	if (rt->rc == NULL) {
		printf(": no connection to %s\n", rt->addr ? rt->addr : "the shard");
		return 1;
	}
	/* Back into the db it was flushed from, whatever the config says now
	 * (a cluster has only db 0, and refuses SELECT of another). */
	if (w->db != 0) {
		r = redisCommand(rt->rc, "SELECT %u", (unsigned)w->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			printf(": SELECT %u: %s\n", (unsigned)w->db, r ? r->str : rt->rc->errstr);
			freeReplyObject(r);
			return 1;
		}
		freeReplyObject(r);
	}
	snprintf(ttl, sizeof(ttl), "%" PRId64, w->expire_ms < 0 ? (int64_t)0 : w->expire_ms);
	argv[argc] = "RESTORE", lens[argc++] = 7;
	argv[argc] = w->key, lens[argc++] = w->klen;
	argv[argc] = ttl, lens[argc++] = strlen(ttl);
	argv[argc] = w->payload, lens[argc++] = w->plen;
	argv[argc] = "ABSTTL", lens[argc++] = 6;
	if (replace)
		argv[argc] = "REPLACE", lens[argc++] = 7;
	r = send_restore(rt, argc, argv, lens);
	if (r == NULL) {
		printf(": %s\n", rt->rc ? rt->rc->errstr : "no connection");
		return 1;
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYKEY", 7) == 0) {
		printf(": exists in Redis; not replaced (use --replace to overwrite it)\n");
		st = 1;
	} else if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "payload version") != NULL) {
		printf(": the server refused the payload (%s): it has RDB version %d, so either a newer Redis "
		       "than this server dumped it, or it is damaged\n", r->str, payload_rdb_version(w->payload, w->plen));
		st = 1;
	} else if (r->type == REDIS_REPLY_ERROR) {
		printf(": %s\n", r->str);
		st = 1;
	} else {
		printf(": restored the version flushed at ");
		put_time(stdout, w->flushed_ms);
		if (w->expire_ms >= 0) {
			printf(", expiring at ");
			put_time(stdout, w->expire_ms);
		}
		printf("\n");
	}
	freeReplyObject(r);
	return st;
}

int restore_keys(const struct conf *c, const char *shard, char **keys, int nkeys, bool replace)
{
	struct finder fd = {0};
	struct route rt;
	int st = 0;

	fd.w = xcalloc((size_t)nkeys, sizeof(*fd.w));
	fd.n = nkeys;
	for (int i = 0; i < nkeys; i++) {
		fd.w[i].key = keys[i];
		fd.w[i].klen = strlen(keys[i]);
	}
	if (scan(c, shard, find_newest, &fd) < 0) {
		st = 1;
	} else if (route_open(&rt, conf_shard_find(c, shard)) < 0) {
		route_close(&rt);
		st = 1;
	} else {
		for (int i = 0; i < nkeys; i++)
			st |= restore_one(&rt, &fd.w[i], replace);
		route_close(&rt);
	}
	for (int i = 0; i < nkeys; i++)
		free(fd.w[i].payload);
	free(fd.w);
	return st;
}

static bool wanted_key(const struct finder *fd, const struct archive_rec *r)
{
	return fd->pattern == NULL || match_glob(fd->pattern, strlen(fd->pattern), r->key, r->key_len);
}

static int list_one(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset)
{
	struct finder *fd = arg;

	(void)segment;
	(void)offset;
	if (!wanted_key(fd, r))
		return 0;
	fd->matched++;
	put_time(stdout, r->flushed_ms);
	printf("  %8zu B  ", r->payload_len);
	if (r->expire_ms >= 0) {
		printf("expires ");
		put_time(stdout, r->expire_ms);
	} else {
		printf("%-32s", "no expiry");
	}
	printf("  ");
	put_key(stdout, r->key, r->key_len);
	printf("\n");
	return 0;
}

int restore_list(const struct conf *c, const char *shard, const char *pattern)
{
	struct finder fd = {.pattern = pattern};

	printf("%-24s  %10s  %-32s  %s\n", "FLUSHED (UTC)", "DUMP", "EXPIRY", "KEY");
	if (scan(c, shard, list_one, &fd) < 0)
		return 1;
	fprintf(stderr, "%" PRIu64 " record%s\n", fd.matched, fd.matched == 1 ? "" : "s");
	return 0;
}

static void resp_bulk(const void *p, size_t len)
{
	printf("$%zu\r\n", len);
	fwrite(p, 1, len, stdout);
	fputs("\r\n", stdout);
}

static int export_one(void *arg, const struct archive_rec *r, const char *segment, uint64_t offset)
{
	struct finder *fd = arg;
	char ttl[32];

	(void)segment;
	(void)offset;
	if (!wanted_key(fd, r))
		return 0;
	/* An expired record is exported too: RESTORE ... REPLACE with a past
	 * ABSTTL deletes the key, so an expired newest version is not undone
	 * by an older one that came before it. */
	if (r->expire_ms >= 0 && r->expire_ms <= now_ms())
		fd->expired++;
	fd->matched++;
	if (fd->db != (int64_t)r->db) {
		char db[16];

		snprintf(db, sizeof(db), "%u", (unsigned)r->db);
		printf("*2\r\n");
		resp_bulk("SELECT", 6);
		resp_bulk(db, strlen(db));
		fd->db = r->db;
	}
	snprintf(ttl, sizeof(ttl), "%" PRId64, r->expire_ms < 0 ? (int64_t)0 : r->expire_ms);
	printf("*6\r\n");
	resp_bulk("RESTORE", 7);
	resp_bulk(r->key, r->key_len);
	resp_bulk(ttl, strlen(ttl));
	resp_bulk(r->payload, r->payload_len);
	resp_bulk("ABSTTL", 6);
	resp_bulk("REPLACE", 7);
	return 0;
}

int restore_export(const struct conf *c, const char *shard, const char *pattern)
{
	struct finder fd = {.pattern = pattern, .db = -1};

	if (scan(c, shard, export_one, &fd) < 0)
		return 1;
	fprintf(stderr, "exported %" PRIu64 " record%s", fd.matched, fd.matched == 1 ? "" : "s");
	if (fd.expired > 0)
		fprintf(stderr, "; %" PRIu64 " of them expired (restoring one removes its key)", fd.expired);
	fputc('\n', stderr);
	return 0;
}
