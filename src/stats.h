/* stats: every field of a shard's status, defined once.
 *
 * SHARD_STATS lists each field with its kind and meaning.  The parts of a
 * shard fill a struct shard_stats (each its own fields: shard, tick,
 * track, flush, store), and status.c renders it; the Prometheus metrics
 * and the documentation check walk the same list.  A field is added here
 * and filled by its owner, nowhere else.
 *
 * Kinds: TEXT (NULL shows as null), COUNTER (only grows), UINT (a gauge),
 * UINT_OPT (a gauge; STATS_UNKNOWN shows as null), REAL (a gauge or a
 * time in seconds, shown to the millisecond; NaN shows as null), BOOL. */
#ifndef GCS_STATS_H
#define GCS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHARD_STATS(X) \
	X(name, TEXT, "the shard's name, from its [shard:NAME] section") \
	X(address, TEXT, "the address it connects to") \
	X(db, UINT, "the database number") \
	X(state, TEXT, "connected, connecting, down or error") \
	X(paused, BOOL, "flushing is paused (gcs-flushctl pause)") \
	X(used_memory, UINT_OPT, "used_memory of the last INFO memory reading, bytes") \
	X(used_memory_age_s, REAL, "seconds since that reading") \
	X(flush_when_at_least_bytes, UINT, "the effective threshold") \
	X(flush_period_secs, REAL, "the effective period") \
	X(flush_num_entries_each_time, UINT, "the effective entries per flush") \
	X(over_threshold, BOOL, "the last reading is at or above the threshold") \
	X(tracked_entries, UINT, "entries in the ledger") \
	X(oldest_entry_age_s, REAL, "seconds since the oldest tracked entry was created") \
	X(ledger_bytes, UINT, "daemon memory the ledger uses") \
	X(flushed_entries_total, COUNTER, "entries deleted by flush cycles") \
	X(already_gone_total, COUNTER, "entries already deleted by someone else when their turn came") \
	X(flush_cycles_total, COUNTER, "flush cycles run, forced ones included") \
	X(last_flush_entries, UINT, "entries deleted by the last cycle") \
	X(archived_entries_total, COUNTER, "entries written to the archive (before their deletion)") \
	X(archive_syncs_total, COUNTER, "archive fdatasyncs, one per group commit") \
	X(changed_total, COUNTER, "entries left in Redis because they changed between archive and delete") \
	X(last_flush_unix, REAL, "when the last cycle ended, unix seconds") \
	X(flushing, BOOL, "a flush cycle is running") \
	X(flush_entries_per_sec, REAL, "the pace of the running or last flush cycle: entries taken per second") \
	X(flush_server_share, REAL, "the share of the server's time its commands took, from their round trips") \
	X(archive_bytes, UINT, "bytes in the shard's archive segments") \
	X(archive_segments, UINT, "archive segment files") \
	X(archive_oldest_unix, REAL, "when the oldest archived record was flushed, unix seconds") \
	X(archive_blocked, BOOL, "archiving fails, so nothing is flushed") \
	X(reconcile_state, TEXT, "pending, running or done") \
	X(reconcile_runs_total, COUNTER, "reconciliations started") \
	X(reconcile_added_total, COUNTER, "keys reconciliations added to the ledger") \
	X(events_total, COUNTER, "keyspace events received") \
	X(last_error, TEXT, "the last error, or null") \
	X(last_error_unix, REAL, "when it happened, unix seconds") \
	X(connects_total, COUNTER, "connections that completed the handshake and subscription") \
	X(connect_failures_total, COUNTER, "connection attempts or connections that failed") \
	X(ticks_total, COUNTER, "INFO memory readings taken")

#define STATS_UNKNOWN UINT64_MAX	/* a UINT_OPT not known (yet) */

#define STATS_CTYPE_TEXT const char *
#define STATS_CTYPE_COUNTER uint64_t
#define STATS_CTYPE_UINT uint64_t
#define STATS_CTYPE_UINT_OPT uint64_t
#define STATS_CTYPE_REAL double
#define STATS_CTYPE_BOOL bool

/* A snapshot; its strings belong to the shard and live until its next
 * change, so render it at once. */
struct shard_stats {
#define X(field, kind, doc) STATS_CTYPE_##kind field;
	SHARD_STATS(X)
#undef X
};

enum stats_kind { STATS_TEXT, STATS_COUNTER, STATS_UINT, STATS_UINT_OPT, STATS_REAL, STATS_BOOL };

/* The list as data, for code that walks it (rendering, metrics). */
struct stats_field {
	const char *name;
	enum stats_kind kind;
	size_t offset;
	const char *doc;
};
extern const struct stats_field stats_fields[];
extern const size_t stats_nfields;

/* Starts a snapshot with every field unknown (null or zero). */
void stats_init(struct shard_stats *st);
/* Adds from's COUNTER fields to to's: a shard's totals over its nodes. */
void stats_add_counters(struct shard_stats *to, const struct shard_stats *from);

#endif
