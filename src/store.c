/* store: a shard's ledger file and archive.
 *
 * The ledger's log is written once a second (LEDGER_SYNC_SECS) and at the
 * end; its contents are tracking's.  The archive is opened when archiving
 * is on and retried every tick while it cannot be: a shard whose archive
 * cannot be opened, or whose last commit failed, deletes nothing. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "archive.h"
#include "ledger.h"
#include "log.h"
#include "statedir.h"
#include "store.h"
#include "timer.h"
#include "util.h"

#define LEDGER_SYNC_SECS 1.0

struct store {
	store_error_fn *error;
	void *owner;
	char *name;
	char *state_dir;
	char *ledger_path;
	struct ledger *ledger;
	struct event *sync_timer;

	struct store_params want;	/* the settings (strings not kept) */
	struct archive *archive;	/* NULL: off, or cannot be opened */
	uint64_t archive_segment_bytes;	/* it was opened with */
	bool commit_failed;		/* the last commit failed */
	unsigned holds;			/* flush cycles using the archive as it is */
	bool setup_pending;		/* new settings wait for the last release */
};

static void report(struct store *st, const char *msg)
{
	st->error(st->owner, msg);
}

/* ---- the ledger file ---------------------------------------------------------- */

static void open_ledger(struct store *st)
{
	char *err = NULL;
	int cut = ledger_open(st->ledger, st->ledger_path, &err);

	if (cut < 0) {
		log_error("shard %s: ledger %s; tracking in memory only", st->name, err);
		report(st, err);
		free(err);
		return;
	}
	if (cut > 0)
		log_notice("shard %s: ledger %s: cut a torn tail of %d bytes", st->name, st->ledger_path, cut);
	if (ledger_count(st->ledger) > 0)
		log_info("shard %s: ledger %s: %zu entries in creation order", st->name, st->ledger_path,
			 ledger_count(st->ledger));
}

static void sync_ledger(struct store *st)
{
	char *err = NULL;

	if (ledger_sync(st->ledger, &err) < 0) {
		report(st, err);
		free(err);
	}
}

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sync_ledger(arg);
}

/* ---- the archive ---------------------------------------------------------------- */

static void close_archive(struct store *st)
{
	archive_close(st->archive);
	st->archive = NULL;
	st->commit_failed = false;
}

static void open_archive(struct store *st)
{
	char *dir = statedir_archive_dir(st->state_dir, st->name), *root = statedir_archive_root(st->state_dir);
	char *err = NULL;
	int64_t cut = 0;

	if (mkdir(root, 0750) < 0 && errno != EEXIST)
		log_debug("shard %s: mkdir %s: %s", st->name, root, strerror(errno));
	st->archive = archive_open(dir, st->want.archive_segment_bytes, &cut, &err);
	st->archive_segment_bytes = st->want.archive_segment_bytes;
	if (st->archive == NULL) {
		/* Said once (the owner reports changes only); retried every tick. */
		char *msg = xasprintf("archive: %s; not flushing", err);

		report(st, msg);
		free(msg);
		free(err);
	} else {
		if (cut > 0)
			log_notice("shard %s: archive %s: cut a torn tail of %lld bytes", st->name, dir,
				   (long long)cut);
		if (archive_warning(st->archive) != NULL)
			log_warn("shard %s: archive %s: %s", st->name, dir, archive_warning(st->archive));
	}
	free(dir);
	free(root);
}

/* Opens, reopens or closes the archive to match the settings. */
static void setup_archive(struct store *st)
{
	if (st->holds > 0) {
		/* A chunk in flight was dumped for this archive: switch after the cycle. */
		st->setup_pending = true;
		return;
	}
	st->setup_pending = false;
	if (st->archive != NULL && st->want.archive && st->archive_segment_bytes != st->want.archive_segment_bytes)
		close_archive(st);	/* reopened below with the new segment size */
	if (!st->want.archive) {
		if (st->archive != NULL)
			log_notice("shard %s: archive off: flushed entries are no longer archived", st->name);
		close_archive(st);
		return;
	}
	if (st->archive == NULL)
		open_archive(st);
}

