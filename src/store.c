/* store: a shard's ledger file and archive.
 *
 * The ledger's log is written and synced once a second (LEDGER_SYNC_SECS),
 * compacted in slices when due, and written at the end; its contents are
 * tracking's.  The store also paces the ledger's sweep, which gives memory
 * back after random deletions (ledger_mem.c).  The archive is opened when archiving
 * is on and retried every tick while it cannot be: a shard whose archive
 * cannot be opened, or whose last commit failed, deletes nothing.
 *
 * The slow file work (an archive commit's write and fdatasync, retention's
 * unlinks, the ledger's writes, syncs and compaction) runs on the store's
 * own worker thread, one job at a time, so that neither the
 * loop nor another shard waits for this shard's disk.  A commit or a
 * retention in flight holds the archive as a flush cycle does: it is not
 * closed or switched under them. */
#include "config.h"

#include <errno.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
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
#include "worker.h"

#define LEDGER_SYNC_SECS 1.0
/* After random deletions, the ledger gives its sparse pages back this many
 * at a time, one batch every LEDGER_DEFRAG_SECS while any is left: a
 * million entries' pages (about 730) in under five seconds, each batch
 * well under a millisecond of the loop. */
#define LEDGER_DEFRAG_PAGES 16
#define LEDGER_DEFRAG_SECS 0.05

struct store {
	store_error_fn *error;
	void *owner;
	char *name;
	char *state_dir;
	char *ledger_path;
	struct ledger *ledger;
	struct event *sync_timer;
	struct event *defrag_timer;	/* the ledger's sweep, while it goes on */
	size_t defrag_moved;		/* entries the sweep under way moved */

	struct store_params want;	/* the settings (strings not kept) */
	struct archive *archive;	/* NULL: off, or cannot be opened */
	uint64_t archive_segment_bytes;	/* it was opened with */
	bool commit_failed;		/* the last commit failed */
	unsigned holds;			/* flush cycles and jobs using the archive as it is */
	bool setup_pending;		/* new settings wait for the last release */

	struct worker *worker;		/* the slow file work */
	uint64_t gen;			/* the generation of the records handed over now */
	uint64_t committing;		/* the generation being committed; 0: none */
	double last_commit;		/* monotonic: when the last one started */
	struct event *commit_timer;	/* the floor between commits */
	struct waiter *waiters;		/* callbacks for generations not yet settled */
	size_t nwaiters, capwaiters;
	uint64_t archive_syncs_total;
	bool retaining;			/* a retention job is in flight */
	bool ledger_busy;		/* a ledger job is in flight */
};

struct waiter {
	uint64_t gen;
	store_synced_fn *fn;
	void *arg;
};

struct commit_job {
	struct store *st;
	struct archive_commit *c;
	uint64_t gen;
};

struct retain_job {
	struct store *st;
	struct archive_retention *r;
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

struct ledger_io {
	struct store *st;
	struct ledger_log_job *j;
};

static void pump_ledger(struct store *st, bool tick);

static void ledger_io_work(void *job)
{
	struct ledger_io *io = job;

	ledger_job_run(io->j);
}

static void ledger_io_done(void *job)
{
	struct ledger_io *io = job;
	struct store *st = io->st;
	char *err = NULL;

	st->ledger_busy = false;
	if (ledger_job_done(st->ledger, io->j, &err) < 0) {
		report(st, err);
		free(err);
	}
	free(io);
	if (ledger_job_more(st->ledger))
		pump_ledger(st, false);	/* a compaction's next slice */
}

/* Hands the ledger's next file work to the worker.  One job at a time: a
 * tick that finds one still out (a slow disk) is skipped, and its records
 * go with the next. */
static void pump_ledger(struct store *st, bool tick)
{
	struct ledger_log_job *j;
	struct ledger_io *io;

	if (st->ledger_busy || (j = ledger_job_next(st->ledger, tick)) == NULL)
		return;
	io = xmalloc(sizeof(*io));
	io->st = st;
	io->j = j;
	st->ledger_busy = true;
	worker_submit(st->worker, io, ledger_io_work, ledger_io_done);
}

/* The sweep's batches, one every LEDGER_DEFRAG_SECS while it goes on.  When
 * a sweep that moved entries ends, the heap's free pages go back too: the
 * burst of events that deleted the keys left hiredis's replies, the log's
 * records and the index's old tables freed in the middle of the heap, where
 * glibc keeps them (4.5 of 9 MB of RSS after 180000 deletions, measured). */
static void defrag(struct store *st)
{
	size_t moved;

	if (ledger_defrag(st->ledger, LEDGER_DEFRAG_PAGES, &moved)) {
		st->defrag_moved += moved;
		timer_arm(st->defrag_timer, LEDGER_DEFRAG_SECS);
		return;
	}
	if (st->defrag_moved + moved > 0) {
#ifdef HAVE_MALLOC_TRIM
		malloc_trim(0);
#endif
		st->defrag_moved = 0;
	}
}

static void on_defrag(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	defrag(arg);
}

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;

