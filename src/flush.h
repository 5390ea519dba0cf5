/* flush: one flush cycle of a shard: up to N of the oldest entries, taken
 * from the ledger head and deleted in chunks (archived first, then
 * compare-and-delete; or a multi-key UNLINK with archive = no), up to
 * FLUSH_DEPTH (FLUSH_ARCHIVE_DEPTH) chunks in flight, paced by a budget of
 * the server's time (flush_server_budget) and an optional cap on entries
 * per second (flush_max_entries_per_sec): see pace.h. */
#ifndef GCS_FLUSH_H
#define GCS_FLUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "ledger.h"
#include "stats.h"

struct event_base;
struct conn;
struct ledger;
struct flush;

/* Keys per UNLINK: about 1 ms of server time for small values, and a
 * round trip amortised over many keys. */
#define FLUSH_CHUNK_MAX 1000
/* With the archive each key is dumped twice (and a large one hashed):
 * smaller chunks keep a chunk's server time near 1 ms. */
#define FLUSH_ARCHIVE_CHUNK_MAX 200
/* Chunks in flight at once: the server deletes one while the next is on
 * its way.  With the archive, more: chunks wait for the group commit. */
#define FLUSH_DEPTH 4
#define FLUSH_ARCHIVE_DEPTH 16
/* The compare-and-delete compares a DUMP payload up to this size with the
 * archived one directly, and a larger one by SHA-1. */
#define FLUSH_CMP_INLINE_MAX 256
struct flush_result {
	uint64_t requested;
	uint64_t flushed;	/* UNLINK said it removed them */
	uint64_t already_gone;	/* deleted by someone else first */
	uint64_t chunks;
	double seconds;
	const char *error;	/* NULL, or why the cycle stopped early */
};

typedef void flush_done_fn(void *arg, const struct flush_result *r);

/* The counters flush keeps for status (their meaning: stats.h). */
#define FLUSH_COUNTERS(X) \
	X(flushed_entries_total) \
	X(already_gone_total) \
	X(flush_cycles_total) \
	X(last_flush_entries) \
	X(archived_entries_total) \
	X(changed_total)

struct store;

/* Copied by flush_set_params; they apply from the next cycle. */
struct flush_params {
	const char *name;		/* the shard's: in archive records and the log */
	uint32_t db;			/* in archive records */
	uint64_t max_per_sec;		/* a cap; 0: none */
	/* A cluster node's: the entries it may take (its slots).  With it, a
	 * chunk sends one command per slot (no command crosses a slot).  NULL:
	 * every entry, one command a chunk. */
	ledger_want_fn *want;
	void *want_arg;
};

/* A reply said the keys live elsewhere now (MOVED, ASK, TRYAGAIN,
 * READONLY, CLUSTERDOWN): the chunk's keys went back; the owner should
 * read the topology again. */
typedef void flush_redirect_fn(void *arg, const char *err);

/* Entries come from ledger's head and are archived through store (when it
 * archives); conn is the command connection, whose loss aborts a cycle. */
struct flush *flush_new(struct event_base *base, struct conn *conn, struct ledger *ledger, struct store *store,
			flush_redirect_fn *redirected, void *arg);
void flush_set_params(struct flush *f, const struct flush_params *p);
void flush_free(struct flush *f);

/* Starts a cycle of up to n entries, its commands keeping the server busy
 * at most budget of the time (0: no budget; the policy's effective
 * flush_server_budget).  Returns -1 with *why when one is already running.
 * done is called once, when the cycle ends. */
int flush_start(struct flush *f, uint64_t n, double budget, flush_done_fn *done, void *arg, const char **why);
bool flush_running(const struct flush *f);
/* For hold mode, which re-decides at every reading.  deletes_sent: entries
 * whose deleting command (UNLINK, compare-and-delete) has been sent, ever;
 * a reading sent after them on the same connection sees them gone.
 * pending: entries the running cycle will still delete and has not sent
 * such a command for (0 when none runs or it is stopping). */
void flush_progress(const struct flush *f, uint64_t *deletes_sent, uint64_t *pending);
/* The running cycle is to leave `pending` entries still to delete, as
 * flush_progress counts them: fewer ends it sooner (no error; chunks
 * already taken still settle), more extends it.  -1 when no cycle runs
 * or it is stopping. */
int flush_retarget(struct flush *f, uint64_t pending);
/* Cycles are logged at debug rather than info (hold mode runs up to ten a
 * second); a cycle that stops on an error is still logged at info. */
void flush_set_quiet(struct flush *f, bool quiet);
/* Ends the cycle after the chunk in flight (pause). */
void flush_stop(struct flush *f, const char *why);
/* The connection is gone (flush hears of it by itself, through
 * conn_on_lost): the chunks in flight go back to the ledger and the cycle
 * ends now with an error. */
void flush_abort(struct flush *f, const char *why);

void flush_stats(const struct flush *f, struct shard_stats *st);

#endif
