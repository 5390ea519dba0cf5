/* ledger_log: the ledger's persisted log, the file "GCSLEDG1" in
 * state_dir: opening and replaying it, appending records, flushing them,
 * and rewriting it from the live entries (compaction).  The format is
 * described at the top of ledger_log.c.
 *
 * It owns the file and nothing else: it never sees the ledger's list or
 * index.  Records reach the ledger only through the replay callback, and a
 * rewrite pulls the entries to write through the next callback.  That
 * narrow seam is where the flush and the rewrite can move to a worker
 * thread (issue 13): a worker would need a snapshot behind `next` and the
 * appends queued meanwhile, and nothing on this side of it.  Not thread
 * safe today: every call runs on the caller's thread. */
#ifndef GCS_LEDGER_LOG_H
#define GCS_LEDGER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger_log;

/* One replayed record: add (created again, or for the first time) or
 * delete key. */
typedef void ledger_log_replay_fn(void *arg, bool add, uint32_t created, const char *key, size_t klen);
/* The next entry a rewrite writes, oldest first; false after the last. */
typedef bool ledger_log_next_fn(void *arg, uint32_t *created, const char **key, size_t *klen);

/* Opens (creating) the log at path and calls fn for each whole record in
 * order; a torn tail is cut off and *cut says how many bytes (0: none).
 * NULL with *err on an I/O error or a file that is not a ledger. */
struct ledger_log *ledger_log_open(const char *path, ledger_log_replay_fn *fn, void *arg, long *cut, char **err);
/* Closes the file; records appended but not flushed are written first,
 * as stdio does, without reporting an error. */
void ledger_log_close(struct ledger_log *g);

/* Appends a record to the buffer; ledger_log_flush writes it. */
void ledger_log_add(struct ledger_log *g, uint32_t created, const char *key, size_t klen);
void ledger_log_del(struct ledger_log *g, const char *key, size_t klen);
/* Writes the buffered records.  -1 with *err on an I/O error. */
int ledger_log_flush(struct ledger_log *g, char **err);

/* Whether the log has grown well past `live` entries, so that a rewrite
 * would pay for itself. */
bool ledger_log_bloated(const struct ledger_log *g, size_t live);
/* Writes a new log holding an add for each entry next yields, in order,
 * and replaces the current one with it.  On failure (-1, *err) the current
 * log stays as it was and goes on being appended to. */
int ledger_log_rewrite(struct ledger_log *g, ledger_log_next_fn *next, void *arg, char **err);

#endif