	(void)fd;
	(void)what;
	pump_ledger(st, true);
	if (!event_pending(st->defrag_timer, EV_TIMEOUT, NULL))
		defrag(st);
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

static void retain_work(void *job)
{
	struct retain_job *j = job;

	archive_retain_run(j->r);
}

static void retain_done(void *job)
{
	struct retain_job *j = job;
	struct store *st = j->st;
	int n = archive_retain_end(st->archive, j->r);

	if (n > 0)
		log_info("shard %s: archive retention removed %d segment%s", st->name, n, n == 1 ? "" : "s");
	st->retaining = false;
	free(j);
	store_release(st);
}

/* Retention never touches the segment a commit writes, so it may run
 * beside one (and a busy shard's commits would otherwise starve it). */
static void retain(struct store *st)
{
	struct archive_retention *r;
	struct retain_job *j;

	if (st->archive == NULL || st->retaining)
		return;
	r = archive_retain_begin(st->archive, st->want.archive_max_bytes, (int64_t)(st->want.archive_max_age * 1000),
				 (int64_t)(time_now() * 1000));
	if (r == NULL)
		return;
	j = xmalloc(sizeof(*j));
	j->st = st;
	j->r = r;
	st->retaining = true;
	store_hold(st);
	worker_submit(st->worker, j, retain_work, retain_done);
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

/* ---- archive commits --------------------------------------------------------------- */

static void maybe_commit(struct store *st);

/* Calls (and forgets) the callbacks of generations up to gen. */
static void settle(struct store *st, uint64_t gen, bool ok, const char *err)
{
	struct waiter *due = xmalloc((st->nwaiters + 1) * sizeof(*due));
	size_t n = 0, keep = 0;

	/* Taken out first: a callback may hand over the next batch. */
	for (size_t i = 0; i < st->nwaiters; i++) {
		if (st->waiters[i].gen <= gen)
			due[n++] = st->waiters[i];
		else
			st->waiters[keep++] = st->waiters[i];
	}
	st->nwaiters = keep;
	for (size_t i = 0; i < n; i++)
		due[i].fn(due[i].arg, gen, ok, err);
	free(due);
}

static void commit_work(void *job)
{
	struct commit_job *j = job;

	archive_commit_run(j->c);
}

static void commit_done(void *job)
{
	struct commit_job *j = job;
	struct store *st = j->st;
	char *err = NULL;
	int errnum;

	st->commit_failed = archive_commit_end(st->archive, j->c, &errnum, &err) < 0;
	st->archive_syncs_total++;
	st->committing = 0;
	settle(st, j->gen, !st->commit_failed, err);
	free(err);
	free(j);
	store_release(st);
	maybe_commit(st);
}

static void on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	maybe_commit(arg);
}

/* Starts a commit of everything handed over, unless one is running (its
 * end starts the next) or the last started less than STORE_SYNC_INTERVAL
 * ago (the timer does). */
static void maybe_commit(struct store *st)
{
	double wait = st->last_commit + STORE_SYNC_INTERVAL - time_mono();
	struct commit_job *j;

	if (st->committing != 0 || st->nwaiters == 0 || st->archive == NULL)
		return;
	if (wait > 0) {
		if (!event_pending(st->commit_timer, EV_TIMEOUT, NULL))
			timer_arm(st->commit_timer, wait);
		return;
	}
	j = xmalloc(sizeof(*j));
	j->st = st;
	j->gen = st->gen;
	j->c = archive_commit_begin(st->archive);
	if (j->c == NULL) {
		/* Nothing to write: every batch handed over is durable already. */
		free(j);
		settle(st, st->gen, true, NULL);
		return;
	}
	st->committing = st->gen++;
	st->last_commit = time_mono();
	store_hold(st);
	worker_submit(st->worker, j, commit_work, commit_done);
}

uint64_t store_sync(struct store *st, struct archive_batch *b, store_synced_fn *fn, void *arg)
{
	uint64_t gen = st->gen;
	bool known = false;

	archive_add_batch(st->archive, b);
	for (size_t i = 0; i < st->nwaiters && !known; i++)
		known = st->waiters[i].gen == gen && st->waiters[i].fn == fn && st->waiters[i].arg == arg;
	if (!known) {
		if (st->nwaiters == st->capwaiters) {
			st->capwaiters = st->capwaiters ? 2 * st->capwaiters : 8;
			st->waiters = xrealloc(st->waiters, st->capwaiters * sizeof(*st->waiters));
		}
		st->waiters[st->nwaiters++] = (struct waiter){gen, fn, arg};
	}
	maybe_commit(st);
	return gen;
}

void store_sync_cancel(struct store *st, void *arg)
{
	size_t keep = 0;

	for (size_t i = 0; i < st->nwaiters; i++)
		if (st->waiters[i].arg != arg)
			st->waiters[keep++] = st->waiters[i];
	st->nwaiters = keep;
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
	st->commit_timer = evtimer_new(base, on_commit_timer, st);
	st->defrag_timer = evtimer_new(base, on_defrag, st);
	if (st->sync_timer == NULL || st->commit_timer == NULL || st->defrag_timer == NULL)
		abort();
	st->worker = worker_new(base, p->name);
	st->gen = 1;
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
	/* What is in flight finishes first: no file is closed under it. */
	worker_free(st->worker);
	/* Said here: the owner is going away. */
	if (ledger_sync(st->ledger, &err) < 0) {
		log_warn("shard %s: %s", st->name, err);
		free(err);
	}
	ledger_free(st->ledger);
	archive_close(st->archive);
	event_free(st->sync_timer);
	event_free(st->commit_timer);
	event_free(st->defrag_timer);
	free(st->waiters);
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
	stats->archive_syncs_total = st->archive_syncs_total;
}
