/* ledger_log: the ledger's persisted log, the file "GCSLEDG1" in
 * state_dir: opening and replaying it, encoding records, the file work
 * that writes, syncs and rewrites it (compaction), handed out as jobs.
 * The format and the guarantees are described at the top of
 * ledger_log.c.
 *
 * It owns the file and nothing else: it never sees the ledger's list or
 * index.  Records reach the ledger only through the replay callback, and
 * a rewrite is fed the entries to write by the ledger.
 *
 * Threads: every call here runs on the owner's thread, except
 * ledger_log_job_run, which may run on any thread while the owner goes on
 * adding records.  One job is out at a time: the owner takes one, has it
 * run, and gives it back with ledger_log_job_done before taking the next. */
#ifndef GCS_LEDGER_LOG_H
#define GCS_LEDGER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger_log;
struct ledger_log_job;

/* One replayed record: add (created again, or for the first time) or
 * delete key. */
typedef void ledger_log_replay_fn(void *arg, bool add, uint32_t created, const char *key, size_t klen);

/* Opens (creating) the log at path and calls fn for each whole record in
 * order; a torn tail is cut off and *cut says how many bytes (0: none).
 * NULL with *err on an I/O error or a file that is not a ledger. */
struct ledger_log *ledger_log_open(const char *path, ledger_log_replay_fn *fn, void *arg, long *cut, char **err);
/* Closes the file.  Records not yet written by a job are dropped: run the
 * jobs first.  No job may be out. */
void ledger_log_close(struct ledger_log *g);

/* Appends a record to the buffer; the next job writes it. */
void ledger_log_add(struct ledger_log *g, uint32_t created, const char *key, size_t klen);
void ledger_log_del(struct ledger_log *g, const char *key, size_t klen);

/* The file work to do now, or NULL when there is none: the buffered
 * records, an fdatasync of the file when sync (and anything was written
 * since the last), and the rewrite's next part.  The caller runs it (on
 * any thread) and gives it back. */
struct ledger_log_job *ledger_log_job_take(struct ledger_log *g, bool sync);
void ledger_log_job_run(struct ledger_log_job *j);
/* Frees j.  -1 with *err on an I/O error (records that could not be
 * written are lost; the file stays whole).  *rewrite_failed: the job
 * ended a rewrite that failed, and the log is the old file still. */
int ledger_log_job_done(struct ledger_log *g, struct ledger_log_job *j, bool *rewrite_failed, char **err);

/* Whether the log has grown well past `live` entries, so that a rewrite
 * would pay for itself (never while one runs). */
bool ledger_log_bloated(const struct ledger_log *g, size_t live);
/* A rewrite: begin, then put every live entry in order (in as many calls
 * and jobs as the owner likes), then fed; the jobs taken meanwhile write
 * the new file and the last puts it in place, after the records added
 * since the beginning.  Abandon drops a rewrite (the ledger was cleared). */
void ledger_log_rewrite_begin(struct ledger_log *g);
void ledger_log_rewrite_put(struct ledger_log *g, uint32_t created, const char *key, size_t klen);
void ledger_log_rewrite_fed(struct ledger_log *g);
void ledger_log_rewrite_abandon(struct ledger_log *g);
bool ledger_log_rewriting(const struct ledger_log *g);
/* Bytes of memory its buffers take. */
size_t ledger_log_memory(const struct ledger_log *g);

#endif
