/* flush_int: what flush.c (the cycle: taking chunks, pacing, waiting for
 * the store's group commit) and chunk.c (one chunk's commands and
 * replies, slot by slot) share, and nobody else may use. */
#ifndef GCS_FLUSH_INT_H
#define GCS_FLUSH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "archive.h"
#include "flush.h"
#include "hist.h"
#include "ledger.h"
#include "pace.h"
#include "util.h"

struct conn;
struct event;
struct store;

struct chunk;

/* A chunk's keys of one slot (or all of them, without slots): in a
 * cluster no command may cross a slot, so a chunk sends one command per
 * group, pipelined, and a step ends when the last group's reply is in. */
struct group {
	struct chunk *c;
	size_t from, to;		/* e[from .. to) */
	double sent;			/* its command's, monotonic: for the round trip */
	size_t got;			/* its DUMP and PTTL replies so far */
	double cpu;			/* the loop's CPU time at the first */
	bool failed;			/* one of them was an error */
};

/* What a step decided for each entry. */
enum fate { KEEP, DONE, BACK, CHANGED };

/* One chunk: its entries, on their way from DUMP to deletion. */
struct chunk {
	struct flush *f;
	struct ledger_entry *e[FLUSH_CHUNK_MAX];
	uint16_t ord[FLUSH_CHUNK_MAX];	/* each entry's place in creation order */
	uint16_t slot[FLUSH_CHUNK_MAX];	/* each entry's hash slot (with slots only) */
	size_t n;
	bool deleting;			/* its UNLINK or compare-and-delete is sent */
	bool unsynced;			/* handed to the store, waiting for the sync */
	bool synced;			/* durable, its compare-and-delete not yet sent */
	uint64_t gen;			/* the store's generation of its records */
	struct archive_batch recs;	/* its records, until handed over */
	struct group g[FLUSH_CHUNK_MAX];
	size_t ngroups;
	size_t due;			/* replies of this step still to come */
	unsigned char fate[FLUSH_CHUNK_MAX];
	uint64_t removed, gone;		/* this step's counts */
	char *error;			/* the first group error of this step */
	/* What the compare-and-delete compares each key's DUMP with: the
	 * archived payload, or its SHA-1; kept for a resend after NOSCRIPT. */
	struct buf cmp;
	size_t cmp_off[FLUSH_CHUNK_MAX], cmp_len[FLUSH_CHUNK_MAX];
	/* The DUMP payloads and PTTLs of the group being answered. */
	struct buf pay;
	size_t pay_off[FLUSH_CHUNK_MAX], pay_len[FLUSH_CHUNK_MAX];
	long long ttl[FLUSH_CHUNK_MAX];
};

struct flush {
	struct event_base *base;
	struct conn *conn;
	struct ledger *ledger;
	struct store *store;
	char *name;
	uint32_t db;
	ledger_want_fn *want;		/* NULL: every entry, one group a chunk */
	void *want_arg;
	struct ledger_entry *cursor;	/* where the cycle's takes resume */
	flush_redirect_fn *redirected;
	void *redirect_arg;
	struct event *next_chunk;

	bool running;
	bool stopping;			/* start no more chunks; finish when none is left */
	bool quiet;			/* log cycles at debug (hold mode runs ten a second) */
	uint64_t deletes_sent;		/* entries whose deleting command was sent, ever */
	uint64_t max_per_sec;
	uint64_t to_take;		/* entries not yet taken into a chunk */
	struct flush_result res;
	char *error;
	double started;			/* monotonic */
	struct pace pace;		/* the current or last cycle's */
	bool step_out;			/* under a budget: a step's commands (or a PING) are out */
	bool probing;			/* the PING is out */
	double probe_sent;
	flush_done_fn *done;
	void *done_arg;

	/* Chunks in flight, oldest first. */
	struct chunk *chunks[FLUSH_ARCHIVE_DEPTH];
	size_t inflight;
	bool archiving;			/* this cycle archives (the store is held) */

#define X(name) uint64_t name;
	FLUSH_COUNTERS(X)
#undef X
	double last_flush_unix;
	struct hist cycle_secs, roundtrip_secs;
};


/* chunk.c: a chunk's life; its commands go out on f->conn. */
struct chunk *chunk_new(struct flush *f);
void chunk_free(struct chunk *c);
/* Sorts the taken entries by slot, groups them, and sends the first step
 * (UNLINK, or DUMP and PTTL of each key when the cycle archives). */
void chunk_send(struct chunk *c);
/* Its records are durable: the compare-and-delete step. */
void chunk_send_cad(struct chunk *c);
/* Puts every entry back at the ledger head, in creation order. */
void chunk_put_back(struct chunk *c);
/* The script's SHA-1, once. */
void chunk_scripts_init(void);

/* flush.c: what a chunk reports. */
/* Counts a settled chunk (gone from the pipeline) and lets the next start. */
void flush_chunk_settled(struct chunk *c, uint64_t removed, uint64_t gone);
/* A chunk's records wait for the group commit. */
void flush_chunk_archived(struct chunk *c, uint64_t gone);

#endif
