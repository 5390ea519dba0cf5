/* worker: a background thread for slow disk work, and a completion event
 * on the loop, as Redis's bio.c does for fsync.
 *
 * Jobs run on the worker's thread one at a time, in the order they were
 * submitted; each job's done callback then runs on the loop, also in
 * order.  A shard's store has its own worker, so one shard's slow disk
 * never queues another's syncs, and the loop only ever learns that a job
 * finished.
 *
 * A job's work function must touch nothing the loop touches meanwhile:
 * it gets a job object of its own, and its results go back through that
 * object to the done callback.  This module owns the thread, the queue
 * and the wake-up; it knows nothing of what a job does. */
#ifndef GCS_WORKER_H
#define GCS_WORKER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct worker;

/* Runs on the worker's thread. */
typedef void worker_work_fn(void *job);
/* Runs on the loop, after work. */
typedef void worker_done_fn(void *job);

/* name: for the thread's name (shortened to what the kernel keeps). */
struct worker *worker_new(struct event_base *base, const char *name);
/* Waits for every job submitted, runs their done callbacks, and stops
 * the thread. */
void worker_free(struct worker *w);

void worker_submit(struct worker *w, void *job, worker_work_fn *work, worker_done_fn *done);
/* Blocks until every job submitted so far has run and its done callback
 * has been called: for the end of a store's life, never on the hot path. */
void worker_drain(struct worker *w);
/* Jobs submitted whose done callback has not run yet. */
size_t worker_pending(const struct worker *w);

#endif
