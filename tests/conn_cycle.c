/* conn-cycle: opens and drops a connection (src/conn.c) N times, every way
 * a connection ends, and checks that none leaves memory behind.
 *
 * usage: conn-cycle CONFIG GOOD_SHARD BAD_SHARD N
 *
 * GOOD_SHARD must connect; BAD_SHARD must fail (a certificate that does
 * not verify, a socket that is not there).  Cycle i, by i % 4:
 *   0  ready, PING, then conn_close: our own drop;
 *   1  ready, QUIT: the server closes, a loss;
 *   2  BAD_SHARD: the connection fails before it is ready;
 *   3  ready, SUBSCRIBE, the confirmation, then conn_close.
 * Reopening happens from a zero-delay event, as the daemon's backoff timer
 * does, never inside the conn's callbacks.
 *
 * Prints the heap in use (mallinfo2) after the first 10% of the cycles and
 * after the last, and exits 1 if it grew by more than GROWTH_MAX, or on any
 * unexpected event; under ASan, LeakSanitizer checks what is left at exit.
 * Exit status 2 on a usage error.
 *
 * Run it with GLIBC_TUNABLES=glibc.malloc.tcache_count=0: glibc's
 * per-thread cache keeps freed blocks that mallinfo2 counts as in use, and
 * fills up over the first ~1500 cycles (up to ~200 KB here) as blocks of
 * every size class come and go; without it the figure is flat from the
 * first cycles on (measured: the same bytes after 200, 1000 and 3000). */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "conf.h"
#include "conn.h"
#include "log.h"
#include "util.h"

#define GROWTH_MAX (16 * 1024)	/* allocator slack: far below 16 bytes a cycle */
#define DEADLINE_SECS 300

struct cycle {
	struct event_base *base;
	struct conn *good, *bad;
	struct event *next, *deadline;
	int i, n;
	int failed;
	size_t heap_warm, heap_end;	/* after 10% of the cycles, after all */
	int losses_seen;
};

static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

static void die(struct cycle *cy, const char *what)
{
	fprintf(stderr, "conn-cycle: cycle %d: %s\n", cy->i, what);
	cy->failed = 1;
	event_base_loopbreak(cy->base);
}

/* The next cycle, from outside the conn's callbacks. */
static void done(struct cycle *cy)
{
	cy->i++;
	if (cy->i == cy->n / 10)
		cy->heap_warm = heap_in_use();
	if (cy->i == cy->n) {
		cy->heap_end = heap_in_use();
		event_base_loopbreak(cy->base);
	}
	else
		event_active(cy->next, EV_TIMEOUT, 0);
}

static void on_pong(void *owner, redisReply *r, void *arg)
{
	struct cycle *cy = owner;

	(void)arg;
	if (r->type != REDIS_REPLY_STATUS)
		die(cy, "PING: not a status reply");
	conn_close(cy->good, "done");
	done(cy);
}

static void on_quit(void *owner, redisReply *r, void *arg)
{
	(void)owner;
	(void)r;
	(void)arg;
	/* The server's close follows, as a loss. */
}

static void on_message(void *owner, redisReply *r, void *arg)
{
	struct cycle *cy = owner;

	(void)arg;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "subscribe") == 0) {
		conn_subscribed(cy->good);
		conn_close(cy->good, "done");
		done(cy);
	}
}

static void on_ready(void *owner, struct conn *c)
{
	struct cycle *cy = owner;
	static const char *sub[] = {"SUBSCRIBE", "conn-cycle"};

	if (c == cy->bad) {
		die(cy, "BAD_SHARD connected, but it must fail");
		return;
	}
	switch (cy->i % 4) {
	case 0:
		conn_send(c, on_pong, NULL, "PING");
		break;
	case 1:
		conn_send(c, on_quit, NULL, "QUIT");
		break;
	default:
		conn_subscribe(c, on_message, NULL, 2, sub);
		break;
	}
}

static void on_lost(void *arg, const struct conn_loss *loss)
{
	struct cycle *cy = arg;
	int want = cy->i % 4;

	if (loss->closed)
		return;	/* ours: the cycle went on already */
	cy->losses_seen++;
	if (want == 1 || want == 2)
		done(cy);
	else
		die(cy, loss->msg);
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
	struct cycle *cy = arg;

	(void)fd;
	(void)what;
	conn_open(cy->i % 4 == 2 ? cy->bad : cy->good);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	die(arg, "no progress within DEADLINE_SECS");
}

static struct conn *new_conn(struct cycle *cy, struct evdns_base *dns, const struct conf *conf, const char *name)
{
	const struct shard_conf *sc = conf_shard_find(conf, name);
	struct conn_params p;
	struct conn *c;

	if (sc == NULL) {
		fprintf(stderr, "conn-cycle: no [shard:%s] in the config\n", name);
		exit(2);
	}
	c = conn_new(cy->base, dns, on_ready, cy);
	conn_on_lost(c, on_lost, cy);
	conn_params_from_conf(&p, sc);
	conn_set_params(c, &p);
	return c;
}

int main(int argc, char **argv)
{
	struct cycle cy = {0};
	struct buf errors;
	struct conf *conf;
	struct evdns_base *dns;

	if (argc != 5 || (cy.n = atoi(argv[4])) < 10) {
		fprintf(stderr, "usage: conn-cycle CONFIG GOOD_SHARD BAD_SHARD N (N >= 10)\n");
		return 2;
	}
	log_init();
	buf_init(&errors);
	if ((conf = conf_load(argv[1], &errors)) == NULL) {
		fprintf(stderr, "%s", errors.data);
		return 2;
	}
	buf_free(&errors);
	cy.base = event_base_new();
	dns = evdns_base_new(cy.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	cy.good = new_conn(&cy, dns, conf, argv[2]);
	cy.bad = new_conn(&cy, dns, conf, argv[3]);
	conf_free(conf);	/* the conns hold copies */
	cy.next = event_new(cy.base, -1, 0, on_next, &cy);
	cy.deadline = evtimer_new(cy.base, on_deadline, &cy);
	{
		struct timeval tv = {DEADLINE_SECS, 0};

		event_add(cy.deadline, &tv);
	}
	event_active(cy.next, EV_TIMEOUT, 0);
	event_base_dispatch(cy.base);
	conn_close(cy.good, "end");
	conn_close(cy.bad, "end");
	event_base_loop(cy.base, EVLOOP_NONBLOCK);	/* the reap events */
	printf("%d cycles, %d losses; heap in use %zu bytes after %d cycles, %zu after %d\n", cy.i,
	       cy.losses_seen, cy.heap_warm, cy.n / 10, cy.heap_end, cy.n);
	if (!cy.failed && cy.heap_end > cy.heap_warm + GROWTH_MAX) {
		fprintf(stderr, "conn-cycle: the heap grew by %zu bytes over %d cycles\n", cy.heap_end - cy.heap_warm,
			cy.n - cy.n / 10);
		cy.failed = 1;
	}
	conn_free(cy.good);
	conn_free(cy.bad);
	event_free(cy.next);
	event_free(cy.deadline);
	evdns_base_free(dns, 0);
	event_base_free(cy.base);
	return cy.failed;
}
