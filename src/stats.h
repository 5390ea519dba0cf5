/* stats: every field of a shard's status, and every metric, defined once.
 *
 * SHARD_STATS lists each field with its kind, its scope, its Prometheus
 * metric name and its meaning.  The parts of a shard fill a struct
 * shard_stats (each its own fields: shard, node, tick, track, flush,
 * store); status.c renders it as the status JSON, metrics.c as Prometheus
 * text (the doc is the HELP line), and the documentation checks walk the
 * same list.  A field is added here and filled by its owner, nowhere else.
 *
 * Kinds: TEXT (NULL shows as null), COUNTER (only grows), UINT (a gauge),
 * UINT_OPT (a gauge; STATS_UNKNOWN shows as null), REAL (a gauge or a
 * time in seconds, shown to the millisecond; NaN shows as null), BOOL,
 * HIST (a histogram, hist.h; summed over nodes like a counter).
 *
 * Scope: NODE for what each master of a shard has of its own (its
 * connection, memory, policy, flushes, tracking), SHARD for what the
 * logical shard has once (its ledger, its archive).  The status shows a
 * shard's node fields summed (or merged) over its nodes; the metrics of a
 * Redis Cluster or Sentinel shard are one series per node for the NODE
 * fields and one per shard for the SHARD ones, so that sum() counts
 * everything once.
 *
 * The metric is NOLABEL ("not a metric": text, and numbers that only
 * identify, such as db) or gcs_flushd_NAME in Prometheus's conventions:
 * base units (_bytes, _seconds), _total for counters (and only for them),
 * _time_seconds for a time since the epoch.  Its type follows from the
 * kind: counter, histogram, or gauge (BOOL is 0 or 1).  A value that is
 * unknown (null in JSON) is no sample at all. */
#ifndef GCS_STATS_H
#define GCS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define NOMETRIC NULL