static bool archive_missing(const struct store *st)
{
	return st->want.archive && st->archive == NULL;
}

static void retain(struct store *st)
{
	int n;

	if (st->archive == NULL)
		return;
	n = archive_retain(st->archive, st->want.archive_max_bytes, (int64_t)(st->want.archive_max_age * 1000),
			   (int64_t)(time_now() * 1000));
	if (n > 0)
		log_info("shard %s: archive retention removed %d segment%s", st->name, n, n == 1 ? "" : "s");
}

void store_tick(struct store *st)
{
	if (archive_missing(st))
		setup_archive(st);
	retain(st);
}

/* ---- what a flush uses -------------------------------------------------------------- */

bool store_blocked(const struct store *st)
{
	return archive_missing(st) || (st->archive != NULL && st->commit_failed);
}

bool store_usable(const struct store *st)
{
	return !archive_missing(st);
}

bool store_archiving(const struct store *st)
{
	return st->archive != NULL;
}

void store_hold(struct store *st)
{
	st->holds++;
}

void store_release(struct store *st)
{
	if (st->holds > 0 && --st->holds == 0 && st->setup_pending)
		setup_archive(st);
}

int store_add(struct store *st, const struct archive_rec *r)
{
	return archive_add(st->archive, r);
}

int store_commit(struct store *st, char **err)
{
	int errnum;

	st->commit_failed = archive_commit(st->archive, &errnum, err) < 0;
	return st->commit_failed ? -1 : 0;
}

void store_discard(struct store *st)
{
	if (st->archive != NULL)
		archive_discard(st->archive);
}

/* ---- lifetime ---------------------------------------------------------------------- */

static void copy_params(struct store *st, const struct store_params *p)
{
	st->want = *p;
	st->want.name = NULL;	/* st->name is the kept copy */
}

struct store *store_new(struct event_base *base, const char *state_dir, const struct store_params *p,
			store_error_fn *error, void *owner)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->error = error;
	st->owner = owner;
	st->name = xstrdup(p->name);
	st->state_dir = xstrdup(state_dir);
	st->ledger_path = statedir_ledger_path(state_dir, p->name);
	st->ledger = ledger_new();
	st->sync_timer = event_new(base, -1, EV_PERSIST, on_sync, st);
	if (st->sync_timer == NULL)
		abort();
	timer_arm(st->sync_timer, LEDGER_SYNC_SECS);
	copy_params(st, p);
	open_ledger(st);
	setup_archive(st);
	return st;
}

void store_set_params(struct store *st, const struct store_params *p)
{
	copy_params(st, p);
	setup_archive(st);
}

void store_free(struct store *st)
{
	char *err = NULL;

	if (st == NULL)
		return;
	/* Said here: the owner is going away. */
	if (ledger_sync(st->ledger, &err) < 0) {
		log_warn("shard %s: %s", st->name, err);
		free(err);
	}
	ledger_free(st->ledger);
	archive_close(st->archive);
	event_free(st->sync_timer);
	free(st->name);
	free(st->state_dir);
	free(st->ledger_path);
	free(st);
}

struct ledger *store_ledger(struct store *st)
{
	return st->ledger;
}

void store_stats(const struct store *st, struct shard_stats *stats)
{
	struct archive_stats a = {0, 0, -1, 0};

	if (st->archive != NULL)
		archive_stats(st->archive, &a);
	stats->archive_bytes = a.bytes;
	stats->archive_segments = a.segments;
	if (a.oldest_flushed_ms >= 0)
		stats->archive_oldest_unix = (double)a.oldest_flushed_ms / 1000;
	stats->archive_blocked = store_blocked(st);
}
