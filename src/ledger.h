/* ledger: a shard's entries in creation order, so that "oldest first" is
 * exact.  A doubly linked list in creation order plus a hash index by key;
 * a key created again moves to the tail.  Persisted as an append-only log
 * in state_dir with periodic compaction, so a restart keeps the order.
 *
 * Marks are placeholders in the list: reconciliation inserts the keys it
 * finds in front of a mark placed where the gap began.
 *
 * The implementation is in three parts: ledger.c (the list and this API),
 * ledger_index.c (the hash index) and ledger_log.c (the file); callers use
 * this header only. */
#ifndef GCS_LEDGER_H
#define GCS_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 24 bytes before the key: every tracked key pays for them. */
struct ledger_entry {
	uint32_t hash;
	uint32_t created;	/* unix seconds */
	uint32_t klen;
	unsigned char link[12];	/* prev and next, and flags: see ledger_int.h */
	char key[];
};

struct ledger;

struct ledger *ledger_new(void);
/* Writes what is buffered (ledger_sync), then frees everything. */
void ledger_free(struct ledger *l);
/* Forgets every entry (and, when open, empties the log). */
void ledger_clear(struct ledger *l);

/* Opens (creating) the log at path and replays it; a torn tail is cut off.
 * Returns -1 with *err set on an I/O error or a file that is not a ledger. */
int ledger_open(struct ledger *l, const char *path, char **err);

/* The log's file work, handed out so that it can run off the loop (the
 * store's worker).  ledger_job_next gives the next piece, or NULL: with
 * tick (the periodic sync, once a second) the records buffered since the
 * last, an fdatasync, and a compaction's start when the log has grown well
 * past the live entries or one was asked for; without, only the next part
 * of a compaction under way (ledger_job_more).  A compaction feeds the
 * entries a slice at a time, so that no turn of the loop pays for all of
 * them.  The caller runs each job (ledger_job_run, on any thread) and gives
 * it back (ledger_job_done, -1 with *err on an I/O error) before asking
 * for the next. */
struct ledger_log_job;
struct ledger_log_job *ledger_job_next(struct ledger *l, bool tick);
void ledger_job_run(struct ledger_log_job *j);
int ledger_job_done(struct ledger *l, struct ledger_log_job *j, char **err);
bool ledger_job_more(const struct ledger *l);
/* All of it now, on this thread: writes and syncs buffered records and
 * compacts when due.  No job may be out.  -1 with *err on an I/O error. */
int ledger_sync(struct ledger *l, char **err);
/* Asks for the log to be rewritten as the live entries in order, at the
 * next sync; while entries are out for deletion (ledger_take), it waits
 * for them. */
void ledger_compact_soon(struct ledger *l);
/* ledger_compact_soon, then ledger_sync. */
int ledger_compact(struct ledger *l, char **err);

/* A key was created: appended, or moved to the tail if known. */
void ledger_add(struct ledger *l, const char *key, size_t klen, uint32_t created);
/* A key was deleted; false when it was not tracked. */
bool ledger_remove(struct ledger *l, const char *key, size_t klen);
/* Starts fetching the memory where key's lookup begins, and returns at
 * once: a caller with many keys to add or remove asks for each first, so
 * that their cache misses overlap. */
void ledger_prefetch(const struct ledger *l, const char *key, size_t klen);
bool ledger_contains(const struct ledger *l, const char *key, size_t klen);
size_t ledger_count(const struct ledger *l);
/* May a flush take anything now: the oldest entry is a key, not a mark.
 * False when the ledger is empty, and while the first reconciliation has
 * not yet found the keys older than those seen since (taking now would
 * take the newest). */
bool ledger_flushable(const struct ledger *l);
/* Gives memory back after random deletions: moves the live entries of up
 * to `pages` sparse slab pages (less than half live) into dense ones, so
 * that the emptied pages go back to the system (ledger_mem.c).  *moved
 * says how many entries moved.  True while more remains: call it again
 * soon; false when the ledger's pages are dense enough. */
bool ledger_defrag(struct ledger *l, size_t pages, size_t *moved);
/* Creation time of the oldest real entry, or 0. */
uint32_t ledger_oldest_created(const struct ledger *l);
/* Bytes of daemon memory the ledger uses (entries and index). */
size_t ledger_memory(const struct ledger *l);

/* Detaches up to max of the oldest entries, stopping at a mark.  They are
 * no longer tracked; the caller gives each back with ledger_put_back or
 * drops it with ledger_done. */
size_t ledger_take(struct ledger *l, struct ledger_entry **out, size_t max);
/* Whether a take wants an entry (e.g. its key's slot is one a node owns). */
typedef bool ledger_want_fn(void *arg, const char *key, size_t klen);
/* A cursor: a flush's place in the list between takes, so that a take that
 * skips the entries it does not want resumes where the last one stopped
 * rather than walking them again.  It starts at the head; free it when the
 * flush ends. */
struct ledger_entry *ledger_cursor_new(struct ledger *l);
void ledger_cursor_free(struct ledger *l, struct ledger_entry *cursor);
/* As ledger_take, but of the oldest entries after cursor that want()
 * accepts (leaving the others in place), stopping at a reconciliation
 * mark; moves cursor past what it examined.  Entries put back go to the
 * head, before the cursor: a later cursor sees them. */
size_t ledger_take_where(struct ledger *l, struct ledger_entry *cursor, ledger_want_fn *want, void *arg,
			 struct ledger_entry **out, size_t max);
/* Up to max keys for hold mode's sample of what the next flush removes:
 * of the entries want() accepts (all, when NULL), the oldest and every
 * step-th after it, passing flush cursors and stopping at a
 * reconciliation mark (where a flush stops too).  Returns how many; they
 * live until the ledger changes. */
size_t ledger_sample(const struct ledger *l, ledger_want_fn *want, void *arg, uint64_t step,
		     const struct ledger_entry **out, size_t max);
/* The deletion happened (or the key was gone): logs it and frees e. */
void ledger_done(struct ledger *l, struct ledger_entry *e);
/* The deletion did not happen: puts entries back at the head, in order,
 * unless the key was created again meanwhile.  Frees them. */
void ledger_put_back(struct ledger *l, struct ledger_entry **v, size_t n);

struct ledger_entry *ledger_mark(struct ledger *l);	/* appends a mark */
/* Inserts a key in front of mark, unless known.  Not logged: the caller
 * compacts when the reconciliation ends. */
void ledger_insert_before(struct ledger *l, struct ledger_entry *mark, const char *key, size_t klen,
			  uint32_t created);
void ledger_unmark(struct ledger *l, struct ledger_entry *mark);
/* Drops (and logs) every entry keep() refuses; returns how many. */
size_t ledger_retain(struct ledger *l, bool (*keep)(void *arg, const char *key, size_t klen), void *arg);

/* The walk below is for the unit tests and the fuzz targets, which check
 * the whole order; the daemon asks ledger_flushable and ledger_take
 * instead (shard.c's maybe_flush still walks until it moves over).
 *
 * The oldest entry, marks included; NULL when empty. */
const struct ledger_entry *ledger_head(const struct ledger *l);
/* The next newer entry, or NULL. */
const struct ledger_entry *ledger_next(const struct ledger_entry *e);
/* Whether e is a reconciliation mark rather than a key. */
bool ledger_is_mark(const struct ledger_entry *e);

#endif