#define SHARD_STATS(X) \
	X(name, TEXT, SHARD, NOMETRIC, "the shard's name, from its [shard:NAME] section") \
	X(address, TEXT, SHARD, NOMETRIC, "the address it connects to") \
	X(db, UINT, SHARD, NOMETRIC, "the database number") \
	X(state, TEXT, NODE, NOMETRIC, "connected, connecting, down or error") \
	X(up, BOOL, NODE, "gcs_flushd_shard_up", "1 while connected (state connected), else 0") \
	X(paused, BOOL, NODE, "gcs_flushd_paused", "flushing is paused (gcs-flushctl pause)") \
	X(used_memory, UINT_OPT, NODE, "gcs_flushd_used_memory_bytes", "used_memory of the last INFO memory reading, bytes") \
	X(used_memory_age_s, REAL, NODE, "gcs_flushd_used_memory_age_seconds", "seconds since the last INFO memory reading") \
	X(flush_when_at_least_bytes, UINT, NODE, "gcs_flushd_flush_threshold_bytes", "the effective threshold") \
	X(flush_period_secs, REAL, NODE, "gcs_flushd_flush_period_seconds", "the effective period") \
	X(flush_num_entries_each_time, UINT, NODE, "gcs_flushd_flush_batch_entries", "the effective entries per flush") \
	X(over_threshold, BOOL, NODE, "gcs_flushd_over_threshold", "the last reading is at or above the threshold") \
	X(flush_mode, TEXT, NODE, NOMETRIC, "the effective flush mode: batch or hold") \
	X(hold_bytes_per_entry, REAL, NODE, "gcs_flushd_hold_entry_bytes", \
	  "hold: bytes an entry about to be flushed holds (MEMORY USAGE), or null") \
	X(hold_growth_bytes_per_s, REAL, NODE, "gcs_flushd_hold_growth_bytes_per_second", \
	  "hold: how fast used_memory grows besides the flushing, bytes/s") \
	X(hold_lazyfree_bytes, REAL, NODE, "gcs_flushd_hold_lazyfree_bytes", \
	  "hold: bytes Redis was still freeing at the last reading, taken off it") \
	X(hold_last_correction_entries, REAL, NODE, "gcs_flushd_hold_last_correction_entries", \
	  "hold: entries the last correction added (< 0: took off) the flush") \
	X(hold_last_correction_bytes, REAL, NODE, "gcs_flushd_hold_last_correction_bytes", \
	  "hold: how far over the line it predicted memory then, bytes") \
	X(hold_last_correction_unix, REAL, NODE, "gcs_flushd_hold_last_correction_time_seconds", \
	  "hold: when the last correction was made, unix seconds") \
	X(hold_capped, BOOL, NODE, "gcs_flushd_hold_capped", "hold: the last reading wanted more than the caps allow") \
	X(hold_capped_total, COUNTER, NODE, "gcs_flushd_hold_capped_total", \
	  "hold: readings whose correction the caps cut short") \
	X(tracked_entries, UINT, SHARD, "gcs_flushd_tracked_entries", "entries in the ledger") \
	X(oldest_entry_age_s, REAL, SHARD, "gcs_flushd_oldest_entry_age_seconds", \
	  "seconds since the oldest tracked entry was created") \
	X(ledger_bytes, UINT, SHARD, "gcs_flushd_ledger_bytes", "daemon memory the ledger uses") \
	X(flushed_entries_total, COUNTER, NODE, "gcs_flushd_flushed_entries_total", "entries deleted by flush cycles") \
	X(already_gone_total, COUNTER, NODE, "gcs_flushd_already_gone_total", \
	  "entries already deleted by someone else when their turn came") \
	X(flush_cycles_total, COUNTER, NODE, "gcs_flushd_flush_cycles_total", "flush cycles run, forced ones included") \
	X(last_flush_entries, UINT, NODE, "gcs_flushd_last_flush_entries", "entries deleted by the last cycle") \
	X(archived_entries_total, COUNTER, NODE, "gcs_flushd_archived_entries_total", \
	  "entries written to the archive (before their deletion)") \
	X(archive_syncs_total, COUNTER, SHARD, "gcs_flushd_archive_syncs_total", "archive fdatasyncs, one per group commit") \
	X(changed_total, COUNTER, NODE, "gcs_flushd_changed_total", \
	  "entries left in Redis because they changed between archive and delete") \
	X(last_flush_unix, REAL, NODE, "gcs_flushd_last_flush_time_seconds", "when the last cycle ended, unix seconds") \
	X(flushing, BOOL, NODE, "gcs_flushd_flushing", "a flush cycle is running") \
	X(flush_entries_per_sec, REAL, NODE, "gcs_flushd_flush_entries_per_second", \
	  "the pace of the running or last flush cycle: entries taken per second") \
	X(flush_server_share, REAL, NODE, "gcs_flushd_flush_server_share", \
	  "the share of the server's time its commands took, from their round trips") \
	X(flush_cycle_duration_s, HIST, NODE, "gcs_flushd_flush_cycle_duration_seconds", \
	  "how long flush cycles took, forced ones included") \
	X(chunk_roundtrip_s, HIST, NODE, "gcs_flushd_chunk_roundtrip_seconds", \
	  "send to reply of each chunk command (UNLINK, or a slot group's DUMPs and PTTLs, and the compare-and-delete script)") \
	X(archive_bytes, UINT, SHARD, "gcs_flushd_archive_bytes", "bytes in the shard's archive segments") \
	X(archive_segments, UINT, SHARD, "gcs_flushd_archive_segments", "archive segment files") \
	X(archive_oldest_unix, REAL, SHARD, "gcs_flushd_archive_oldest_time_seconds", \
	  "when the oldest archived record was flushed, unix seconds") \
	X(archive_blocked, BOOL, SHARD, "gcs_flushd_archive_blocked", "archiving fails, so nothing is flushed") \
	X(reconcile_state, TEXT, NODE, NOMETRIC, "pending, running or done") \
	X(reconciling, BOOL, NODE, "gcs_flushd_reconciling", "a reconciliation is running (reconcile_state running)") \
	X(reconcile_started_unix, REAL, NODE, "gcs_flushd_reconcile_start_time_seconds", \
	  "when the running or last reconciliation started, unix seconds") \
	X(reconcile_runs_total, COUNTER, NODE, "gcs_flushd_reconcile_runs_total", "reconciliations started") \
	X(reconcile_added_total, COUNTER, NODE, "gcs_flushd_reconcile_added_total", \
	  "keys reconciliations added to the ledger") \
	X(events_total, COUNTER, NODE, "gcs_flushd_keyspace_events_total", "keyspace events received") \
	X(last_error, TEXT, NODE, NOMETRIC, "the last error, or null") \
	X(last_error_unix, REAL, NODE, "gcs_flushd_last_error_time_seconds", "when the last error happened, unix seconds") \
	X(connects_total, COUNTER, NODE, "gcs_flushd_connects_total", \
	  "connections that completed the handshake and subscription") \
	X(connect_failures_total, COUNTER, NODE, "gcs_flushd_connect_failures_total", \
	  "connection attempts or connections that failed") \
	X(ticks_total, COUNTER, NODE, "gcs_flushd_ticks_total", "INFO memory readings taken")

