/* gcs-flushd: keeps the memory of Redis shards that hold cluster metadata
 * bounded.  main parses the command line, loads the config, wires signals
 * into the event loop and runs it. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"

struct signals {
	struct daemon *d;
	struct event *hup, *term, *intr;
	int stops;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gcs-flushd [-c FILE] [-t] [-V] [-h]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -t       check the configuration and exit\n"
		"  -V       print the version and exit\n"
		"  -h       print this help and exit\n",
		CONF_DEFAULT_PATH);
}

/* Signals arrive as libevent events, so the handlers run in loop context. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct signals *sg = arg;
	char *err = NULL;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading %s", sg->d->conf->path);
		if (daemon_reload(sg->d, NULL, &err) < 0)
			free(err);
		return;
	}
	if (++sg->stops > 1) {
		/* Nothing is ever half-deleted between turns of the loop, so an
		 * immediate exit is still safe. */
		log_notice("second signal: exiting now");
		_exit(0);
	}
	log_notice("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	notify_stopping();
	event_base_loopbreak(sg->d->base);
}

/* glibc raises its mmap threshold to the size of any large block freed
 * (up to 32 MiB), and its trim threshold to twice that: after a burst of
 * keyspace events had grown one buffer to a few MiB, every later block up
 * to that size came from the heap and up to twice that stayed there freed.
 * Measured: after a ledger's keys were deleted and refilled, 5 MB of RSS
 * (a third of the ledger) was free heap.  Fixed thresholds keep large
 * blocks mapped, and freed ones go back. */
static void fixed_malloc_thresholds(void)
{
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 512 * 1024);
#endif
}

static int check_only(const char *path, struct conf *c)
{
	printf("%s: ok, %zu shard%s\n", path, c->nshards, c->nshards == 1 ? "" : "s");
	if (c->nshards == 0)
		printf("%s: note: no [shard:NAME] sections; the daemon would watch nothing\n", path);
	conf_free(c);
	return 0;
}

static int run(struct conf *c)
{
	struct event_base *base = event_base_new();
	struct daemon d;
	struct signals sg = {.d = &d};
	char *err = NULL;
	int rc = 0;

	if (base == NULL) {
		log_error("cannot create the event loop");
		conf_free(c);
		return 1;
	}
	if (daemon_init(&d, base, c, &err) < 0) {
		log_error("%s", err);
		free(err);
		daemon_fini(&d);
		event_base_free(base);
		return 1;
	}
	sg.hup = evsignal_new(base, SIGHUP, on_signal, &sg);
	sg.term = evsignal_new(base, SIGTERM, on_signal, &sg);
	sg.intr = evsignal_new(base, SIGINT, on_signal, &sg);
	event_add(sg.hup, NULL);
	event_add(sg.term, NULL);
	event_add(sg.intr, NULL);
	notify_init(base);
	notify_ready();

	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		rc = 1;
	}

	notify_fini();
	event_free(sg.hup);
	event_free(sg.term);
	event_free(sg.intr);
	daemon_fini(&d);
	event_base_free(base);
	log_notice("stopped");
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH;
	bool test = false;
	struct buf errors;
	struct conf *c;
	int opt;

	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("gcs-flushd %s (systemd: %s)\n", PACKAGE_VERSION, notify_supported() ? "yes" : "no");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init();
	buf_init(&errors);
	c = conf_load(path, &errors);
	if (c == NULL) {
		fputs(errors.data, stderr);
		buf_free(&errors);
		return 1;
	}
	buf_free(&errors);
	if (test)
		return check_only(path, c);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit must fail the archive write (EFBIG), which stops
	 * flushing, rather than kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	fixed_malloc_thresholds();
	return run(c);
}
