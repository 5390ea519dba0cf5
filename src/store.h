/* store: a shard's state on disk.  It owns the ledger (opened from and
 * synced to STATE_DIR/NAME.ledger; what the ledger holds is tracking's
 * business) and the archive (opened, retried, pruned by retention), and
 * gives the one answer to "may a flush delete now": not while archiving
 * is wanted and fails.  Flushing writes archive records through it. */
#ifndef GCS_STORE_H
#define GCS_STORE_H

/* At most one archive commit (one fdatasync) per this many seconds: the
 * chunks DUMPed meanwhile share the next (a sync took 0.4 ms on the
 * project's machine). */
#define STORE_SYNC_INTERVAL 0.002

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

struct event_base;
struct archive_batch;
struct ledger;
struct store;

/* Copied by store_set_params. */
struct store_params {
	const char *name;		/* the shard's: its files, and the log */
	bool archive;
	uint64_t archive_segment_bytes;
	uint64_t archive_max_bytes;	/* 0 keeps all */
	double archive_max_age;		/* seconds; 0 keeps all */
};

/* Errors go to the owner once each (e.g. to show in status). */
typedef void store_error_fn(void *owner, const char *msg);

struct store *store_new(struct event_base *base, const char *state_dir, const struct store_params *p,
			store_error_fn *error, void *owner);
/* Syncs the ledger and closes everything. */
void store_free(struct store *st);
/* Adopts new archive settings.  While a flush holds the store, the switch
 * waits for store_release. */
void store_set_params(struct store *st, const struct store_params *p);
/* The periodic chores: retries an archive that could not be opened and
 * applies retention. */
void store_tick(struct store *st);

struct ledger *store_ledger(struct store *st);

/* True when archiving is wanted but fails (cannot open, or the last
 * commit failed): nothing is being deleted.  Status shows this. */
bool store_blocked(const struct store *st);
/* May a flush cycle start?  Not while the wanted archive cannot be opened;
 * after a failed commit it may: its own commit is the retry. */
bool store_usable(const struct store *st);
/* For a flush cycle: hold the archive as it is until store_release. */
void store_hold(struct store *st);
void store_release(struct store *st);
/* Whether entries are archived before deletion (archive on and open). */
bool store_archiving(const struct store *st);
/* Archive records reach the disk through the store's worker thread, one
 * commit at a time, at most one per STORE_SYNC_INTERVAL; the records
 * handed over while a commit runs share the next one (group commit).
 *
 * Called on the loop once the records of generation gen and every earlier
 * one are written and synced (ok), or once gen's commit failed (nothing
 * of gen is durable; err says why). */
typedef void store_synced_fn(void *arg, uint64_t gen, bool ok, const char *err);
/* Hands a batch of records over (emptying it) and asks for them to be
 * made durable: fn(arg, ...) follows on the loop.  Returns the batch's
 * generation. */
uint64_t store_sync(struct store *st, struct archive_batch *b, store_synced_fn *fn, void *arg);
/* Forgets every callback for arg (its chunks are gone). */
void store_sync_cancel(struct store *st, void *arg);

void store_stats(const struct store *st, struct shard_stats *stats);

#endif