/* The daemon's own metrics, one sample each and no shard label: the
 * version as a label of a constant 1 (the usual _info idiom), and the
 * process metrics every Prometheus client library exports under these
 * names.  Filled by the daemon at each scrape. */
#define DAEMON_METRICS(X) \
	X(build_info, "gcs_flushd_build_info", "always 1; the version label is the daemon's version") \
	X(start_time, "process_start_time_seconds", "when the daemon started, unix seconds") \
	X(resident_memory, "process_resident_memory_bytes", "the daemon's resident memory, bytes") \
	X(open_fds, "process_open_fds", "file descriptors the daemon has open")

#define STATS_UNKNOWN UINT64_MAX	/* a UINT_OPT not known (yet) */

#define STATS_CTYPE_TEXT const char *
#define STATS_CTYPE_COUNTER uint64_t
#define STATS_CTYPE_UINT uint64_t
#define STATS_CTYPE_UINT_OPT uint64_t
#define STATS_CTYPE_REAL double
#define STATS_CTYPE_BOOL bool
#define STATS_CTYPE_HIST struct hist

/* A snapshot; its strings belong to the shard and live until its next
 * change, so render it at once. */
struct shard_stats {
#define X(field, kind, scope, metric, doc) STATS_CTYPE_##kind field;
	SHARD_STATS(X)
#undef X
};

/* The daemon's metrics at one scrape (NaN: unknown, no sample). */
struct daemon_stats {
	const char *version;	/* build_info's label */
#define X(field, metric, doc) double field;
	DAEMON_METRICS(X)
#undef X
};

enum stats_kind { STATS_TEXT, STATS_COUNTER, STATS_UINT, STATS_UINT_OPT, STATS_REAL, STATS_BOOL, STATS_HIST };
enum stats_scope { STATS_SHARD = 1, STATS_NODE = 2 };

/* The lists as data, for code that walks them (rendering, metrics, the
 * documentation checks). */
struct stats_field {
	const char *name;
	enum stats_kind kind;
	enum stats_scope scope;
	size_t offset;
	const char *metric;	/* NULL: not a metric */
	const char *doc;
};
extern const struct stats_field stats_fields[];
extern const size_t stats_nfields;

struct daemon_metric {
	const char *metric;
	size_t offset;		/* of its double in struct daemon_stats */
	const char *doc;
};
extern const struct daemon_metric daemon_metrics[];
extern const size_t daemon_nmetrics;

/* "counter", "gauge" or "histogram"; NULL for a field that is no metric. */
const char *stats_metric_type(const struct stats_field *f);

/* Starts a snapshot with every field unknown (null or zero). */
void stats_init(struct shard_stats *st);
/* Adds from's COUNTER and HIST fields to to's: a shard's totals over its
 * nodes. */
void stats_add_counters(struct shard_stats *to, const struct shard_stats *from);

#endif
