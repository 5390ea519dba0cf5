/* worker: a background thread for slow disk work (see worker.h).
 *
 * The queue is a list under a mutex; the thread sleeps on a condition
 * variable while it is empty.  A finished job moves to a second list and
 * the thread writes to an eventfd, which the loop watches: the loop's
 * callback takes the finished list and calls each job's done callback.
 * The eventfd counts, so several jobs finishing between two turns of the
 * loop are one wake-up.
 *
 * The thread blocks every signal: libevent's signal events are the loop's,
 * and a signal handler must not run on a thread that holds the queue's
 * lock. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "worker.h"

/* Enough for fdatasync, rename and a few buffers; the default 8 MiB of
 * address space per thread would show in the many-shards RSS figures only
 * as VSZ, but there is no reason to reserve it. */
#define WORKER_STACK (256u << 10)

struct item {
	struct item *next;
	void *job;
	worker_work_fn *work;
	worker_done_fn *done;
};

struct list {
	struct item *head, *tail;
};

struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* the thread: work arrived, or stop */
	pthread_cond_t idle;		/* worker_drain: a job finished */
	struct list todo, finished;	/* under lock */
	bool busy;			/* under lock: the thread is running a job */
	bool stop;			/* under lock */
	int efd;
	struct event *ev;
	size_t pending;			/* the loop's: submitted, done not yet called */
};

static void list_push(struct list *l, struct item *it)
{
	it->next = NULL;
	if (l->tail != NULL)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
}

static struct item *list_take(struct list *l)
{
	struct item *all = l->head;

	l->head = l->tail = NULL;
	return all;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct item *it;

		while (w->todo.head == NULL && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->todo.head == NULL)
			break;	/* stopping, and nothing left */
		it = w->todo.head;
		w->todo.head = it->next;
		if (w->todo.head == NULL)
			w->todo.tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&w->lock);

		it->work(it->job);

		pthread_mutex_lock(&w->lock);
		w->busy = false;
		list_push(&w->finished, it);
		pthread_cond_broadcast(&w->idle);
		/* The counter cannot overflow in practice, and a failed write
		 * would only delay the callbacks until the next job's.  No
		 * logging here: the log is the loop's. */
		(void)!write(w->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Calls the done callbacks of the finished jobs, in order. */
static void reap(struct worker *w)
{
	struct item *it, *next;

	pthread_mutex_lock(&w->lock);
	it = list_take(&w->finished);
	pthread_mutex_unlock(&w->lock);
	for (; it != NULL; it = next) {
		next = it->next;
		w->pending--;
		it->done(it->job);
		free(it);
	}
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("worker: eventfd read: %s", strerror(errno));
	reap(arg);
}

struct worker *worker_new(struct event_base *base, const char *name)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	pthread_attr_t attr;
	sigset_t all, old;
	char tname[16];
	int rc;

	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		abort();	/* out of file descriptors at a shard's start */
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_finished, w);
	if (w->ev == NULL || event_add(w->ev, NULL) < 0)
		abort();
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* inherited by the thread */
	rc = pthread_create(&w->thread, &attr, run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_error("cannot start a worker thread: %s", strerror(rc));
		abort();
	}
	snprintf(tname, sizeof(tname), "io:%s", name);
	pthread_setname_np(w->thread, tname);
	return w;
}

void worker_submit(struct worker *w, void *job, worker_work_fn *work, worker_done_fn *done)
{
	struct item *it = xmalloc(sizeof(*it));

	it->job = job;
	it->work = work;
	it->done = done;
	w->pending++;
	pthread_mutex_lock(&w->lock);
	list_push(&w->todo, it);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void worker_drain(struct worker *w)
{
	/* A done callback may submit the next job: go on until none is left. */
	while (w->pending > 0) {
		pthread_mutex_lock(&w->lock);
		while (w->todo.head != NULL || w->busy)
			pthread_cond_wait(&w->idle, &w->lock);
		pthread_mutex_unlock(&w->lock);
		reap(w);
	}
}

size_t worker_pending(const struct worker *w)
{
	return w->pending;
}

void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	worker_drain(w);
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	event_free(w->ev);
	close(w->efd);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
