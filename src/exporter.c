/* exporter: /metrics for the daemon (see exporter.h).  It owns the
 * listener's life across reloads and what a scrape collects: a snapshot
 * of every shard (and of each node of a cluster or Sentinel shard), and
 * the process's own figures.
 * How the text looks is metrics.c's; HTTP is http.c's. */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "exporter.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "shard.h"

struct exporter {
	struct daemon *d;
	struct http *http;
	char *addr;		/* what http listens on; "" for nothing */
};

/* From /proc/self, which the unit's ProcSubset=pid still shows; NaN when
 * it cannot be read. */
static double resident_bytes(void)
{
	unsigned long long size, rss;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (f == NULL)
		return NAN;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : NAN;
}

static double open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	double n = -1;		/* the directory's own descriptor */

	if (dir == NULL)
		return NAN;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void on_scrape(void *arg, struct buf *body)
{
	struct exporter *e = arg;
	struct daemon *d = e->d;
	struct daemon_stats ds = {PACKAGE_VERSION, 1, d->start_unix, resident_bytes(), open_fds()};
	size_t max = 0, n = 0;
	struct shard_stats *st;
	struct metrics_series *series;

	for (size_t i = 0; i < d->nshards; i++)
		max += shard_nseries(d->shards[i]);
	st = xcalloc(max ? max : 1, sizeof(*st));
	series = xcalloc(max ? max : 1, sizeof(*series));
	for (size_t i = 0; i < d->nshards; i++)
		n += shard_series(d->shards[i], st + n, series + n);
	metrics_render(body, &ds, series, n);
	free(series);
	free(st);
}

struct exporter *exporter_new(struct daemon *d)
{
	struct exporter *e = xcalloc(1, sizeof(*e));

	e->d = d;
	e->addr = xstrdup("");
	return e;
}

static int open_on(struct exporter *e, const char *addr, char **err)
{
	char *why = NULL;

	e->http = http_open(e->d->base, addr, "/metrics", METRICS_CONTENT_TYPE, on_scrape, e, &why);
	if (e->http == NULL) {
		*err = xasprintf("metrics_listen: %s", why);
		free(why);
		return -1;
	}
	log_info("metrics: serving http://%s/metrics", addr);
	return 0;
}

int exporter_listen(struct exporter *e, const char *addr, char **err)
{
	char *again = NULL;

	if (strcmp(addr, e->addr) == 0)
		return 0;
	/* Close first: the new address may overlap the old one's port. */
	http_close(e->http);
	e->http = NULL;
	if (*addr == '\0' || open_on(e, addr, err) == 0) {
		if (*addr == '\0')
			log_info("metrics: no longer served");
		free(e->addr);
		e->addr = xstrdup(addr);
		return 0;
	}
	if (*e->addr != '\0' && open_on(e, e->addr, &again) < 0) {
		log_error("metrics: cannot listen on %s again: %s", e->addr, again);
		free(again);
		free(e->addr);
		e->addr = xstrdup("");
	}
	return -1;
}

void exporter_free(struct exporter *e)
{
	if (e == NULL)
		return;
	http_close(e->http);
	free(e->addr);
	free(e);
}
