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

static redisContext *connect_shard(const struct shard_conf *sc)
{
	struct timeval tv = {RESTORE_TIMEOUT_SECS, 0};
	redisContext *rc;
	redisReply *r;

	rc = sc->addr.is_unix ? redisConnectUnixWithTimeout(sc->addr.path, tv)
			      : redisConnectWithTimeout(sc->addr.host, sc->addr.port, tv);
	if (rc == NULL || rc->err) {
		fprintf(stderr, "gcs-flushctl: cannot connect to %s: %s\n", sc->address, rc ? rc->errstr : "out of memory");
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (sc->secret != NULL) {
		r = *sc->username ? redisCommand(rc, "AUTH %s %s", sc->username, secret_str(sc->secret))
				  : redisCommand(rc, "AUTH %s", secret_str(sc->secret));
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "gcs-flushctl: %s: AUTH: %s\n", sc->address, r ? r->str : rc->errstr);
			freeReplyObject(r);
			redisFree(rc);
			return NULL;
		}
		freeReplyObject(r);
	}
	r = redisCommand(rc, "SELECT %llu", (unsigned long long)sc->db);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "gcs-flushctl: %s: SELECT %llu: %s\n", sc->address, (unsigned long long)sc->db,
			r ? r->str : rc->errstr);
		freeReplyObject(r);
		redisFree(rc);
		return NULL;
	}
	freeReplyObject(r);
	return rc;
}

/* A DUMP payload ends with its RDB version (2 bytes, little-endian) and a
 * CRC64 (8 bytes). */
static int payload_rdb_version(const char *p, size_t len)
{
	if (len < 10)
		return -1;
	return le_get16((const unsigned char *)p + len - 10);
}

/* Restores one key; prints what happened; returns 0 or 1. */
static int restore_one(redisContext *rc, const struct wanted *w, bool replace)
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
	/* Back into the db it was flushed from, whatever the config says now. */
	r = redisCommand(rc, "SELECT %u", (unsigned)w->db);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		printf(": SELECT %u: %s\n", (unsigned)w->db, r ? r->str : rc->errstr);
		freeReplyObject(r);
		return 1;
	}
	freeReplyObject(r);
	snprintf(ttl, sizeof(ttl), "%" PRId64, w->expire_ms < 0 ? (int64_t)0 : w->expire_ms);
	argv[argc] = "RESTORE", lens[argc++] = 7;
	argv[argc] = w->key, lens[argc++] = w->klen;
	argv[argc] = ttl, lens[argc++] = strlen(ttl);
	argv[argc] = w->payload, lens[argc++] = w->plen;
	argv[argc] = "ABSTTL", lens[argc++] = 6;
	if (replace)
		argv[argc] = "REPLACE", lens[argc++] = 7;
	r = redisCommandArgv(rc, argc, argv, lens);
	if (r == NULL) {
		printf(": %s\n", rc->errstr);
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
	redisContext *rc;
	int st = 0;

	fd.w = xcalloc((size_t)nkeys, sizeof(*fd.w));
	fd.n = nkeys;
	for (int i = 0; i < nkeys; i++) {
		fd.w[i].key = keys[i];
		fd.w[i].klen = strlen(keys[i]);
	}
	if (scan(c, shard, find_newest, &fd) < 0) {
		st = 1;
	} else if ((rc = connect_shard(conf_shard_find(c, shard))) == NULL) {
		st = 1;
	} else {
		for (int i = 0; i < nkeys; i++)
			st |= restore_one(rc, &fd.w[i], replace);
		redisFree(rc);
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
